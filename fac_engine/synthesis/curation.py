"""The curation store of synthesis: jobs, per-feature progress, candidates, review decisions, events.

Tables live in the project's `curation.sqlite` (WAL) next to the feature lists and explanations.
Every decision is one committed statement made the moment the user decides, so a closed browser,
a restarted server or a killed job loses nothing, and two tabs reviewing at once both land (each
decision is also logged in `events` with who and when). A job records which features are done;
a rerun skips them and drops the unfinished feature's partial candidates before redoing it.
"""

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from fac_engine.atomic import crash_point
from fac_engine.errors import FacError
from fac_engine.synthesis.candidates import (
    CANDIDATE_COLUMNS,
    STATUSES,
    Candidate,
    NewCandidate,
    ReviewStatus,
    SampleCodes,
    insert_row,
)
from fac_engine.synthesis.templates import text_kind
from fac_engine.workspace.jobs import JobState
from fac_engine.workspace.project import Project

SHOWN_IDS = 10
"""Candidate ids an error message lists before it only counts the rest."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS synth_jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, config TEXT NOT NULL,
    state TEXT NOT NULL, pid INTEGER, message TEXT NOT NULL DEFAULT '', started_at TEXT, finished_at TEXT);
CREATE TABLE IF NOT EXISTS synth_features (
    job_id INTEGER NOT NULL, feature INTEGER NOT NULL, position INTEGER NOT NULL, state TEXT NOT NULL,
    pair TEXT, note TEXT NOT NULL DEFAULT '', generated INTEGER NOT NULL DEFAULT 0,
    kept INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL, PRIMARY KEY (job_id, feature));
CREATE TABLE IF NOT EXISTS candidates (
    cand_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, feature INTEGER NOT NULL,
    step INTEGER NOT NULL, task TEXT NOT NULL, label TEXT, text TEXT NOT NULL, fields TEXT NOT NULL,
    messages TEXT, prompt TEXT NOT NULL, generator TEXT NOT NULL, params TEXT NOT NULL, g REAL NOT NULL,
    threshold REAL NOT NULL, span TEXT NOT NULL, tokens TEXT NOT NULL, activations TEXT NOT NULL,
    pooled TEXT NOT NULL, duplicate_of TEXT, duplicate_similarity REAL, rank INTEGER,
    proposed INTEGER NOT NULL, status TEXT NOT NULL, edited INTEGER NOT NULL DEFAULT 0, original_text TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT NOT NULL, provenance TEXT);
CREATE INDEX IF NOT EXISTS candidates_by_job ON candidates (job_id, feature, proposed);
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, cand_id INTEGER,
    job_id INTEGER, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""

_INSERT = ("INSERT INTO candidates (job_id, feature, step, task, label, text, fields, messages, prompt, generator, "
           "params, g, threshold, span, tokens, activations, pooled, duplicate_of, duplicate_similarity, rank, "
           "proposed, provenance, status, created_at, updated_at, updated_by) VALUES "
           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, 'synthesis')")


def _add_provenance_column(db: sqlite3.Connection) -> None:
    """Stores made before steered synthesis lack the `provenance` column; their rows read as mode prompt."""
    if "provenance" in {str(row[1]) for row in db.execute("PRAGMA table_info(candidates)")}:
        return
    try:
        db.execute("ALTER TABLE candidates ADD COLUMN provenance TEXT")
    except sqlite3.OperationalError as exc:  # another process added it in between
        if "duplicate column" not in str(exc):
            raise


def now() -> str:
    """UTC timestamp, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_user() -> str:
    """Who a decision is recorded for: $FAC_USER, else the OS user."""
    return os.environ.get("FAC_USER") or os.environ.get("USER") or "user"


