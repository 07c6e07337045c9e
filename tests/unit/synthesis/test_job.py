"""Two-step synthesis end to end on the word-detector model: candidates, pair, labels, duplicates,
resume after a crash, decisions (also from two stores at once), edits, live FAC and export; a job run
in the background through the workspace's job runner, stopped and resumed.

Workspace (tests/app/conftest.py): anchor {the cat sat | hello world | the dog | dog dog mat |
<script>... the}, seed {the cat | the mat}; features f fire on WORDS[f] with 1 + f/2. Anchor
features {the, cat, dog, sat, mat, hello, world} = 7, seed {the, cat, mat} = 3: missing
dog(2), sat(3), hello(6), world(7).
"""

import json
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import pandas as pd
import pytest

from fac_engine.coverage.fac import CoverageConfig, feature_support
from fac_engine.errors import FacError
from fac_engine.llm.backend import BackendSpec
from fac_engine.llm.generators import GenerationConfig, TokenUsage
from fac_engine.models.spec import ModelSpec
from fac_engine.synthesis.candidates import SampleCodes
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.export import accepted_frame, with_seed, write_export
from fac_engine.synthesis.fluency import FluencyConfig
from fac_engine.synthesis.job import JobSettings, job_state, run_job, start_background, stop_background
from fac_engine.synthesis.review import accept_above, edit_candidate, live_coverage, regenerate
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.twostep import SynthesisConfig
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.jobs import job_status
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.unit.synthesis.synthesis_fixtures import PhraseGenerator, scripted_outputs, word_scorer

MISSING = [2, 3, 6, 7]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_app_workspace(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def scorer(ws: Path) -> Scorer:
    return word_scorer(ws)


def _store(ws: Path, name: str) -> SynthesisStore:
    base = Project(ws)
    project = Project(ws, name)
    project.update(**{k: getattr(base.config, k) for k in ("model", "sae", "anchor", "seed")})
    return SynthesisStore(project)


def _job(store: SynthesisStore, features: list[int], per_batch: int = 4) -> int:
    config = store.project.config
    cfg = SynthesisConfig(n_step1=3, m_step2=3, features_per_batch=per_batch, generation=GenerationConfig())
    settings = JobSettings(cfg, BackendSpec(), ModelSpec(config.model), config.sae, None, "anchor", ("seed", "anchor"))
    return store.create_job(settings.to_json_dict(), features)


def test_two_steps_propose_scored_candidates(ws: Path, scorer: Scorer) -> None:
    store = _store(ws, "flow")
    job = _job(store, MISSING)
    seen: list[tuple[int, int]] = []
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer, lambda d, t: seen.append((d, t)))
    assert seen == [(0, 4), (4, 4)]
    progress = store.progress(job)
    assert (progress.state, progress.features_done, progress.candidates, progress.proposed) == ("done", 4, 16, 4)
    proposed = store.candidates(job)
    assert {c.feature: c.g for c in proposed} == {2: 2.0, 3: 2.5, 6: 4.0, 7: 4.5}
    assert {c.feature: c.label for c in proposed} == {2: "toxic", 3: "safe", 6: "safe",
                                                      7: "safe"}
    assert {c.feature: c.text for c in proposed}[6] == "hello world !"
    dog = next(c for c in proposed if c.feature == 2)
    assert dog.step == 2 and dog.span == "the <<dog>> !" and dog.generator == "phrase-bot"
    assert dog.params["temperature"] == 0.8 and dog.pooled == SampleCodes([0, 2], [1.0, 2.0])
    assert 'phrases: "the dog"' in dog.prompt and "A GOOD example" in dog.prompt
    # Texts of under 3 words compare as word sets: "the dog !" repeats the anchor's "the dog".
    assert {c.feature: c.duplicate_of for c in proposed} == {
        2: "anchor:2", 3: "anchor:0", 6: "anchor:1", 7: "anchor:1"}
    rows = store.feature_rows(job).set_index("feature")
    # The word-detector model is random beyond its embeddings, so every text is unlikely under it.
    assert rows.loc[2, "note"] == ("2 empty or malformed outputs; 1 of 2 step-2 candidates above delta; "
                                   "4 flagged by the fluency guard; 1 near duplicates flagged")
    made = dog.provenance
    assert (made.mode, made.alpha, made.layer, made.repetition, made.flagged) == ("prompt", None, None, 0.0, True)
    assert made.perplexity is not None and made.perplexity > FluencyConfig.max_perplexity
    assert "steering" not in dog.params  # sampling parameters only
    assert '"x_minus": {"text": "cat", "g": 0.0' in rows.loc[2, "pair"]


