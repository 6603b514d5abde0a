// Copy buttons for secrets shown once: <button class="copy-button" data-copy-target="ID">.
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-button");
    if (!button) {
      return;
    }
    event.preventDefault();
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) {
      return;
    }
    copyText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.classList.add("copied");
      button.textContent = "Copied";
      setTimeout(function () {
        button.classList.remove("copied");
        button.textContent = label;
      }, 2000);
    });
  });
})();
