"""`fac encode` says whether every active SAE feature reached the store, and warns with the count when not."""

import json
from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.sae.formats.fac import save_sae
from fac_engine.workspace.datasets import Workspace
from tests.unit.sae.test_l0 import wide_relu_sae


@pytest.mark.parametrize("cap", [None, 40])
def test_encode_reports_dropped_activations(tiny_model_dir: Path, tmp_path: Path, cap: int | None,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["the cat sat", "hello world", "the dog"]),
                    encoding="utf-8")
    save_sae(wide_relu_sae(max_active=cap), tmp_path / "sae")
    ws = tmp_path / "ws"
    assert main(["encode", str(data), "--name", "d", "--model", str(tiny_model_dir), "--sae", str(tmp_path / "sae"),
                 "--workspace", str(ws), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    manifest = Workspace(ws).manifest("d")
    assert manifest is not None
    if cap is None:
        assert manifest.dropped_activations == 0
        assert "SAE codes: every active feature of every token is stored (0 dropped)." in out
        assert "warning" not in err
    else:
        assert manifest.dropped_activations > 0
        assert (f"warning: the SAE's max_active cap (40 per token) dropped {manifest.dropped_activations:,} active "
                "features; coverage, statistics and the explorer miss them.") in err
        assert main(["datasets", "--workspace", str(ws)]) == 0
        assert f"warning: {manifest.dropped_activations:,} active features dropped" in capsys.readouterr().out
