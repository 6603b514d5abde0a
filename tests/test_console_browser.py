"""The support console as a person sees it: headless Chromium (Debian's chromium and
chromium-driver) at 1400 px wide against the live test server. Logs in, reads the dashboard, a
partner, a group with its chart and a dead message, and saves the screenshots the README shows
(``docs/screenshots/*.png``).

Without chromium/chromedriver the test is skipped saying so; with REQUIRE_SERVICES=1 (CI) it fails."""

import json
import os
import re
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from connections.choices import ConnectionState, MessageDirection, MessageStatus, RegistrationStatus
from forecasts.services import forecast_receive
from measurements.reports import align_down
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, MessageFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.measurements.factories import ReadingFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WIDTH = 1400
PASSWORD = "console-pass-1234"


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but the browser test {reason}")
        pytest.skip(reason)
    from selenium import webdriver  # noqa: PLC0415 - only where a browser exists
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},1000")
    options.add_argument("--force-device-scale-factor=1")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def console_data(transactional_db, published):
    """A small platform: one provider online, one optimizer that never registered, a group on its
    forecast with measured power, an outbox with a pending and a dead message."""
    now = timezone.now()
    admin = get_user_model().objects.create_superuser("support", "support@example.com", PASSWORD)
    provider = CapacityProviderFactory(
        owner=admin,
        name="Grid North DERMS",
        connection_state=ConnectionState.ONLINE,
        registration_status=RegistrationStatus.REGISTERED,
        last_heartbeat_received_at=now - timedelta(seconds=40),
        last_heartbeat_sent_at=now - timedelta(seconds=25),
        offline_mode_at=now + timedelta(minutes=2),
    )
    optimizer = CapacityOptimizerFactory(owner=admin, name="Fleet Optimizer", partner_token="")
    group = CapacityGroupFactory(
        owner=admin,
        capacity_provider=provider,
        capacity_optimizer=optimizer,
        name="Depot Harbour",
        identifier="depot-harbour",
        fallback_import_kw=Decimal("40"),
    )
    type(group).objects.filter(pk=group.pk).update(created=now - timedelta(hours=12))
    group.refresh_from_db()
    start = align_down(now, timedelta(minutes=15)) - timedelta(hours=1)
    forecast_receive(
        group=group,
        sender=provider,
        forecast_type="CONSUMPTION",
        blocks=[
            {
                "capacity": Decimal(value),
                "phase": "ALL",
                "unit": "KW",
                "start_time": start + timedelta(hours=i),
                "end_time": start + timedelta(hours=i + 1),
            }
            for i, value in enumerate([120, 95.5, 80, 110, 125, 100])
        ],
        request_id="forecast-1",
        received_at=now - timedelta(hours=1),
    )
    meter = AssetFactory(
        group=group,
        energy=None,
        instantaneous={"propertyNames": ["watts"], "unit": "W", "multiplier": 1, "statisticType": "Average"},
    )
    for step in range(1, 40):
        ts = align_down(now, timedelta(minutes=15)) - step * timedelta(minutes=15)
        ReadingFactory(asset=meter, ts=ts, instantaneous={"watts": 60000 + 15000 * ((step * 7) % 5)})
    MessageFactory(partner=provider, direction=MessageDirection.OUTBOUND, message_type="heartbeat",
                   status=MessageStatus.PENDING, body={"offline_mode_at": "2030-01-01T00:00:00.000Z"})  # fmt: skip
    dead = MessageFactory(
        partner=optimizer,
        group=group,
        direction=MessageDirection.OUTBOUND,
        message_type="update_group_capacity_forecast",
        status=MessageStatus.DEAD,
        attempts=1,
        error="no token to call this partner with",
        next_attempt_at=now - timedelta(minutes=5),
        completed_at=now - timedelta(minutes=5),
        body={"group_id": "depot-harbour", "type": "CONSUMPTION", "forecasted_blocks": [{"capacity": 120}]},
    )
    return {"provider": provider, "optimizer": optimizer, "group": group, "dead": dead}


def _login(driver, base):
    driver.get(base + reverse("admin:login"))
    driver.find_element("name", "username").send_keys("support")
    driver.find_element("name", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "input[type=submit]").click()


