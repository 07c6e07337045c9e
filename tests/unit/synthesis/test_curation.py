"""The curation store (candidates from `hand_store` in tests/unit/synthesis/synthesis_fixtures.py): typed
candidates, decisions only on candidates that exist and are proposed (all or none, the audit log included),
and concurrent writers of which one is killed -9 (one between decisions, one inside a decision's
transaction): nothing lost, nothing duplicated, nothing half-written.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fac_engine.atomic import CRASH_ENV
from fac_engine.errors import FacError
from fac_engine.synthesis.candidates import Candidate, Provenance, SampleCodes
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.export import accepted_frame
from fac_engine.synthesis.review import RoleBreaks, role_breaks
from fac_engine.workspace.project import Project
from tests.unit.synthesis.synthesis_fixtures import hand_candidate, hand_store

ROOT = Path(__file__).resolve().parents[3]


def _events(store: SynthesisStore) -> list[tuple[str, int, int, str]]:
    with store.project.db() as db:
        rows = db.execute("SELECT who, cand_id, job_id, action FROM events WHERE cand_id IS NOT NULL "
                          "ORDER BY event_id")
        return [(str(w), int(c), int(j), str(a)) for w, c, j, a in rows]


def test_candidates_are_typed(tmp_path: Path) -> None:
    store = hand_store(tmp_path, [[2, 3]])
    proposed = store.candidates()
    assert [(c.cand_id, c.feature, c.text, c.status, c.proposed) for c in proposed] == [
        (1, 2, "f2 c0", "pending", True), (3, 3, "f3 c0", "pending", True)]
    hidden = store.candidate(2)
    assert isinstance(hidden, Candidate) and (hidden.step, hidden.proposed, hidden.g) == (1, False, 0.5)
    assert hidden.pooled == SampleCodes([2], [2.0]) and hidden.fields == {"text": "f2 hidden"}
    assert [c.cand_id for c in store.candidates(proposed_only=False, status=["pending"])] == [1, 2, 3, 4]
    with pytest.raises(FacError, match=r"^There is no candidate 99 in project 'default'\.$"):
        store.candidate(99)


def test_provenance_is_stored_and_an_edit_clears_the_fluency_verdict(tmp_path: Path) -> None:
    store = SynthesisStore(Project(tmp_path))
    job = store.create_job({"settings": "none"}, [2])
    made = Provenance("steer", 0.5, 15, 123.45, 0.25, True)
    store.finish_feature(job, 2, [replace(hand_candidate(2, "dog dog", True), provenance=made)], pair={}, note="")
    assert store.candidate(1).provenance == made
    assert made.describe() == "mode steer, steered at α 0.5 on layer 15 · perplexity 123.5, repeated 3-grams 25%"
    store.save_edit(1, "a dog", {"text": "a dog"}, None, 2.0, "a <<dog>>", ["a", "dog"], [0.0, 2.0],
                    SampleCodes([2], [2.0]))
    assert store.candidate(1).provenance == Provenance("steer", 0.5, 15)
    assert Provenance("prompt", kind="refusal").describe() == "mode prompt · reads as a refusal"
    store.save_edit(1, "Here is a dog", {"text": "Here is a dog"}, None, 2.0, "a <<dog>>", ["a", "dog"], [0.0, 2.0],
                    SampleCodes([2], [2.0]))
    assert store.candidate(1).provenance == Provenance("steer", 0.5, 15, kind="meta")  # judged on the edited text
    assert Provenance().describe() == "mode prompt"


def test_a_store_made_before_provenance_reads_as_prompted(tmp_path: Path) -> None:
    store = hand_store(tmp_path, [[2]])
    with store.project.db() as db:
        db.execute("ALTER TABLE candidates DROP COLUMN provenance")
    again = SynthesisStore(store.project)  # adds the column back, empty
    assert [c.provenance for c in again.candidates(proposed_only=False)] == [Provenance(), Provenance()]
    again.finish_feature(1, 2, [replace(hand_candidate(2, "x", True), provenance=Provenance("both", 1.0, 3))],
                         pair={}, note="")
    assert again.candidate(3).provenance == Provenance("both", 1.0, 3)


def test_decisions_are_logged_with_their_job(tmp_path: Path) -> None:
    store = hand_store(tmp_path, [[2, 3], [6]])
    store.apply({1: "accepted", 5: "rejected"}, who="ann")
    assert [(c.cand_id, c.status, c.updated_by) for c in store.candidates()] == [
        (1, "accepted", "ann"), (3, "pending", "synthesis"), (5, "rejected", "ann")]
    assert _events(store) == [("ann", 1, 1, "accepted"), ("ann", 5, 2, "rejected")]


@pytest.mark.parametrize(("decisions", "job", "message"), [
    ({1: "accepted", 99999: "accepted"}, None,
     "Cannot decide on candidate 99999: no such candidates in project 'default'; nothing was decided."),
    (dict.fromkeys(range(1, 100001), "accepted"), None,
     "Cannot decide on candidates 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 (+99,984 more): no such candidates"),
    ({1: "accepted", 5: "accepted"}, 1, "Cannot decide on candidate 5: they belong to other jobs than job 1;"),
    ({2: "rejected"}, None, "Cannot decide on candidate 2: they were never proposed for review"),
    ({1: "accepted"}, 9, "There is no synthesis job 9 in project 'default'."),
    ({1: "bogus"}, None, "Unknown review status 'bogus'; use one of pending, accepted, rejected, edited."),
])
def test_nothing_is_decided_on_what_is_not_reviewable(tmp_path: Path, decisions: dict, job: int | None,  # type: ignore[type-arg]
                                                      message: str) -> None:
    store = hand_store(tmp_path, [[2, 3], [6]])
    with pytest.raises(FacError) as caught:
        store.apply(decisions, job_id=job)
    assert str(caught.value).startswith(message)
    assert {c.status for c in store.candidates(proposed_only=False)} == {"pending"} and _events(store) == []


_WRITER = """
import sys, time
from pathlib import Path
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.workspace.project import Project
ws, status, who, ids, batch = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "batch"
store = SynthesisStore(Project(Path(ws)))
ids = [int(i) for i in ids.split(",")]
for group in ([ids] if batch else [[i] for i in ids]):
    store.decide(group, status, who=who)
    print(group[-1], flush=True)
    time.sleep(0.05)
