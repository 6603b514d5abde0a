"""Walk the URL resolver: every route under a path prefix with the HTTP methods it serves, so
tests that must cover every route fail when one is added without a case."""

from django.urls import URLPattern, URLResolver, get_resolver

SKIPPED_METHODS = {"head", "options"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern).lstrip("^"), pattern


def _methods(pattern: URLPattern) -> list[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route
        return sorted(actions)
    view = callback.view_class
    return sorted(m for m in view.http_method_names if m not in SKIPPED_METHODS and hasattr(view, m))


def routes_under(prefix: str) -> list[tuple[str, str]]:
    """(url name, method) of every route whose path starts with ``prefix``."""
    found = []
    for path, pattern in _walk(get_resolver().url_patterns):
        if path.startswith(prefix):
            assert pattern.name, f"{path} has no url name: route-walking tests cannot address it"
            found += [(pattern.name, method) for method in _methods(pattern)]
    return found


def case_name(name: str) -> str:
    """Routes with a trailing slash behave like their slash-less twin."""
    return name.replace("-slashed", "")
