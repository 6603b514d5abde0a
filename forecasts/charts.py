"""Server-side SVG geometry for the group operating view: limits as step lines by reason, and
measured power where the measurements app knows it."""

from datetime import datetime, timedelta

from groups.panels import PANELS

from .choices import EnvelopeReason

WIDTH, HEIGHT, PAD = 900, 260, 40
COLOURS = {
    EnvelopeReason.FORECAST: "#1f77b4",
    EnvelopeReason.FALLBACK: "#ff7f0e",
    EnvelopeReason.PROTECTIVE_STOP: "#d62728",
    EnvelopeReason.DEFAULT: "#7f7f7f",
    "measured": "#2ca02c",
}


def measured_series(*, group, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """(time, kW) points from the app that measures power, when one is installed
    (``groups.panels.PANELS.power_series``)."""
    if PANELS.power_series is None:
        return []
    return [(t, float(v)) for t, v in PANELS.power_series(group=group, start=start, end=end)]


def chart(*, pieces: dict, measured: list, now: datetime, hours: int = 24) -> dict:
    start, end = now - timedelta(hours=hours), now + timedelta(hours=hours)
    kw = [p for q in ("import", "export") for p in pieces[q] if p.unit == "kW" and p.phase == "All"]
    top = max([float(p.value) for p in kw] + [abs(v) for _, v in measured] + [1.0]) * 1.1
    span = (end - start).total_seconds()

    def x(t):
        t = min(max(t, start), end)
        return round(PAD + (WIDTH - 2 * PAD) * (t - start).total_seconds() / span, 1)

    def y(v, sign=1):
        middle = HEIGHT / 2
        return round(middle - sign * (middle - PAD / 2) * v / top, 1)

    segments = []
    for quantity, sign in (("import", 1), ("export", -1)):
        for p in pieces[quantity]:
            if p.unit != "kW" or p.phase != "All":
                continue
            segments.append(
                {
                    "x1": x(p.start),
                    "x2": x(p.end),
                    "y": y(float(p.value), sign),
                    "colour": COLOURS[p.reason],
                    "title": f"{quantity} {p.value} kW ({p.reason})",
                }
            )
    lines = [" ".join(f"{x(t)},{y(v)}" for t, v in run) for run in _runs(measured)]
    ticks = [
        {"x": x(start + timedelta(hours=h)), "label": f"{(start + timedelta(hours=h)):%H:%M}"}
        for h in range(0, 2 * hours + 1, 6)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "zero_y": HEIGHT / 2,
        "now_x": x(now),
        "segments": segments,
        "measured_lines": lines,
        "measured_colour": COLOURS["measured"],
        "ticks": ticks,
        "top": round(top, 1),
        "legend": [{"label": k, "colour": v} for k, v in COLOURS.items()],
    }


def _runs(measured: list) -> list[list]:
    """The measured points split where periods without data leave a gap (more than 1.5 × the
    usual spacing), so the line does not bridge it."""
    if len(measured) < 2:
        return [measured] if measured else []
    spacing = min(b[0] - a[0] for a, b in zip(measured, measured[1:], strict=False))
    runs = [[measured[0]]]
    for before, point in zip(measured, measured[1:], strict=False):
        if point[0] - before[0] > spacing * 1.5:
            runs.append([])
        runs[-1].append(point)
    return runs
