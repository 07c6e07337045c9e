"""JSON text of a data file parsed with a bounded nesting depth, errors naming the file and line."""

import json
from typing import Any

from fac_engine.errors import FacError

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects read from JSON: real rows nest a few levels (row, messages,
message, content parts); far deeper input is refused with a message instead of exhausting the stack."""


def parse_json(text: str, where: str) -> Any:
    """Parsed JSON, refusing invalid text and nesting deeper than MAX_JSON_DEPTH, with `where` in the message."""
    too_deep = FacError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep; flatten the rows.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        line = "" if " line " in where else f" line {exc.lineno}"
        raise FacError(f"{where}{line}: not valid JSON ({exc.msg}, column {exc.colno}).") from None
    except RecursionError:
        raise too_deep from None
    # Counting brackets is cheap and bounds the depth: only text with many of them is walked.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def _depth(value: object) -> int:
    """Nesting depth of arrays and objects (0 for a scalar), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in children)
    return deepest
