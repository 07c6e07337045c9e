"""A project: which model, SAE, anchor and seed a user works with, plus what they curate by hand.

Kept under `<workspace>/.projects/<name>/`: `project.json` (the settings) and `curation.sqlite`
(WAL mode; feature lists, explanations, relevance marks by label contrast, the LLM judge and the user).
Every change is committed at once, so a closed browser or a restarted server loses nothing, and two
tabs writing at once both land.
"""

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError, check_threshold
from fac_engine.workspace.datasets import check_name

Verdict = Literal["Yes", "Probably", "Maybe", "No"]
VERDICTS: tuple[Verdict, ...] = ("Yes", "Probably", "Maybe", "No")
"""The LLM judge's answers, most relevant first (docs/METHOD.md section 3)."""
RELEVANT_VERDICTS: frozenset[str] = frozenset({"Yes", "Probably", "Maybe"})
"""Relevant = "Maybe" or better, as in the paper."""
RELEVANT, NOT_RELEVANT = "relevant", "not relevant"
"""Marks of label contrast and of a person (the judge's marks are verdicts)."""

PROJECTS_DIR = ".projects"
"""Folder of projects inside a workspace (hidden: it is not an encoded dataset)."""
DEFAULT_PROJECT = "default"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_lists (
    list_name TEXT NOT NULL, feature INTEGER NOT NULL, added_at TEXT NOT NULL,
    PRIMARY KEY (list_name, feature));