def test_killed_job_resumes_without_duplicates(ws: Path, scorer: Scorer) -> None:
    store = _store(ws, "resume")
    job = _job(store, [2, 3], per_batch=1)
    with pytest.raises(RuntimeError, match="generator crashed"):
        run_job(store, job, Workspace(ws), PhraseGenerator(fail_on=3), scorer)  # dies in feature 3's step 1
    progress = store.progress(job)
    assert (progress.state, progress.features_done, progress.candidates) == ("failed", 1, 4)
    assert "generator crashed" in progress.message
    assert store.pending_features(job) == [3]
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    progress = store.progress(job)
    assert (progress.state, progress.features_done, progress.candidates, progress.proposed) == ("done", 2, 8, 2)


def test_decisions_edit_live_fac_and_export(ws: Path, scorer: Scorer, tmp_path: Path) -> None:
    store = _store(ws, "review")
    job = _job(store, MISSING)
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    ids = {c.feature: c.cand_id for c in store.candidates(job)}
    other = SynthesisStore(Project(ws, "review"))  # a second tab: its own connection
    threads = [threading.Thread(target=s.decide, args=([ids[f]], st)) for s, f, st in
               ((store, 2, "accepted"), (other, 6, "rejected"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    status = {c.feature: c.status for c in store.candidates(job)}
    assert status == {2: "accepted", 3: "pending", 6: "rejected", 7: "pending"}
    assert sorted(store.events()["action"])[:2] == ["accepted", "job-created"]

    assert edit_candidate(store, scorer, ids[3], "the cat sat on the mat") == 2.5
    edited = store.candidate(ids[3])
    assert (edited.status, edited.edited, edited.original_text) == ("edited", 1, "the cat sat !")
    with pytest.raises(FacError, match="not a valid query"):
        edit_candidate(store, scorer, ids[3], "   ")

    data = Workspace(ws)
    anchor = feature_support(data.open("anchor").pooled_arrays(), 0.0)
    live = live_coverage(store, data.open("seed").pooled_arrays(), anchor, CoverageConfig())
    assert (live.before.fac, live.after.fac, live.accepted) == (3 / 7, 4 / 7, 1)
    assert accept_above(store, job, 4.0) == [ids[7]]  # g 4.5 > 4; feature 3's edit (2.5) stays
    live = live_coverage(store, data.open("seed").pooled_arrays(), anchor, CoverageConfig())
    assert live.after.fac == 6 / 7 and live.after.missing == [3]  # "hello world !" covers 6 and 7

    frame = accepted_frame(store, job)
    assert list(frame["text"]) == ["the dog !", "hello world !"]
    assert list(frame["label"]) == ["toxic", "safe"] and list(frame["feature"]) == [2, 7]
    merged = with_seed(frame, data.open("seed"))
    assert list(merged["source"]) == ["seed:seed", "seed:seed", "fac-synthesis", "fac-synthesis"]
    for suffix, kind in ((".jsonl", "json"), (".csv", "csv"), (".parquet", "parquet")):
        path = tmp_path / f"out{suffix}"
        write_export(merged, path)
        loaded = datasets.load_dataset(kind, data_files=str(path), split="train")
        assert loaded.num_rows == 4 and loaded["text"] == ["the cat", "the mat", "the dog !", "hello world !"]
    assert list(pd.read_parquet(tmp_path / "out.parquet")["g"].isna()) == [True, True, False, False]
    with pytest.raises(FacError, match=r"ending in \.jsonl"):
        write_export(merged, tmp_path / "out.xlsx")
    with pytest.raises(FacError, match="no accepted samples"):
        write_export(accepted_frame(_store(ws, "empty")), tmp_path / "none.jsonl")


class _Step1Only(PhraseGenerator):
    """Hits the feature in step 1 only: step-2 prompts (with the GOOD example) get 'cat'."""

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        out = super().generate(prompts, n, cfg)
        return [["cat"] * n if "A GOOD example" in p else o for p, o in zip(prompts, out, strict=True)]


def test_step1_candidates_are_proposed_when_step2_misses(ws: Path, scorer: Scorer) -> None:
    store = _store(ws, "fallback")
    job = _job(store, [2])
    run_job(store, job, Workspace(ws), _Step1Only(), scorer)
    proposed = store.candidates(job)
    assert [[c.step, c.text, c.g] for c in proposed] == [[1, "the dog !", 2.0]]
    note = store.feature_rows(job)["note"][0]
    assert "0 of 3 step-2 candidates above delta; step-1 candidates above delta proposed instead" in note
    assert len(store.candidates(job, proposed_only=False)) == 5  # 2 parsed in step 1, 3 in step 2


def test_regenerate_replaces_the_candidate(ws: Path, scorer: Scorer) -> None:
    store = _store(ws, "regen")
    job = _job(store, [2])
    run_job(store, job, Workspace(ws), PhraseGenerator(), scorer)
    old = store.candidates(job)[0].cand_id
    cfg = JobSettings.from_json_dict(store.job_config(job)).synthesis
    new = regenerate(store, old, PhraseGenerator(), scorer, cfg)
    assert new is not None and new != old
    assert store.candidate(old).status == "rejected" and store.events()["detail"][0] == "regenerated"
    fresh = store.candidate(new)
    assert (fresh.status, fresh.g, fresh.proposed, fresh.feature) == ("pending", 2.0, 1, 2)
    assert regenerate(store, new, _Step1Only(), scorer, cfg) is None  # the step-2 prompt now yields only "cat"
    assert store.candidate(new).status == "pending"


class _HeldEndpoint(BaseHTTPRequestHandler):
    """Answers like PhraseGenerator, but only once the server's `release` event is set."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.asked.set()  # type: ignore[attr-defined]
        self.server.release.wait(120)  # type: ignore[attr-defined]
        outputs = scripted_outputs(body["messages"][0]["content"], body["n"])
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"choices": [{"message": {"content": o}} for o in outputs]}).encode())
        except OSError:
            pass  # the stopped job hung up

    def log_message(self, *_: object) -> None:
        pass


def _until(predicate: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_background_job_stops_and_resumes_through_the_runner(tmp_path: Path) -> None:
    ws = build_app_workspace(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeldEndpoint)
    server.daemon_threads = True
    server.asked, server.release = threading.Event(), threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = SynthesisStore(Project(ws))
        cfg = Project(ws).config
        backend = BackendSpec(kind="openai", model="m", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
        settings = JobSettings(SynthesisConfig(n_step1=3, m_step2=3), backend, ModelSpec(cfg.model, device="cpu"),
                               cfg.sae, None, "anchor", ("seed", "anchor"))
        job = store.create_job(settings.to_json_dict(), [2, 6])
        start_background(ws, "default", job)
        _until(server.asked.is_set, "the job's first request")  # type: ignore[attr-defined]
        assert job_state(ws, store, job) == "running" and store.progress(job).state == "running"
        assert stop_background(ws, "default", job)
        _until(lambda: job_state(ws, store, job) != "running", "the job to stop")
        progress = store.progress(job)
        assert (job_state(ws, store, job), progress.state, progress.message) == (
            "stopped", "stopped", "stopped on request; start it again to resume")
        server.release.set()  # type: ignore[attr-defined]
        start_background(ws, "default", job)
        _until(lambda: job_state(ws, store, job) != "running", "the resumed job to finish")
        assert job_state(ws, store, job) == "done" and store.progress(job).features_done == 2
        _until(lambda: job_status(ws, "default-1", "synthesis").state != "running",  # type: ignore[union-attr]
               "the runner to record the exit code")
        status = job_status(ws, "default-1", "synthesis")
        assert status is not None and (status.state, status.done, status.total, status.unit) == (
            "done", 2, 2, "features")
        assert not stop_background(ws, "default", job)  # nothing runs any more
    finally:
        server.shutdown()


class _Metered(PhraseGenerator):
    """PhraseGenerator counting one request of 10 prompt and 3 completion tokens per prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.usage = TokenUsage()

    def generate(self, prompts: Sequence[str], n: int, cfg: GenerationConfig) -> list[list[str]]:
        self.usage = self.usage.plus(len(prompts), 10 * len(prompts), 3 * n * len(prompts))
        return super().generate(prompts, n, cfg)


def test_the_job_records_this_runs_token_usage(ws: Path, scorer: Scorer) -> None:
    store = _store(ws, "usage")
    job = _job(store, [2, 3])
    generator = _Metered()
    generator.usage = TokenUsage(5, 50, 50)  # used before the job: not the job's
    run_job(store, job, Workspace(ws), generator, scorer)
    # 2 features: step 1 one prompt each (n=3), step 2 one prompt each (m=3): 4 prompts, 12 samples.
    assert store.progress(job).message == ("2 of 2 features done; generator: 4 requests, 40 prompt + 36 completion "
                                           "tokens")
