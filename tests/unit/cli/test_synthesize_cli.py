"""The headless path: `fac synthesize` against an OpenAI-compatible endpoint, `fac review`, `fac export`
(with --merge-seed and --encode-as), then `fac coverage` of the exported set; plus the failure modes
(endpoint down, empty list, unknown job) and resuming a job.

Workspace and expected values as in tests/unit/synthesis/test_job.py: seed FAC 3/7, missing
dog(2), sat(3), hello(6), world(7); the fake endpoint answers like PhraseGenerator.
"""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import datasets
import pandas as pd
import pytest

from fac_engine.cli import main
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace
from tests.conftest import TINY_HIDDEN
from tests.unit.cli.user_errors import assert_user_error
from tests.unit.encode_fixtures import FIRST_ID, WORDS, build_detector_sae
from tests.unit.synthesis.synthesis_fixtures import scripted_outputs


class _Endpoint(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        outputs = scripted_outputs(body["messages"][0]["content"], body["n"])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps({"choices": [{"message": {"content": o}} for o in outputs]}).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build_app_workspace(tmp_path)


def _common(ws: Path) -> list[str]:
    cfg = Project(ws).config
    return ["--workspace", str(ws), "--model", cfg.model, "--sae", cfg.sae, "--device", "cpu"]


def _synthesize(ws: Path, url: str, *extra: str) -> int:
    return main(["synthesize", "--backend", "openai", "--base-url", url, "--gen-model", "m", "--n-step1", "3",
                 "--m-step2", "3", *_common(ws), *extra])


def test_headless_synthesize_review_export(ws: Path, endpoint: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _synthesize(ws, endpoint, "--features", "2,3,6,7") == 0
    out = capsys.readouterr().out
    assert "job 1 done: 4 features, 16 candidates scored, 4 proposed for review" in out
    assert main(["review", "--workspace", str(ws), "--accept-above", "2.2"]) == 0
    assert "accepted 3 candidates with g > 2.2" in capsys.readouterr().out
    ids = {c.feature: c.cand_id for c in SynthesisStore(Project(ws)).candidates()}
    assert main(["review", "--workspace", str(ws), "--reject", str(ids[3]), "--status", "rejected"]) == 0
    listing = capsys.readouterr().out
    assert f"#{ids[3]:<5} rejected  feature 3" in listing and listing.strip().endswith("1 candidates: rejected 1")

    out_file = tmp_path / "accepted.parquet"
    assert main(["export", str(out_file), "--merge-seed", "--encode-as", "after", *_common(ws)]) == 0
    assert "wrote 4 rows (2 accepted samples)" in capsys.readouterr().out
    frame = pd.read_parquet(out_file)
    assert frame["text"].tolist() == ["the cat", "the mat", "hello world !", "hello world !"]
    assert frame["source"].tolist() == ["seed:seed", "seed:seed", "fac-synthesis", "fac-synthesis"]
    assert frame["generator"].tolist()[2:] == [f"m@{endpoint}"] * 2
    assert json.loads(frame["made"].tolist()[2])["mode"] == "prompt"
    assert datasets.load_dataset("parquet", data_files=str(out_file), split="train").num_rows == 4
    capsys.readouterr()
    assert main(["coverage", "--anchor", "anchor", "--seed", "after", "--json", "--workspace", str(ws)]) == 0
    after = json.loads(capsys.readouterr().out)
    assert Workspace(ws).manifest("after").label_field == "label"  # ready for `fac evaluate`
    assert after["fac"] == pytest.approx(5 / 7) and after["missing"] == [2, 3]  # 2 was never accepted (g 2.0)


def test_failures_are_clear_and_jobs_resume(ws: Path, endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    assert _synthesize(ws, dead, "--features", "2", "--retries", "0") == 2
    assert "Cannot reach the generator endpoint" in capsys.readouterr().err
    store = SynthesisStore(Project(ws))
    assert store.progress(1).state == "failed"
    assert main(["synthesize", "--resume", *_common(ws)]) == 2  # the saved settings still name the dead endpoint
    assert "Cannot reach" in capsys.readouterr().err
    assert _synthesize(ws, endpoint) == 2
    assert "feature list 'selected' of project 'default' is empty" in capsys.readouterr().err
    assert main(["synthesize", "--job", "9", *_common(ws)]) == 2
    assert "There is no synthesis job 9" in capsys.readouterr().err
    assert main(["export", "x.jsonl", "--workspace", str(ws)]) == 2
    assert "no accepted samples" in capsys.readouterr().err


def test_synthesize_mode_and_fluency_options_reach_the_job(ws: Path, endpoint: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["synthesize", "--features", "2", "--mode", "steer", "--alphas", "0.5, 8", "--n-step1", "2", "--m-step2",
            "2", "--max-new-tokens", "2", "--max-perplexity", "500", "--drop-flagged", *_common(ws)]
    assert main(argv) == 0
    assert "mode steer" in capsys.readouterr().out
    store = SynthesisStore(Project(ws))
    saved = store.job_config(1)["synthesis"]
    assert (saved["mode"], saved["steering"]["alphas"], saved["fluency"]) == (
        "steer", [0.5, 8.0], {"max_perplexity": 500.0, "max_repetition": 0.3, "drop_flagged": True})
    made = [c.provenance for c in store.candidates(1, proposed_only=False)]
    assert {(m.mode, m.layer) for m in made} == {("steer", 0)} and {m.alpha for m in made} <= {0.5, 8.0}
    assert saved["prefill"] is True and {m.prefill for m in made} == {"Query:"}  # the local generator: pre-filled
    assert main(["review", "--workspace", str(ws), "--status", "pending"]) == 0
    assert "[steered at alpha 8 on layer 0]" in capsys.readouterr().out
    assert _synthesize(ws, endpoint, "--features", "2", "--no-prefill") == 0
    assert store.job_config(2)["synthesis"]["prefill"] is False
    assert {c.provenance.prefill for c in store.candidates(2, proposed_only=False)} == {""}
    assert _synthesize(ws, endpoint, "--features", "2", "--mode", "both") == 2
    assert "an HTTP endpoint cannot be steered" in capsys.readouterr().err
    assert _synthesize(ws, endpoint, "--features", "2", "--mode", "steer", "--alphas", "1,x") == 2
    assert "argument --alphas: '1,x' is not a comma-separated list of numbers" in capsys.readouterr().err


def test_the_projects_synthesis_mode_is_the_default_where_the_generator_can_be_steered(
        ws: Path, endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    Project(ws).update(synthesis_mode="both")
    local = ["synthesize", "--features", "2", "--n-step1", "3", "--m-step2", "2", "--max-new-tokens", "2", *_common(ws)]
    assert main(local) == 0  # the local generator is the SAE's own model: steered
    assert "mode both" in capsys.readouterr().out
    assert _synthesize(ws, endpoint, "--features", "2") == 0  # an endpoint cannot be steered: prompted, and said
    assert ("project 'default' synthesises in mode both, which steers the SAE's own model; the generator "
            f"openai:m@{endpoint} cannot be steered, so this job prompts (mode prompt; --mode to choose)"
            ) in capsys.readouterr().out
    assert _synthesize(ws, endpoint, "--features", "2", "--mode", "steer") == 2  # asked for: refused, not changed
    assert "an HTTP endpoint cannot be steered" in capsys.readouterr().err
    store = SynthesisStore(Project(ws))
    assert [store.job_config(j)["synthesis"]["mode"] for j in (1, 2)] == ["both", "prompt"]


def test_synthesize_and_export_score_with_the_projects_sae_by_default(ws: Path, endpoint: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # No --sae: the project's SAE (the word detector), not the embedded one, whose features are other features.
    cfg = Project(ws).config
    no_sae = ["--workspace", str(ws), "--model", cfg.model, "--device", "cpu"]
    assert main(["synthesize", "--backend", "openai", "--base-url", endpoint, "--gen-model", "m", "--n-step1", "3",
                 "--m-step2", "3", "--features", "2,3,6,7", *no_sae]) == 0
    assert "job 1 done: 4 features, 16 candidates scored, 4 proposed for review" in capsys.readouterr().out
    assert SynthesisStore(Project(ws)).job_config(1)["sae"] == cfg.sae
    assert main(["review", "--workspace", str(ws), "--accept-above", "2.2"]) == 0
    assert main(["export", str(tmp_path / "a.jsonl"), "--encode-as", "after", *no_sae]) == 0
    assert Workspace(ws).manifest("after").sae == Workspace(ws).manifest("anchor").sae


def test_scoring_with_another_sae_than_the_anchors_is_refused(ws: Path, endpoint: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Same model and width, other weights: feature i of this SAE is not the anchor's feature i.
    other = build_detector_sae(tmp_path / "other-sae", TINY_HIDDEN, [[FIRST_ID + f] for f in range(len(WORDS))],
                               [1.0] * len(WORDS))
    cfg = Project(ws).config
    code = main(["synthesize", "--backend", "openai", "--base-url", endpoint, "--gen-model", "m", "--features", "2",
                 "--workspace", str(ws), "--model", cfg.model, "--sae", str(other), "--device", "cpu"])
    assert_user_error(capsys, code, "'anchor' was encoded with another SAE", f"SAE {cfg.sae})",
                      "score with the model and SAE it was encoded with")