def _fits(driver) -> bool:
    """Nothing sticks out to the right at this width."""
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def _screenshot(driver, name: str) -> None:
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 2400)")
    driver.set_window_size(WIDTH, max(height, 700))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / name))
    driver.set_window_size(WIDTH, 1000)


def _text(driver, selector: str) -> str:
    return driver.find_element("css selector", selector).text


def test_support_console_in_a_browser(browser, live_server, console_data):
    base = live_server.url
    _login(browser, base)

    # The front page answers "is everything all right?", every number a link.
    assert browser.current_url == base + reverse("admin:index")
    partners = _text(browser, "#dashboard-partners")
    assert "online" in partners and "new" in partners and "Fleet Optimizer" in partners
    groups = _text(browser, "#dashboard-groups")
    assert "Normal" in groups and "forecast stale" in groups
    outbox = _text(browser, "#dashboard-outbox")
    assert "pending" in outbox and "dead (24 h)" in outbox and "Oldest unsent message" in outbox
    assert "no token to call this partner with" in _text(browser, "#dashboard-errors")
    # The lists below: the domain's sections first, library internals last under System.
    sections = browser.execute_script(
        "return [...document.querySelectorAll('#content-main div[class*=\"app-\"].module')]"
        ".map(d => [...d.classList].find(c => c.startsWith('app-')))"
    )
    assert sections[0] == "app-connections" and sections[-1] == "app-system", sections
    assert "Grants" not in browser.page_source and "Solar events" not in browser.page_source
    assert _fits(browser)
    _screenshot(browser, "dashboard.png")

    # The dead figure leads to the dead messages.
    browser.find_element("css selector", "#dashboard-outbox a.console-figure.bad").click()
    assert "status__exact=dead" in browser.current_url
    assert "update_group_capacity_forecast" in browser.page_source
    assert _fits(browser)  # the message list fits at 1400 px

    # A partner's page leads with its state and its actions.
    provider = console_data["provider"]
    browser.get(base + reverse("admin:connections_capacityprovider_change", args=[provider.pk]))
    first = browser.find_elements("css selector", "fieldset.module h2, fieldset.module legend")[0].text
    assert "Connection state" in first
    assert "online" in _text(browser, "fieldset.module")
    buttons = [
        b.get_attribute("textContent").strip() for b in browser.find_elements("css selector", ".object-tools button")
    ]
    assert "Start handshake" in buttons and "Rotate token" in buttons
    assert _fits(browser)
    _screenshot(browser, "partner.png")

    # A group's page: state first, and the chart drawn by Chart.js with its data.
    group = console_data["group"]
    browser.get(base + reverse("admin:groups_capacitygroup_change", args=[group.pk]))
    drawn = browser.execute_script(
        """
        const chart = window.Chart && Chart.getChart(document.getElementById('group-chart'));
        if (!chart) { return null; }
        return {
          datasets: chart.data.datasets.map(d => [d.label, d.data.length]),
          x: chart.scales.x.options.title.text,
          y: chart.scales.y.options.title.text,
          zoom: !!(chart.options.plugins.zoom && chart.options.plugins.zoom.zoom.wheel.enabled),
        };
        """
    )
    assert drawn is not None, "the chart library drew nothing"
    series = dict(drawn["datasets"])
    assert series["Import limit (forecast)"] > 0 and series["Measured power"] > 0
    assert series["Import limit (fallback)"] > 0
    assert drawn["x"] == "Time (UTC)" and drawn["y"].startswith("Power (kW)") and drawn["zoom"]
    assert "depot-harbour" in browser.page_source
    assert not re.search(r":\d\d\.\d+Z", _text(browser, "#content-main"))  # times shown to the second
    assert _fits(browser)  # the assets inline included
    _screenshot(browser, "group.png")

    # A dead message: formatted body, links to its partner and group, no next attempt.
    dead = console_data["dead"]
    browser.get(base + reverse("admin:connections_message_change", args=[dead.pk]))
    body = json.loads(_text(browser, ".field-body_shown pre.json"))
    assert body["group_id"] == "depot-harbour"
    links = [a.text for a in browser.find_elements("css selector", ".field-partner_link a, .field-group_link a")]
    assert links == [str(console_data["optimizer"]), str(group)]
    assert "Next attempt" not in browser.page_source
    assert _fits(browser)
    _screenshot(browser, "message.png")

    # No page asked for anything that is not there (favicon included).
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