CREATE TABLE IF NOT EXISTS explanations (
    feature INTEGER PRIMARY KEY, text TEXT NOT NULL, source TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS relevance_marks (
    feature INTEGER NOT NULL, source TEXT NOT NULL, verdict TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (feature, source));
"""
MarkSource = Literal["contrast", "judge", "user"]
MARK_SOURCES: tuple[MarkSource, ...] = ("contrast", "judge", "user")
"""Who marks features relevant: label contrast, the LLM judge, a person (whose mark wins)."""
_MARK_VERDICTS: dict[str, tuple[str, ...]] = {"contrast": (RELEVANT, NOT_RELEVANT), "judge": VERDICTS,
                                              "user": (RELEVANT, NOT_RELEVANT)}


@dataclass(frozen=True)
class ProjectConfig:
    """The settings of a project."""

    name: str = DEFAULT_PROJECT
    """Project name (its folder name)."""
    model: str = "embedded"
    """`embedded`, a transformers folder or a .gguf file."""
    sae: str = str(EMBEDDED_SAE_DIR)
    """SAE folder or file, any supported format."""
    layer: int | None = None
    """Hook layer when the SAE format does not record it."""
    anchor: str | None = None
    """Encoded dataset used as the anchor (target distribution)."""
    seed: str | None = None
    """Encoded dataset whose coverage is measured."""
    threshold: float = 0.0
    """delta: a feature is active on a sample when g > delta."""
    target_list: str = "selected"
    """The feature list synthesis targets (picked on the missing-features page)."""
    relevant_only: bool = False
    """Dashboard coverage counts only the project's task-relevant features F (`relevant_features()`)."""
    synthesis_mode: str = "prompt"
    """The synthesis mode `fac synthesize` and the Synthesis page start with (`prompt`, `steer` or `both`,
    checked when a job is made); the demo sets `both` (docs/RESULTS.md, "Steered synthesis")."""

    def __post_init__(self) -> None:
        check_name(self.name)
        check_threshold(self.threshold, "The threshold")
        if not self.target_list.strip():
            raise ValueError("The target feature list needs a name.")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Project:
    """Settings and curation data of one project in a workspace."""

    def __init__(self, workspace: Path, name: str = DEFAULT_PROJECT) -> None:
        self.folder = Path(workspace).expanduser() / PROJECTS_DIR / check_name(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        with self.db() as db:
            db.executescript(_SCHEMA)

    @staticmethod
    def names(workspace: Path) -> list[str]:
        """Projects that exist in a workspace."""
        root = Path(workspace).expanduser() / PROJECTS_DIR
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A connection to the project's curation database (WAL) that commits when the block ends."""
        connection = sqlite3.connect(self.folder / "curation.sqlite", timeout=30)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            with connection:  # commits on success, rolls back on error
                yield connection
        finally:
            connection.close()

    # Settings

    @property
    def config(self) -> ProjectConfig:
        """The saved settings (defaults when never saved)."""
        path = self.folder / "project.json"
        if not path.is_file():
            return ProjectConfig(name=self.name)
        try:
            return ProjectConfig(**{**json.loads(path.read_text(encoding="utf-8")), "name": self.name})
        except (ValueError, TypeError) as exc:
            raise FacError(f"{path} is corrupt ({exc}); fix or delete it.") from exc

    def update(self, **changes: object) -> ProjectConfig:
        """Change and save settings; returns the new ones."""
        try:
            config = replace(self.config, **changes)  # type: ignore[arg-type]
        except (ValueError, TypeError) as exc:
            raise FacError(str(exc)) from exc
        with atomic_file(self.folder / "project.json") as tmp:
            tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
        return config

    # Feature lists

    def list_names(self) -> list[str]:
        """Names of the saved feature lists."""
        with self.db() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT list_name FROM feature_lists ORDER BY list_name")]

    def features_in(self, list_name: str) -> list[int]:
        """Feature ids of a list, ascending (empty for an unknown list)."""
        with self.db() as db:
            rows = db.execute("SELECT feature FROM feature_lists WHERE list_name = ? ORDER BY feature", (list_name,))
            return [int(r[0]) for r in rows]

    def add_to_list(self, list_name: str, features: Iterable[int]) -> None:
        """Add features to a list (created when new); features already in it stay as they are."""
        if not list_name.strip():
            raise FacError("A feature list needs a name.")
        now = _now()
        with self.db() as db:
            db.executemany("INSERT OR IGNORE INTO feature_lists VALUES (?, ?, ?)",
                           [(list_name, int(f), now) for f in features])

    def remove_from_list(self, list_name: str, features: Iterable[int]) -> None:
        """Remove features from a list."""
        with self.db() as db:
            db.executemany("DELETE FROM feature_lists WHERE list_name = ? AND feature = ?",
                           [(list_name, int(f)) for f in features])

    def delete_list(self, list_name: str) -> None:
        """Delete a whole list."""
        with self.db() as db:
            db.execute("DELETE FROM feature_lists WHERE list_name = ?", (list_name,))

    # Explanations

    def explanations(self) -> dict[int, str]:
        """Every stored explanation by feature."""
        with self.db() as db:
            return {int(f): str(t) for f, t in db.execute("SELECT feature, text FROM explanations")}

    def explanation_sources(self) -> dict[int, str]:
        """Who wrote each explanation (`user`, `offline`, an LLM name...)."""
        with self.db() as db:
            return {int(f): str(s) for f, s in db.execute("SELECT feature, source FROM explanations")}

    def set_explanation(self, feature: int, text: str, source: str = "user") -> None:
        """Store an explanation; a user's edit is never overwritten by a generated one."""
        with self.db() as db:
            if source != "user":
                row = db.execute("SELECT source FROM explanations WHERE feature = ?", (feature,)).fetchone()
                if row is not None and row[0] == "user":
                    return
            db.execute("INSERT OR REPLACE INTO explanations VALUES (?, ?, ?, ?)", (int(feature), text, source, _now()))

    def set_explanations(self, explanations: dict[int, str], source: str) -> int:
        """Store many generated explanations at once (never over a user's edit); returns how many were stored."""
        with self.db() as db:
            users = {int(r[0]) for r in db.execute("SELECT feature FROM explanations WHERE source = 'user'")}
            rows = [(int(f), t, source, _now()) for f, t in explanations.items() if int(f) not in users]
            db.executemany("INSERT OR REPLACE INTO explanations VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def search_explanations(self, words: str) -> list[int]:
        """Features whose explanation contains every word (case-insensitive), ascending."""
        terms = [w.lower() for w in words.split()]
        return sorted(f for f, text in self.explanations().items() if all(t in text.lower() for t in terms))

    # Relevance marks

    def relevance_marks(self, source: MarkSource) -> dict[int, str]:
        """One source's marks by feature (`relevant` / `not relevant`, or the judge's verdict)."""
        with self.db() as db:
            rows = db.execute("SELECT feature, verdict FROM relevance_marks WHERE source = ?", (source,))
            return {int(f): str(v) for f, v in rows}

    def set_relevance_marks(self, source: MarkSource, verdicts: Mapping[int, str]) -> None:
        """Replace every mark of `source` (contrast or judge) with `verdicts`."""
        if source == "user" or source not in _MARK_VERDICTS:
            raise FacError(f"Marks are set in bulk for 'contrast' or 'judge', not {source!r}.")
        bad = sorted({v for v in verdicts.values() if v not in _MARK_VERDICTS[source]})
        if bad:
            raise FacError(f"{source} marks must be one of {', '.join(_MARK_VERDICTS[source])}; got {', '.join(bad)}.")
        now = _now()
        with self.db() as db:
            db.execute("DELETE FROM relevance_marks WHERE source = ?", (source,))
            db.executemany("INSERT INTO relevance_marks VALUES (?, ?, ?, ?)",
                           [(int(f), source, v, now) for f, v in verdicts.items()])

    def mark_relevant(self, feature: int, relevant: bool | None) -> None:
        """A person's mark on one feature: relevant, not relevant, or None to clear it."""
        with self.db() as db:
            db.execute("DELETE FROM relevance_marks WHERE feature = ? AND source = 'user'", (int(feature),))
            if relevant is not None:
                db.execute("INSERT INTO relevance_marks VALUES (?, 'user', ?, ?)",
                           (int(feature), RELEVANT if relevant else NOT_RELEVANT, _now()))

    def relevant_features(self, sources: Iterable[MarkSource] = MARK_SOURCES) -> frozenset[int]:
        """Features marked relevant by any of `sources` (judge: "Maybe" or better), minus those a
        person marked not relevant when `user` is among them: a person's mark wins."""
        chosen = set(sources)
        if not chosen <= set(MARK_SOURCES):
            raise FacError(f"Unknown relevance source(s) {', '.join(sorted(chosen - set(MARK_SOURCES)))}; "
                           f"use {', '.join(MARK_SOURCES)}.")
        relevant: set[int] = set()
        for source in chosen:
            good = RELEVANT_VERDICTS if source == "judge" else {RELEVANT}
            relevant |= {f for f, v in self.relevance_marks(source).items() if v in good}
        if "user" in chosen:
            relevant -= {f for f, v in self.relevance_marks("user").items() if v == NOT_RELEVANT}
        return frozenset(relevant)
