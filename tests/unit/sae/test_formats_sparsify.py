"""EleutherAI sparsify folders: codes equal relu((x - b_dec) @ encoder.weight.T + bias), top-k."""

from pathlib import Path

import numpy as np
import pytest

from fac_engine.errors import FacError
from fac_engine.sae.load import detect_format, load_sae
from tests.unit.sae.conftest import (
    D_IN,
    D_SAE,
    Arrays,
    assert_clear_of_ties,
    assert_parity,
    inputs,
    ref_topk,
    sparsify_arrays,
    sparsify_cfg,
    write_sparsify,
)


def ref_codes(raw: Arrays, x: np.ndarray, k: int) -> np.ndarray:
    """sparsify SparseCoder.encode: x - b_dec, linear, relu, then the top k."""
    x_in = x.astype(np.float64) - raw["b_dec"]
    pre = np.maximum(x_in @ raw["encoder.weight"].astype(np.float64).T + raw["encoder.bias"], 0.0)
    assert_clear_of_ties(pre, k)
    return ref_topk(pre, k)


def test_topk_parity(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = sparsify_arrays(rng)
    folder = write_sparsify(tmp_path / "layers.6", sparsify_cfg(), raw)
    x = inputs(rng)

    sae = load_sae(folder)

    assert detect_format(folder) == "sparsify"
    assert (sae.cfg.activation, sae.cfg.k, sae.cfg.hook_layer) == ("topk", 6, 7)
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.apply_b_dec_to_input) == (D_IN, D_SAE, True)
    assert sae.cfg.source_format == "sparsify"
    assert_parity(sae, x, ref_codes(raw, x, 6))


def test_num_latents_zero_means_expansion_factor(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = sparsify_arrays(rng, d_sae=D_IN * 4)
    folder = write_sparsify(tmp_path / "layers.0", sparsify_cfg(num_latents=0, expansion_factor=4), raw)
    assert load_sae(folder).cfg.d_sae == D_IN * 4


def test_num_latents_disagreeing_with_tensors_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_sparsify(tmp_path / "layers.0", sparsify_cfg(num_latents=D_SAE * 2), sparsify_arrays(rng))
    with pytest.raises(FacError, match=r"sae\.safetensors.*'W_enc' has shape \[16, 64\], expected \[16, 128\]"):
        load_sae(folder)


def test_run_folder_needs_a_choice_and_hook_layer_picks_it(tmp_path: Path, rng: np.random.Generator) -> None:
    run = tmp_path / "run"
    raws = {layer: sparsify_arrays(rng) for layer in (3, 10)}
    for layer, raw in raws.items():
        write_sparsify(run / f"layers.{layer}", sparsify_cfg(), raw)
    (run / "config.json").write_text("{}", encoding="utf-8")  # sparsify's TrainConfig sits beside them

    assert detect_format(run) == "sparsify"
    with pytest.raises(FacError, match=r"layers\.3 \(hook_layer=4\), layers\.10 \(hook_layer=11\)"):
        load_sae(run)
    with pytest.raises(FacError, match="no SAE for hook_layer=5"):
        load_sae(run, hook_layer=5)

    sae = load_sae(run, hook_layer=11)
    x = inputs(rng)
    assert sae.cfg.hook_layer == 11
    assert_parity(sae, x, ref_codes(raws[10], x, 6))


def test_run_folder_with_one_hookpoint_loads_it(tmp_path: Path, rng: np.random.Generator) -> None:
    write_sparsify(tmp_path / "run" / "layers.2", sparsify_cfg(), sparsify_arrays(rng))
    assert load_sae(tmp_path / "run").cfg.hook_layer == 3


@pytest.mark.parametrize(
    ("folder_name", "changes", "message"),
    [
        ("layers.1", {"transcode": True}, "transcoder"),
        ("layers.1", {"activation": "groupmax"}, "groupmax"),
        ("layers.1", {"skip_connection": True}, "skip connection"),
        ("layers.1.mlp", {}, "not the residual stream"),
        ("my_sae", {}, "pass hook_layer"),
    ],
)
def test_refusals(
    tmp_path: Path, rng: np.random.Generator, folder_name: str, changes: dict[str, object], message: str
) -> None:
    folder = write_sparsify(tmp_path / folder_name, sparsify_cfg(**changes), sparsify_arrays(rng))
    with pytest.raises(FacError, match=message):
        load_sae(folder)


def test_unnamed_folder_loads_with_hook_layer(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_sparsify(tmp_path / "my_sae", sparsify_cfg(), sparsify_arrays(rng))
    assert load_sae(folder, hook_layer=2).cfg.hook_layer == 2
