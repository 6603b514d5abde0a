// The group chart: import/export limits (forecast and fallback) and measured power, from the JSON
// in <script id="group-chart-data"> (forecasts.selectors.group_power_chart, the same data as the
// management API's power-series). Chart.js with the luxon adapter (times in the platform's time
// zone) and the zoom plugin (wheel or drag to zoom, shift-drag to pan).
(function () {
  "use strict";
  var canvas = document.getElementById("group-chart");
  var source = document.getElementById("group-chart-data");
  if (!canvas || !source || !window.Chart) {
    return;
  }
  if (window.ChartZoom) {
    window.Chart.register(window.ChartZoom);
  }
  var data = JSON.parse(source.textContent);
  var zone = data.timeZone || "UTC";
  var number = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });

  function ms(text) {
    // "2026-12-02 13:45:00Z" (the management API's timestamps) -> epoch milliseconds.
    return Date.parse(text.replace(" ", "T"));
  }

  // Each limit is a horizontal segment; a null point breaks the line between pieces.
  function steps(quantity, sourceName) {
    var points = [];
    data.limits.forEach(function (limit) {
      if (limit.quantity !== quantity || limit.source !== sourceName) {
        return;
      }
      var last = points.length ? points[points.length - 1] : null;
      if (last && last.x !== ms(limit.start)) {
        points.push({ x: last.x, y: null });
      }
      points.push({ x: ms(limit.start), y: limit.value, reason: limit.reason });
      points.push({ x: ms(limit.end), y: limit.value, reason: limit.reason });
    });
    return points;
  }

  var now = ms(data.now);
  var measured = data.measured.map(function (point) {
    return { x: ms(point.time), y: point.value };
  });
  var datasets = [
    { label: "Import limit (forecast)", data: steps("import", "forecast"), borderColor: "#1f77b4", borderWidth: 3 },
    { label: "Import limit (fallback)", data: steps("import", "fallback"), borderColor: "#ff7f0e", borderWidth: 3,
      borderDash: [6, 3] },
    { label: "Export limit (forecast)", data: steps("export", "forecast"), borderColor: "#17becf", borderWidth: 3 },
    { label: "Export limit (fallback)", data: steps("export", "fallback"), borderColor: "#e377c2", borderWidth: 3,
      borderDash: [6, 3] },
    { label: "Measured power", data: measured, borderColor: "#2ca02c", backgroundColor: "#2ca02c", borderWidth: 2,
      pointRadius: 2, spanGaps: false },
  ].filter(function (dataset) {
    return dataset.data.length > 0;
  });
  datasets.forEach(function (dataset) {
    dataset.pointRadius = dataset.pointRadius || 0;
    dataset.pointHoverRadius = 4;
    dataset.spanGaps = false;
    dataset.fill = false;
  });

  // A dashed vertical line at now: a plugin drawing on the chart's own scales.
  var nowLine = {
    id: "nowLine",
    afterDatasetsDraw: function (chart) {
      var x = chart.scales.x.getPixelForValue(now);
      if (x < chart.chartArea.left || x > chart.chartArea.right) {
        return;
      }
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#444";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, chart.chartArea.top);
      ctx.lineTo(x, chart.chartArea.bottom);
      ctx.stroke();
      ctx.fillStyle = "#444";
      ctx.fillText("now", x + 4, chart.chartArea.top + 10);
      ctx.restore();
    },
  };

  var chart = new window.Chart(canvas, {
    type: "line",
    data: { datasets: datasets },
    plugins: [nowLine],
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      adapters: { date: { zone: zone } },
      scales: {
        x: {
          type: "time",
          min: ms(data.from),
          max: ms(data.to),
          adapters: { date: { zone: zone } },
          time: { tooltipFormat: "yyyy-MM-dd HH:mm", displayFormats: { hour: "HH:mm", minute: "HH:mm", day: "MMM d" } },
          title: { display: true, text: "Time (" + zone + ")" },
        },
        y: {
          title: { display: true, text: "Power (kW) — import up, export down" },
          ticks: {
            callback: function (value) {
              return number.format(value) + " kW";
            },
          },
        },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            title: function (items) {
              return items.length ? items[0].label + " " + zone : "";
            },
            label: function (item) {
              var reason = item.raw && item.raw.reason ? " (" + item.raw.reason + ")" : "";
              return item.dataset.label + ": " + number.format(item.parsed.y) + " kW" + reason;
            },
          },
        },
        zoom: {
          zoom: { wheel: { enabled: true }, drag: { enabled: true }, mode: "x" },
          pan: { enabled: true, mode: "x", modifierKey: "shift" },
          limits: { x: { min: ms(data.from), max: ms(data.to) } },
        },
      },
    },
  });

  var reset = document.getElementById("group-chart-reset");
  if (reset) {
    reset.addEventListener("click", function () {
      chart.resetZoom();
    });
  }
})();
