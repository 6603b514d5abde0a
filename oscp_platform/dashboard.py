"""The admin's front page: sections that answer "is everything all right?", each plugged in by the
app that knows its numbers (``dashboard_section_register`` from its admin module), so this module
imports no app above it. A section's ``context`` reads with a few aggregate queries, never one per
row; every number it shows links to the filtered list behind it."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    order: int
    template: str
    # (request, now) -> the section's template context, or None when the user may not see it.
    context: Callable[[HttpRequest, datetime], dict | None]


_SECTIONS: dict[str, Section] = {}


def dashboard_section_register(*, key: str, title: str, order: int, template: str, context: Callable) -> None:
    _SECTIONS[key] = Section(key=key, title=title, order=order, template=template, context=context)


def dashboard_sections(request: HttpRequest, *, now: datetime) -> list[dict]:
    """The sections the user may see, in order, each with its context."""
    shown = []
    for section in sorted(_SECTIONS.values(), key=lambda s: s.order):
        context = section.context(request, now)
        if context is not None:
            shown.append({"key": section.key, "title": section.title, "template": section.template, **context})
    return shown
