"""Sample shapes (plain text, chat, instruction, preference): which columns make a sample, and rows -> samples.

A row is one record of a data file as plain Python values (str, numbers, lists, dicts). Chat-like
rows become role/content messages, so the encoder can wrap them in the model's chat template and
pool over content tokens only (docs/METHOD.md section 1).
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from fac_engine.errors import FacError

Schema = Literal["auto", "text", "chat", "instruction", "preference"]
"""How a row becomes a sample; `auto` picks one from the column names."""
ResolvedSchema = Literal["text", "chat", "instruction", "preference"]
"""The schema a dataset was read with."""
Label = str | int | float | bool
"""A sample's class or score, as the file holds it."""

TEXT_FIELDS = ("text", "content", "prompt", "query", "question", "sentence")
"""Columns tried, in order, for plain-text data when no text field is named."""
MESSAGES_FIELDS = ("messages", "conversations")
"""Columns tried, in order, for chat data when no messages field is named."""
INPUT_FIELDS = ("input", "context")
"""Optional input of an instruction row (Alpaca `input`, Dolly `context`)."""
OUTPUT_FIELDS = ("output", "response")
"""Answer of an instruction row (Alpaca `output`, Dolly `response`)."""
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant"}
"""ShareGPT `from` values that chat templates know under another name."""


class Message(NamedTuple):
    """One chat turn."""

    role: str
    """`system`, `user`, `assistant`, or whatever else the data says (e.g. `tool`)."""
    content: str
    """The turn's text."""


@dataclass(frozen=True)
class DatasetItem:
    """One sample of a dataset."""

    text: str
    """Display text: the text itself, or the messages as `role: content` lines."""
    messages: tuple[Message, ...] | None = None
    """The conversation of a chat, instruction or preference row; None for plain text."""
    label: Label | None = None
    """Value of the label column, None without one (or where the row leaves it empty)."""


class Layout(NamedTuple):
    """Which columns make a sample under one resolved schema (None: not used)."""

    schema: ResolvedSchema
    text: str | None = None
    messages: str | None = None
    """The conversation (chat), or the prompt turns of a preference row without a prompt column."""
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    prompt: str | None = None
    answer: str | None = None
    """The preference side read: `chosen` or `rejected`."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns read for the text, in layout order."""
        return tuple(c for c in self[1:] if c is not None)


class CellError(Exception):
    """A value that cannot be read; the caller adds the file and row."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"column {column!r}: {problem}")
        self.column = column
        self.problem = problem


REQUIREMENTS: dict[ResolvedSchema, str] = {
    "text": f"a text column ({', '.join(TEXT_FIELDS)}) or a named text field",
    "chat": "a column of role/content message lists (messages, conversations, or a named messages field)",
    "instruction": "columns instruction and output (or response)",
    "preference": "columns chosen, rejected and prompt (or a messages column)",
}


def missing_column(source: str, column: str, columns: Sequence[str]) -> FacError:
    """The error for a named column the file lacks, listing the ones it has."""
    return FacError(f"{source}: no column {column!r}; its columns are: {', '.join(columns)}.")


def plain_transcript(messages: Sequence[Message]) -> str:
    """Messages as `role: content` lines: the display text, and the model input without a chat template."""
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


def kind(value: object) -> str:
    """How a value's type reads in an error message."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _first_value(rows: Sequence[Mapping[str, object]], column: str) -> object:
    return next((row[column] for row in rows if row.get(column) is not None), None)


def _parse_list(value: object) -> object:
    """A list stored as JSON text (CSV files) parsed; anything else unchanged."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _is_conversation(value: object) -> bool:
    value = _parse_list(value)
    if not isinstance(value, list) or not value or not isinstance(value[0], dict):
        return False
    return bool({"role", "from"} & value[0].keys())


def detect_layout(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, object]],
    *,
    schema: Schema,
    text_field: str | None,
    messages_field: str | None,
    preference_side: Literal["chosen", "rejected"],
    source: str,
) -> Layout:
    """The layout named by the options, or the first that fits: preference, chat, instruction, text."""
    have = set(columns)
    for named in (text_field, messages_field):
        if named is not None and named not in have:
            raise missing_column(source, named, columns)
    if text_field is not None:
        return Layout("text", text=text_field)

    def first_of(names: Sequence[str]) -> str | None:
        return next((name for name in names if name in have), None)

    messages = messages_field or first_of(MESSAGES_FIELDS)
    is_chat = messages is not None and (messages_field is not None or _is_conversation(_first_value(rows, messages)))
    output = first_of(OUTPUT_FIELDS)
    text = first_of(TEXT_FIELDS)
    candidates: dict[ResolvedSchema, Layout | None] = {"preference": None, "chat": None, "instruction": None}
    if {"chosen", "rejected"} <= have and ("prompt" in have or is_chat):
        candidates["preference"] = (
            Layout("preference", prompt="prompt", answer=preference_side)
            if "prompt" in have
            else Layout("preference", messages=messages, answer=preference_side)
        )
    if messages is not None and (is_chat or schema == "chat"):
        candidates["chat"] = Layout("chat", messages=messages)
    if "instruction" in have and output is not None:
        candidates["instruction"] = Layout(
            "instruction", instruction="instruction", input=first_of(INPUT_FIELDS), output=output
        )
    candidates["text"] = Layout("text", text=text) if text is not None else None
    if schema != "auto":
        layout = candidates[schema]
        if layout is None:
            needs = REQUIREMENTS[schema]
            raise FacError(f"{source}: schema {schema!r} needs {needs}; its columns are: {', '.join(columns)}.")
        return layout
    found = next((layout for layout in candidates.values() if layout is not None), None)
    if found is None:
        raise FacError(
            f"{source}: cannot tell which column holds the text; its columns are: {', '.join(columns)}. "
            "Name the text column (--text-field) or choose a schema (--schema)."
        )
    return found


def _text(value: object, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise CellError(column, f"holds {kind(value)}, not text (for chat messages choose the chat schema).")


def _content(value: object) -> str | None:
    """Message content: text, nothing, or OpenAI-style parts [{"type": "text", "text": ...}]."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        return "\n".join(str(p["text"]) for p in value if p.get("type") == "text" and "text" in p)
    return None


