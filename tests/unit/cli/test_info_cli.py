"""`fac info --sae`: the SAE's L0 measured on the model it fits, or its config's figure where it does not."""

import json
from pathlib import Path

import pytest

from fac_engine.cli import main
from fac_engine.sae.formats.fac import save_sae
from tests.unit.sae.test_l0 import wide_relu_sae


def test_info_measures_the_l0_of_an_sae_that_fits(tiny_model_dir: Path, tmp_path: Path, fac_home: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    save_sae(wide_relu_sae(max_active=100), tmp_path / "sae")
    args = ["info", "--sae", str(tmp_path / "sae"), "--model", str(tiny_model_dir), "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)["sae"]
    measured = facts["measured"]
    assert (facts["activation"], facts["d_sae"], facts["max_active"]) == ("relu", 512, 100)
    assert measured["tokens"] > 200 and measured["mean"] > 64 and measured["cap_dropped_share"] > 0

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sparse codes keep at most 100 per token (max_active; the rest is counted)" in out
    assert (f"L0 on {measured['tokens']} tiny-llama tokens: mean {measured['mean']:.1f}, median "
            f"{measured['median']:.0f}, max {measured['max']}; the cap drops "
            f"{100 * measured['cap_dropped_share']:.1f} % of them") in out


def test_info_falls_back_to_the_config_l0(tiny_model_dir: Path, tmp_path: Path, fac_home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    save_sae(wide_relu_sae(d_in=16), tmp_path / "sae")
    assert main(["info", "--sae", str(tmp_path / "sae"), "--model", str(tiny_model_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "sparse codes keep every active feature" in out
    assert "L0 (from the SAE's config): 250.0" in out
    assert "not measured: The SAE reads d_in=16 but the model's hidden size is 64" in out
