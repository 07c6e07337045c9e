"""`fac synthesize --backend openai --concurrency 16` against a real OpenAI-compatible server:
llama-cpp-python's, serving the embedded SmolLM2 GGUF (a real model's completions, HTTP, JSON, usage).

Scoring uses the word-detector model of tests/app/conftest.py, so only the generator is real here.
llama.cpp's server returns one choice whatever `n` asks: every sample is its own request.
"""

import re
from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.llm.llama_server import llama_server, llama_server_available
from fac_engine.models.embedded import embedded_gguf_path
from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.workspace.project import Project
from tests.app.conftest import build_app_workspace

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not llama_server_available(),
                                 reason="llama-cpp-python[server] is not installed (pip install -r "
                                        "requirements-server.txt; it compiles from source)")]


def test_synthesize_against_llama_cpp_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = build_app_workspace(tmp_path)
    cfg = Project(ws).config
    with llama_server(embedded_gguf_path(), log=tmp_path / "server.log") as url:
        code = main(["synthesize", "--backend", "openai", "--base-url", url, "--gen-model", "smollm2",
                     "--concurrency", "16", "--features", "2,6", "--n-step1", "3", "--m-step2", "3",
                     "--max-new-tokens", "24", "--retries", "1", "--workspace", str(ws), "--model", cfg.model,
                     "--sae", cfg.sae, "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    store = SynthesisStore(Project(ws))
    progress = store.progress(1)
    assert (progress.state, progress.features_done) == ("done", 2)
    # Outputs a real model leaves empty or malformed are counted in the feature notes, not stored.
    notes = " ".join(store.feature_rows(1)["note"].astype(str))
    malformed = sum(int(n) for n in re.findall(r"(\d+) empty or malformed outputs", notes))
    assert progress.candidates >= 1 and progress.candidates + malformed <= 2 * (3 + 3), notes
    candidates = store.candidates(1, proposed_only=False)
    assert len(candidates) == progress.candidates and {c.generator for c in candidates} == {f"smollm2@{url}"}
    assert all(isinstance(c.text, str) for c in candidates)
    # Every sample asked for was requested, one request per sample (the server ignores n), with the tokens the
    # server counted.
    line = next(x for x in out.splitlines() if x.startswith(f"generator openai:smollm2@{url}: "))
    found = re.search(r": ([\d,]+) requests, ([\d,]+) prompt \+ ([\d,]+) completion tokens$", line)
    assert found is not None, line
    requests, prompt_tokens, completion_tokens = (int(g.replace(",", "")) for g in found.groups())
    assert requests == 2 * (3 + 3) and prompt_tokens > 0 and completion_tokens > 0
    assert f"generator: {requests} requests" in progress.message