def _message(turn: object) -> Message | None:
    """One role/content or from/value dict as a message; None if it is not one.

    Arrow struct columns give every key to every dict (None where absent), so None means absent.
    """
    if not isinstance(turn, dict) or not {"content", "value"} & turn.keys():
        return None
    role = turn.get("role") or turn.get("from")
    content = _content(turn["content"] if turn.get("content") is not None else turn.get("value"))
    if not isinstance(role, str) or content is None:
        return None
    return Message(SHAREGPT_ROLES.get(role, role), content)


def to_messages(value: object, column: str) -> tuple[Message, ...]:
    """Role/content (or ShareGPT from/value) dicts as messages; one dict is one message."""
    value = _parse_list(value)
    if value is None:
        return ()
    turns = [value] if isinstance(value, dict) else value
    if not isinstance(turns, list):
        raise CellError(column, f"holds {kind(value)}, not a list of messages with role and content.")
    messages = [_message(turn) for turn in turns]
    for i, message in enumerate(messages):
        if message is None:
            problem = f"message {i} is not an object with text 'role' and 'content' (or 'from' and 'value')."
            raise CellError(column, problem)
    return tuple(m for m in messages if m is not None)


def _turns(value: object, column: str, role: str) -> tuple[Message, ...]:
    """A bare string as one message of `role`, or a message list."""
    if value is None or isinstance(value, str):
        text = _text(value, column)
        return (Message(role, text),) if text.strip() else ()
    return to_messages(value, column)


def _conversation(row: Mapping[str, object], layout: Layout) -> tuple[Message, ...]:
    if layout.schema == "chat":
        assert layout.messages is not None
        return to_messages(row.get(layout.messages), layout.messages)
    if layout.schema == "instruction":
        assert layout.instruction is not None and layout.output is not None
        parts = [_text(row.get(c), c) for c in (layout.instruction, layout.input) if c is not None]
        user = "\n\n".join(p for p in parts if p.strip())
        output = _text(row.get(layout.output), layout.output)
        return tuple(Message(role, text) for role, text in (("user", user), ("assistant", output)) if text.strip())
    prompt_column = layout.prompt or layout.messages
    assert prompt_column is not None and layout.answer is not None
    prompt = _turns(row.get(prompt_column), prompt_column, "user")
    answer = _turns(row.get(layout.answer), layout.answer, "assistant")
    # Some sets (UltraFeedback-binarized) repeat the prompt turns at the start of chosen / rejected.
    return answer if answer[: len(prompt)] == prompt else prompt + answer


def make_item(row: Mapping[str, object], layout: Layout, label: Label | None) -> DatasetItem | None:
    """The sample a row holds, or None when it has no text; raises CellError for unreadable values."""
    if layout.schema == "text":
        assert layout.text is not None
        text = _text(row.get(layout.text), layout.text)
        return DatasetItem(text, None, label) if text.strip() else None
    messages = _conversation(row, layout)
    if not any(m.content.strip() for m in messages):
        return None
    return DatasetItem(plain_transcript(messages), messages, label)


def _label(value: object, column: str) -> Label | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str | int | float):
        return value
    raise CellError(column, f"holds {kind(value)}; a label must be text, a number or true/false.")


def read_labels(
    rows: Sequence[Mapping[str, object]], column: str, where: Callable[[int], str], source: str
) -> list[Label | None]:
    """The label of each row (None where empty), all text, all numbers or all true/false.

    `where(i)` names row i in messages (e.g. `row 3 (line 4)`).
    """
    labels: list[Label | None] = []
    first: int | None = None
    for i, row in enumerate(rows):
        try:
            label = _label(row.get(column), column)
        except CellError as exc:
            raise FacError(f"{source}, {where(i)}, {exc}") from None
        if label is not None and first is None:
            first = i
        elif label is not None and first is not None and kind(label) != kind(labels[first]):
            was = f"{where(first)} holds {kind(labels[first])} ({labels[first]!r})"
            raise FacError(
                f"{source}: label column {column!r} mixes types: {was} but {where(i)} holds "
                f"{kind(label)} ({label!r}). Use one type for all labels."
            )
        labels.append(label)
    return labels