"""


def _writer(ws: Path, status: str, who: str, ids: list[int], batch: bool = False,
            crash: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)} | ({CRASH_ENV: crash} if crash else {})
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(ws), status, who, ",".join(map(str, ids)),
                             "batch" if batch else "one"], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_concurrent_writers_with_one_killed(tmp_path: Path) -> None:
    store = hand_store(tmp_path, [[2, 3, 4, 5]], per_feature=10)  # candidate ids: 11 per feature, the 11th hidden
    proposed = [c.cand_id for c in store.candidates()]
    a, b, c, d = proposed[:10], proposed[10:20], proposed[20:30], proposed[30:40]
    killed_inside = _writer(tmp_path, "rejected", "dee", d, batch=True, crash="review-decide")
    writers = [_writer(tmp_path, "accepted", "ann", a), _writer(tmp_path, "rejected", "bob", b)]
    killed_between = _writer(tmp_path, "accepted", "cy", c)
    assert killed_between.stdout is not None
    reported = [int(killed_between.stdout.readline()) for _ in range(3)]  # three decisions are committed
    killed_between.send_signal(signal.SIGKILL)
    assert killed_between.wait() == -signal.SIGKILL and killed_inside.wait() == -signal.SIGKILL
    assert [w.wait() for w in writers] == [0, 0]

    with sqlite3.connect(store.project.folder / "curation.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    status = {x.cand_id: x.status for x in store.candidates()}
    events = _events(store)
    assert [status[i] for i in a] == ["accepted"] * 10 and [status[i] for i in b] == ["rejected"] * 10
    assert [status[i] for i in d] == ["pending"] * 10  # killed between its update and its log: rolled back
    cy = [i for i in c if status[i] == "accepted"]
    assert cy == c[: len(cy)] and reported == c[:3] and len(cy) >= 3  # a prefix, all it reported and maybe one more
    assert [(w, i) for w, i, _, _ in events if w == "cy"] == [("cy", i) for i in cy]
    by = {who: sorted(i for w, i, _, _ in events if w == who) for who in ("ann", "bob")}
    assert by == {"ann": a, "bob": b}
    assert len({i for _, i, _, _ in events}) == len(events) == 20 + len(cy)  # one event per decided candidate
    assert not any(w == "dee" for w, _, _, _ in events)


def test_role_breaks_count_refusals_and_meta_text_of_a_job(tmp_path: Path) -> None:
    store = SynthesisStore(Project(tmp_path))
    job = store.create_job({"settings": "none"}, [2])
    texts = {"I'm sorry, I can't": "refusal", "Here is a query: hi": "meta", "hi there": "sample", "hey": "sample"}
    store.finish_feature(job, 2, [replace(hand_candidate(2, t, i == 0), provenance=Provenance(kind=k))  # type: ignore[arg-type]
                                  for i, (t, k) in enumerate(texts.items())], pair={}, note="")
    breaks = role_breaks(store, job)
    assert (breaks, breaks.share) == (RoleBreaks(4, 1, 1), 0.5)
    assert role_breaks(store, store.create_job({"settings": "none"}, [3])).share == 0.0


def test_anchor_fallbacks_are_kept_apart_in_the_export(tmp_path: Path) -> None:
    store = SynthesisStore(Project(tmp_path))
    job = store.create_job({"settings": "none"}, [2, 3])
    store.finish_feature(job, 2, [hand_candidate(2, "a dog", True)], note="",
                         pair={"x_plus": {"text": "top", "g": 3.0, "span": "", "source": "anchor"}, "x_minus": {}})
    store.finish_feature(job, 3, [hand_candidate(3, "a cat", True)], note="",
                         pair={"x_plus": {"text": "cat", "g": 2.0, "span": "", "source": "step 1"}, "x_minus": {}})
    assert store.anchor_fallbacks(job) == {2}
    store.decide([1, 2], "accepted")
    frame = accepted_frame(store)
    assert dict(zip(frame["feature"], frame["x_plus_from_anchor"], strict=True)) == {2: True, 3: False}


def test_progress_updates_keep_the_start_of_a_running_job(tmp_path: Path) -> None:
    store = SynthesisStore(Project(tmp_path))
    job = store.create_job({"settings": "none"}, [2])
    store.set_job_state(job, "running", "starting")
    with store.project.db() as db:
        db.execute("UPDATE synth_jobs SET started_at = '2026-01-01T00:00:00+00:00' WHERE job_id = ?", (job,))
    store.set_job_state(job, "running", "1 of 2 features done")
    store.set_job_state(job, "done", "2 of 2 features done")
    with store.project.db() as db:
        started, = db.execute("SELECT started_at FROM synth_jobs WHERE job_id = ?", (job,)).fetchone()
    assert started == "2026-01-01T00:00:00+00:00" and store.progress(job).elapsed_s > 3600
    store.set_job_state(job, "running", "resumed")  # a resumed job starts a new run
    assert store.progress(job).elapsed_s < 3600
