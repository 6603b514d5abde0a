"""DRF validation errors as one line naming each bad field, for every API's error bodies."""


def errors_message(detail, prefix: str = "") -> str:
    """DRF errors as one line naming each field: ``forecasted_blocks[3].end_time: Must be ...``.
    (List errors come as lists or, for sparse errors, as dicts keyed by index.)"""
    return "; ".join(f"{name}: {text}" if name else text for name, text in error_items(detail, prefix))


def error_items(detail, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, problem) for each problem in DRF's nested error detail."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key in ("", "non_field_errors"):  # about the place itself
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            items += error_items(value, name)
        return items
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [(prefix, str(item)) for item in detail]
        items = []
        for index, value in enumerate(detail):
            items += error_items(value, f"{prefix}[{index}]")
        return items
    return [(prefix, str(detail))]
