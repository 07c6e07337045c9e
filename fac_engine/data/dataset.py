"""Read a dataset for `fac encode`: JSONL, JSON, CSV / TSV, parquet, text lines or a saved Hugging Face folder.

Every format becomes rows of plain Python values first, so one schema step (schemas.py) turns any
of them into samples. Rows are numbered from 0 in file order (the `row` column of the metadata);
JSONL errors also give the 1-based line an editor shows.
"""

import io
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fac_engine.data.jsontext import parse_json
from fac_engine.data.schemas import (
    CellError,
    DatasetItem,
    Layout,
    ResolvedSchema,
    Schema,
    detect_layout,
    kind,
    make_item,
    missing_column,
    read_labels,
)
from fac_engine.errors import FacError
from fac_engine.log import get_logger

log = get_logger(__name__)

Row = dict[str, object]

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".arrow", ".txt")
"""File types read; a folder is read as a saved Hugging Face dataset."""


@dataclass(frozen=True)
class DatasetConfig:
    """How to turn a data file's rows into samples."""

    text_field: str | None = None
    """Column holding plain text; naming one selects the text schema. None: detect the schema."""
    schema: Schema = "auto"
    """Sample shape: `text`, `chat` (role/content lists), `instruction` (instruction / input /
    output), `preference` (prompt / chosen / rejected), or `auto` to pick from the column names."""
    label_field: str | None = None
    """Column holding a class or score per sample (text, numbers or true/false, one type); None: no labels."""
    messages_field: str | None = None
    """Column holding the chat messages; None: `messages` or `conversations`."""
    preference_side: Literal["chosen", "rejected"] = "chosen"
    """Which answer of a preference row is the sample; the other stays in the metadata."""
    limit: int | None = None
    """Read at most this many rows from the start of the file; None: all."""

    def __post_init__(self) -> None:
        if self.schema not in ("auto", "text", "chat", "instruction", "preference"):
            raise ValueError(f"Unknown schema {self.schema!r}; use auto, text, chat, instruction or preference.")
        if self.preference_side not in ("chosen", "rejected"):
            raise ValueError(f"The preference side must be 'chosen' or 'rejected', not {self.preference_side!r}.")
        if self.text_field is not None and self.schema not in ("auto", "text"):
            raise ValueError(f"A text field only applies to the text schema, not {self.schema!r}.")
        if self.messages_field is not None and self.schema not in ("auto", "chat", "preference"):
            raise ValueError(f"A messages field only applies to chat or preference data, not {self.schema!r}.")
        if self.text_field is not None and self.messages_field is not None:
            raise ValueError("Name either a text field or a messages field, not both.")
        for name in ("text_field", "label_field", "messages_field"):
            if getattr(self, name) == "":
                raise ValueError(f"The {name.replace('_', ' ')} must not be empty.")
        if self.label_field is not None and self.label_field in (self.text_field, self.messages_field):
            raise ValueError(f"Column {self.label_field!r} cannot be both the label and the text.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"The row limit must be at least 1, not {self.limit}.")


@dataclass(frozen=True, eq=False)
class Dataset:
    """The samples of one data file, with their metadata."""

    items: list[DatasetItem]
    """The samples, in file order."""
    frame: pd.DataFrame
    """One row per item: `row` (the file row it came from) and every column not read for text or label."""
    schema: ResolvedSchema
    """The schema the rows were read with."""
    label_field: str | None
    """The column the labels came from, if any."""
    path: Path
    """The file or folder read."""
    text_columns: tuple[str, ...]
    """The columns read for the text."""
    skipped: int
    """Rows read but left out because they hold no text."""

    def __len__(self) -> int:
        return len(self.items)


class _Table(NamedTuple):
    columns: list[str]
    rows: list[Row]
    lines: list[int] | None
    """1-based file line of each row, for files read line by line."""


def _decode(path: Path) -> str:
    """The file as UTF-8 text (a leading byte-order mark dropped)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FacError(f"{path} line {line}: not UTF-8 text (undecodable byte at offset {exc.start}).") from None


def _read_jsonl(path: Path, limit: int | None) -> _Table:
    rows: list[Row] = []
    lines: list[int] = []
    columns: dict[str, None] = {}
    offset = 0
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            if limit is not None and len(rows) >= limit:
                break
            try:
                line = raw.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as exc:
                raise FacError(
                    f"{path} line {number}: not UTF-8 text (undecodable byte at offset {offset + exc.start})."
                ) from None
            offset += len(raw)
            if not line.strip():
                continue
            value = parse_json(line, f"{path} line {number}")
            if not isinstance(value, dict):
                raise FacError(f"{path} line {number}: expected a JSON object {{...}}, found {kind(value)}.")
            columns.update(dict.fromkeys(value))
            rows.append(value)
            lines.append(number)
    return _Table(list(columns), rows, lines)


def _read_json(path: Path, limit: int | None) -> _Table:
    """A JSON array of objects; anything else is read as JSON lines."""
    text = _decode(path)
    if not text.lstrip().startswith("["):
        return _read_jsonl(path, limit)
    values = parse_json(text, str(path))
    columns: dict[str, None] = {}
    for i, value in enumerate(values[:limit]):
        if not isinstance(value, dict):
            raise FacError(f"{path}: item {i} of the array is {kind(value)}, not a JSON object {{...}}.")
        columns.update(dict.fromkeys(value))
    return _Table(list(columns), values[:limit], None)


def _read_csv(path: Path, limit: int | None, sep: str = ",") -> _Table:
    try:
        frame = pd.read_csv(io.StringIO(_decode(path)), sep=sep, nrows=limit, dtype_backend="numpy_nullable")
    except pd.errors.EmptyDataError:
        return _Table([], [], None)
    except (ValueError, pd.errors.ParserError) as exc:
        raise FacError(f"{path}: could not read it as {'CSV' if sep == ',' else 'TSV'}: {exc}") from None
    frame.columns = [str(c) for c in frame.columns]
    return _Table(list(frame.columns), frame.to_dict("records"), None)


def _read_txt(path: Path, limit: int | None) -> _Table:
    """One text per non-blank line, in a column `text`."""
    numbered = [(n, line) for n, line in enumerate(_decode(path).splitlines(), 1) if line.strip()][:limit]
    return _Table(["text"], [{"text": line} for _, line in numbered], [n for n, _ in numbered])


def _from_arrow(parts: Iterable[pa.Table], schema: pa.Schema, limit: int | None) -> _Table:
    """The first `limit` rows of the concatenated parts, reading no more parts than needed."""
    taken: list[pa.Table] = []
    for part in parts:
        taken.append(part)
        if limit is not None and sum(t.num_rows for t in taken) >= limit:
            break
    table = pa.concat_tables(taken).slice(0, limit) if taken else schema.empty_table()
    return _Table(table.column_names, table.to_pylist(), None)


def _read_parquet(path: Path, limit: int | None) -> _Table:
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        return _from_arrow((pa.Table.from_batches([b], schema) for b in parquet.iter_batches()), schema, limit)
    except (pa.ArrowException, OSError) as exc:
        raise FacError(f"{path}: could not read it as parquet: {exc}") from None


def _arrow_table(path: Path) -> pa.Table:
    """An Arrow IPC stream (what `datasets` writes) or, failing that, an Arrow IPC file."""
    for open_ipc in (pa.ipc.open_stream, pa.ipc.open_file):
        try:
            with pa.OSFile(str(path)) as source:
                return open_ipc(source).read_all()
        except pa.ArrowInvalid as exc:
            error = exc
    raise FacError(f"{path}: not an Arrow stream or file ({error}).")


def _read_arrow(path: Path, limit: int | None) -> _Table:
    table = _arrow_table(path)
    return _from_arrow([table], table.schema, limit)


def _read_hf_folder(folder: Path, limit: int | None) -> _Table:
    """A folder written by `datasets.Dataset.save_to_disk`: state.json names the data-*.arrow files."""
    if (folder / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in folder.iterdir() if (p / "state.json").is_file())
        example = folder / splits[0] if splits else folder / "train"
        raise FacError(f"{folder} holds several splits ({', '.join(splits)}); give one split's folder, e.g. {example}.")
    state_file = folder / "state.json"
    if state_file.is_file():
        try:
            names = [entry["filename"] for entry in json.loads(_decode(state_file))["_data_files"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FacError(f"{state_file}: not a Hugging Face dataset state file ({exc!r}).") from None
        files = [folder / name for name in names]
        absent = [name for name, file in zip(names, files, strict=True) if not file.is_file()]
        if absent:
            raise FacError(f"{folder}: state.json lists {', '.join(absent)}, which the folder lacks.")
    else:
        files = sorted(folder.glob("data-*.arrow")) or sorted(folder.glob("*.arrow"))
    if not files:
        raise FacError(f"{folder} is a folder but not a saved Hugging Face dataset (no data-*.arrow files).")
    tables = (_arrow_table(file) for file in files)
    first = next(tables)
    return _from_arrow(itertools.chain([first], tables), first.schema, limit)


READERS: dict[str, Callable[[Path, int | None], _Table]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".tsv": lambda path, limit: _read_csv(path, limit, sep="\t"),
    ".parquet": _read_parquet,
    ".arrow": _read_arrow,
    ".txt": _read_txt,
}


def _read_table(path: Path, limit: int | None) -> _Table:
    if path.is_dir():
        return _read_hf_folder(path, limit)
    if not path.is_file():
        raise FacError(f"No such data file or folder: {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise FacError(f"{path}: unsupported file type {path.suffix!r}; use {', '.join(SUFFIXES)} or a dataset folder.")
    return reader(path, limit)


def _where(table: _Table, i: int) -> str:
    return f"row {i} (line {table.lines[i]})" if table.lines is not None else f"row {i}"


def _metadata(table: _Table, kept: list[int], used: set[str]) -> pd.DataFrame:
    """`row` plus every unused column, for the kept rows; a file column named `row` becomes `row.1`."""
    names = {c: "row.1" if c == "row" else c for c in table.columns if c not in used}
    data: dict[str, list[object]] = {"row": list(kept)}
    data |= {new: [table.rows[i].get(old) for i in kept] for old, new in names.items()}
    return pd.DataFrame(data)


def read_dataset(path: Path | str, cfg: DatasetConfig | None = None) -> Dataset:
    """The samples of a data file or saved Hugging Face dataset folder, read as `cfg` says.

    Rows without text are left out and counted in `Dataset.skipped`; unreadable input (missing
    file, no rows, missing column, bad bytes or JSON, mixed label types) raises FacError naming
    the file, row and column.
    """
    cfg = cfg or DatasetConfig()
    path = Path(path)
    source = str(path)
    table = _read_table(path, cfg.limit)
    if not table.rows:
        raise FacError(f"{source} has no rows.")
    layout: Layout = detect_layout(
        table.columns,
        table.rows,
        schema=cfg.schema,
        text_field=cfg.text_field,
        messages_field=cfg.messages_field,
        preference_side=cfg.preference_side,
        source=source,
    )
    if cfg.label_field is not None and cfg.label_field not in table.columns:
        raise missing_column(source, cfg.label_field, table.columns)
    if cfg.label_field in layout.columns:
        raise FacError(f"{source}: column {cfg.label_field!r} is read as the text; it cannot be the label too.")
    labels = (
        read_labels(table.rows, cfg.label_field, lambda i: _where(table, i), source)
        if cfg.label_field is not None
        else [None] * len(table.rows)
    )
    items: list[DatasetItem] = []
    kept: list[int] = []
    for i, row in enumerate(table.rows):
        try:
            item = make_item(row, layout, labels[i])
        except CellError as exc:
            raise FacError(f"{source}, {_where(table, i)}, {exc}") from None
        if item is not None:
            items.append(item)
            kept.append(i)
    if not items:
        columns = ", ".join(repr(c) for c in layout.columns)
        raise FacError(f"{source}: none of its {len(table.rows)} rows has any text in {columns}.")
    skipped = len(table.rows) - len(items)
    if skipped:
        log.warning("%s: left out %d of %d rows without text", source, skipped, len(table.rows))
    used = set(layout.columns) | ({cfg.label_field} if cfg.label_field else set())
    frame = _metadata(table, kept, used)
    return Dataset(items, frame, layout.schema, cfg.label_field, path, layout.columns, skipped)