@dataclass(frozen=True)
class JobProgress:
    """A synthesis job as the progress panel shows it."""

    job_id: int
    state: str
    features_done: int
    features_total: int
    candidates: int
    proposed: int
    accepted: int
    rejected: int
    elapsed_s: float
    message: str

    @property
    def remaining_s(self) -> float | None:
        """Estimated seconds left (None before the first feature is done)."""
        if not self.features_done or self.state != "running":
            return None
        return self.elapsed_s / self.features_done * (self.features_total - self.features_done)

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / decided among proposed candidates (None before any decision)."""
        decided = self.accepted + self.rejected
        return self.accepted / decided if decided else None


class SynthesisStore:
    """Jobs, candidates and decisions of one project."""

    def __init__(self, project: Project) -> None:
        self.project = project
        with project.db() as db:
            db.executescript(_SCHEMA)
            _add_provenance_column(db)

    # Jobs

    def create_job(self, config: dict[str, Any], features: Sequence[int]) -> int:
        """A new queued job for `features` (in that order) with its settings; returns its id."""
        if not features:
            raise FacError("No features to synthesise for: pick missing features into the target list first.")
        with self.project.db() as db:
            cursor = db.execute("INSERT INTO synth_jobs (created_at, config, state) VALUES (?, ?, 'queued')",
                                (now(), json.dumps(config)))
            job_id = int(cursor.lastrowid or 0)
            db.executemany("INSERT INTO synth_features (job_id, feature, position, state, updated_at) "
                           "VALUES (?, ?, ?, 'pending', ?)",
                           [(job_id, int(f), i, now()) for i, f in enumerate(dict.fromkeys(features))])
            db.execute("INSERT INTO events (at, who, job_id, action) VALUES (?, ?, ?, 'job-created')",
                       (now(), default_user(), job_id))
        return job_id

    def job_config(self, job_id: int) -> dict[str, Any]:
        """A job's saved settings."""
        with self.project.db() as db:
            row = db.execute("SELECT config FROM synth_jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise FacError(f"There is no synthesis job {job_id} in project '{self.project.name}'.")
        config: dict[str, Any] = json.loads(row[0])
        return config

    def job_ids(self) -> list[int]:
        """Every job, newest first."""
        with self.project.db() as db:
            return [int(r[0]) for r in db.execute("SELECT job_id FROM synth_jobs ORDER BY job_id DESC")]

    def set_job_state(self, job_id: int, state: JobState, message: str = "", pid: int | None = None) -> None:
        """Record a job's state (and its process id while it runs)."""
        with self.project.db() as db:
            db.execute("UPDATE synth_jobs SET state = ?, message = ?, pid = COALESCE(?, pid), "
                       # a running job reports progress as 'running' again: its start stays the first one
                       "started_at = CASE WHEN ? = 'running' AND state != 'running' THEN ? ELSE started_at END, "
                       "finished_at = CASE WHEN ? IN ('done', 'failed', 'stopped') THEN ? ELSE NULL END "
                       "WHERE job_id = ?", (state, message, pid, state, now(), state, now(), job_id))

    def pending_features(self, job_id: int) -> list[int]:
        """Features of a job not finished yet, in job order."""
        with self.project.db() as db:
            rows = db.execute("SELECT feature FROM synth_features WHERE job_id = ? AND state != 'done' "
                              "ORDER BY position", (job_id,))
            return [int(r[0]) for r in rows]

    def drop_partial(self, job_id: int) -> int:
        """Delete candidates of unfinished features (a killed run's half-done work); returns how many."""
        with self.project.db() as db:
            cursor = db.execute("DELETE FROM candidates WHERE job_id = ? AND feature IN (SELECT feature FROM "
                                "synth_features WHERE job_id = ? AND state != 'done')", (job_id, job_id))
            return int(cursor.rowcount)

    def finish_feature(self, job_id: int, feature: int, candidates: Sequence[NewCandidate],
                       pair: dict[str, Any], note: str) -> None:
        """Store one feature's candidates and mark it done, in one transaction."""
        stamp = now()
        with self.project.db() as db:
            db.executemany(_INSERT, [insert_row(job_id, c, stamp) for c in candidates])
            db.execute("UPDATE synth_features SET state = 'done', pair = ?, note = ?, generated = ?, kept = ?, "
                       "updated_at = ? WHERE job_id = ? AND feature = ?",
                       (json.dumps(pair), note, len(candidates), sum(c.proposed for c in candidates), stamp,
                        job_id, feature))

    def feature_rows(self, job_id: int) -> pd.DataFrame:
        """Per-feature progress of a job: feature, state, pair (JSON), note, generated, kept."""
        with self.project.db() as db:
            return pd.read_sql_query("SELECT feature, state, pair, note, generated, kept FROM synth_features "
                                     "WHERE job_id = ? ORDER BY position", db, params=(job_id,))

    def pairs(self, job_id: int) -> dict[int, dict[str, Any]]:
        """Each finished feature's contrastive pair in a job (x_plus, x_minus: text, g, span, source)."""
        rows = self.feature_rows(job_id)
        return {int(f): json.loads(p) for f, p in zip(rows["feature"], rows["pair"], strict=True) if p}

    def anchor_fallbacks(self, job_id: int) -> set[int]:
        """Features of a job whose step-2 pair took x+ from the anchor (no step-1 candidate activated them)."""
        return {f for f, pair in self.pairs(job_id).items() if (pair.get("x_plus") or {}).get("source") == "anchor"}

    def progress(self, job_id: int) -> JobProgress:
        """How far a job is."""
        with self.project.db() as db:
            job = db.execute("SELECT state, message, started_at, finished_at FROM synth_jobs WHERE job_id = ?",
                             (job_id,)).fetchone()
            if job is None:
                raise FacError(f"There is no synthesis job {job_id} in project '{self.project.name}'.")
            done, total = db.execute("SELECT SUM(state = 'done'), COUNT(*) FROM synth_features WHERE job_id = ?",
                                     (job_id,)).fetchone()
            counts = db.execute("SELECT COUNT(*), SUM(proposed), SUM(proposed AND status = 'accepted'), "
                                "SUM(proposed AND status = 'rejected') FROM candidates WHERE job_id = ?",
                                (job_id,)).fetchone()
        start = datetime.fromisoformat(job[2]) if job[2] else None
        end = datetime.fromisoformat(job[3]) if job[3] else datetime.now(UTC)
        elapsed = (end - start).total_seconds() if start else 0.0
        n, proposed, accepted, rejected = (int(c or 0) for c in counts)
        return JobProgress(job_id, str(job[0]), int(done or 0), int(total or 0), n, proposed, accepted, rejected,
                           elapsed_s=max(0.0, elapsed), message=str(job[1] or ""))

    def job_pid(self, job_id: int) -> int | None:
        """The process id recorded for a running job."""
        with self.project.db() as db:
            row = db.execute("SELECT pid FROM synth_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # Candidates and decisions

    def candidates(self, job_id: int | None = None, proposed_only: bool = True,
                   status: Sequence[ReviewStatus] | None = None) -> list[Candidate]:
        """Candidates in review order: by job, by feature, best g first."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if job_id is not None:
            where.append("job_id = ?")
            params.append(job_id)
        if proposed_only:
            where.append("proposed = 1")
        if status:
            where.append(f"status IN ({', '.join('?' * len(status))})")
            params.extend(status)
        return self._select(f"{' AND '.join(where)} ORDER BY job_id, feature, g DESC, cand_id", params)

    def candidate(self, cand_id: int) -> Candidate:
        """One candidate (proposed or not)."""
        rows = self._select("cand_id = ?", [cand_id])
        if not rows:
            raise FacError(f"There is no candidate {cand_id} in project '{self.project.name}'.")
        return rows[0]

    def _select(self, where: str, params: Sequence[object]) -> list[Candidate]:
        with self.project.db() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT {', '.join(CANDIDATE_COLUMNS)} FROM candidates WHERE {where}", params)
            return [Candidate.from_row(r) for r in rows]

    def decide(self, cand_ids: Sequence[int], status: ReviewStatus, who: str | None = None, detail: str = "",
               job_id: int | None = None) -> None:
        """Record one review decision on candidates (see `apply`)."""
        self.apply(dict.fromkeys((int(c) for c in cand_ids), status), who, detail, job_id)

    def apply(self, decisions: Mapping[int, ReviewStatus], who: str | None = None, detail: str = "",
              job_id: int | None = None) -> None:
        """Record review decisions, all or none: every id must be a candidate proposed for review (of job
        `job_id` when given). The check and the writes are one transaction, so the audit log in `events`
        only ever holds decisions on real candidates, and a killed writer leaves nothing half-done."""
        bad = sorted({str(s) for s in decisions.values()} - set(STATUSES))
        if bad:
            raise FacError(f"Unknown review status {bad[0]!r}; use one of {', '.join(STATUSES)}.")
        who, stamp = who or default_user(), now()
        with self.project.db() as db:
            db.execute("BEGIN IMMEDIATE")  # no other writer between the check and the writes
            self._check_reviewable(db, decisions, job_id)
            db.executemany("UPDATE candidates SET status = ?, updated_at = ?, updated_by = ? WHERE cand_id = ?",
                           [(status, stamp, who, int(c)) for c, status in decisions.items()])
            crash_point("review-decide")
            db.executemany("INSERT INTO events (at, who, cand_id, job_id, action, detail) VALUES "
                           "(?, ?, ?, (SELECT job_id FROM candidates WHERE cand_id = ?), ?, ?)",
                           [(stamp, who, int(c), int(c), status, detail) for c, status in decisions.items()])

    def _check_reviewable(self, db: sqlite3.Connection, decisions: Mapping[int, ReviewStatus],
                          job_id: int | None) -> None:
        where = f"project '{self.project.name}'"
        if job_id is not None and db.execute("SELECT 1 FROM synth_jobs WHERE job_id = ?", (job_id,)).fetchone() is None:
            raise FacError(f"There is no synthesis job {job_id} in {where}.")
        rows = db.execute("SELECT cand_id, job_id, proposed FROM candidates")
        known = {int(c): (int(j), bool(p)) for c, j, p in rows}
        ids = sorted(int(c) for c in decisions)
        problems = [([c for c in ids if c not in known], f"no such candidates in {where}"),
                    ([c for c in ids if c in known and job_id is not None and known[c][0] != job_id],
                     f"they belong to other jobs than job {job_id}"),
                    ([c for c in ids if c in known and not known[c][1]],
                     "they were never proposed for review (step-1 or below-delta candidates)")]
        for wrong, why in problems:
            if wrong:
                raise FacError(f"Cannot decide on candidate{'s' if len(wrong) > 1 else ''} {_few(wrong)}: {why}; "
                               "nothing was decided.")

    def save_edit(self, cand_id: int, text: str, fields: dict[str, str], messages: list[list[str]] | None,
                  g: float, span: str, tokens: list[str], activations: list[float], pooled: SampleCodes,
                  who: str | None = None) -> None:
        """Replace a candidate's text by the reviewer's edit with its new score; status becomes `edited`. The
        fluency guard's verdict was on the generated text, so it is cleared (mode and steering stay)."""
        who, stamp = who or default_user(), now()
        made = replace(self.candidate(cand_id).provenance, perplexity=None, repetition=None, flagged=False,
                       kind=text_kind(text))
        with self.project.db() as db:
            db.execute("UPDATE candidates SET original_text = COALESCE(original_text, text), text = ?, fields = ?, "
                       "messages = ?, g = ?, span = ?, tokens = ?, activations = ?, pooled = ?, edited = 1, "
                       "duplicate_of = NULL, duplicate_similarity = NULL, provenance = ?, status = 'edited', "
                       "updated_at = ?, updated_by = ? WHERE cand_id = ?",
                       (text, json.dumps(fields), None if messages is None else json.dumps(messages), g, span,
                        json.dumps(tokens), json.dumps(activations), pooled.to_json(), made.to_json(), stamp, who,
                        cand_id))
            db.execute("INSERT INTO events (at, who, cand_id, action, detail) VALUES (?, ?, ?, 'edit', ?)",
                       (stamp, who, cand_id, f"g={g:.3f}"))

    def add_candidates(self, job_id: int, candidates: Sequence[NewCandidate]) -> list[int]:
        """Append candidates to a finished feature (Regenerate); returns their ids."""
        stamp = now()
        with self.project.db() as db:
            return [int(db.execute(_INSERT, insert_row(job_id, c, stamp)).lastrowid or 0) for c in candidates]

    def events(self, limit: int = 100) -> pd.DataFrame:
        """The latest decisions and job events, newest first."""
        with self.project.db() as db:
            return pd.read_sql_query("SELECT * FROM events ORDER BY event_id DESC LIMIT ?", db, params=(limit,))


def _few(ids: Sequence[int]) -> str:
    more = f" (+{len(ids) - SHOWN_IDS:,} more)" if len(ids) > SHOWN_IDS else ""
    return ", ".join(map(str, ids[:SHOWN_IDS])) + more
