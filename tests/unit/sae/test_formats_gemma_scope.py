"""Gemma Scope folders, v1 `params.npz` and Gemma Scope 2 `params.safetensors`: parity and refusals.

Reference encode (docs/SAE_FORMATS.md; SAELens get_gemma_2_config_from_hf sets apply_b_dec_to_input False):
pre = x @ W_enc + b_enc; f = relu(pre) * (pre > threshold), b_dec not subtracted from the input.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.load import detect_format, load_sae
from tests.unit.sae.conftest import (
    D_IN,
    Arrays,
    assert_clear_of_threshold,
    assert_parity,
    encoder_arrays,
    inputs,
    ref_jumprelu,
    thresholds,
    write_json,
    write_safetensors,
)

WIDTH_4K = 4096
V1_PATH = "gemma-scope-2b-pt-res/layer_5/width_4k/average_l0_40"
"""A v1 release path: repo, layer_L, width, average L0 (the residual stream after block 5)."""
V2_PATH = "gemma-scope-2-1b-pt/resid_post_all/layer_7_width_4k_l0_big"
"""A Gemma Scope 2 path: repo, site, then layer, width and L0 in one folder name."""


def gemma_arrays(rng: np.random.Generator, d_sae: int = WIDTH_4K) -> Arrays:
    """W_enc[d_in, d_sae], W_dec[d_sae, d_in], b_enc, b_dec, threshold, as v1 spells them."""
    return {**encoder_arrays(rng, d_sae=d_sae), "threshold": thresholds(rng, d_sae)}


def write_gemma_v1(folder: Path, arrays: Arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "params.npz", **arrays)
    return folder


def write_gemma_v2(folder: Path, arrays: Arrays, config: dict[str, Any] | None = None) -> Path:
    """params.safetensors with Gemma Scope 2's lowercase names, and config.json when given."""
    write_safetensors(folder / "params.safetensors", {name.lower(): a for name, a in arrays.items()})
    if config is not None:
        write_json(folder / "config.json", config)
    return folder


def v2_config(**changes: Any) -> dict[str, Any]:
    """config.json beside a Gemma Scope 2 SAE (the keys the release ships)."""
    cfg: dict[str, Any] = {
        "hf_hook_point_in": "model.layers.7.output",
        "hf_hook_point_out": "model.layers.7.output",
        "width": WIDTH_4K,
        "model_name": "google/gemma-3-1b-pt",
        "architecture": "jump_relu",
        "l0": 60,
        "affine_connection": False,
        "type": "sae",
    }
    cfg.update(changes)
    return cfg


def ref_codes(raw: Arrays, x: np.ndarray) -> np.ndarray:
    pre = x.astype(np.float64) @ raw["W_enc"].astype(np.float64) + raw["b_enc"]
    assert_clear_of_threshold(pre, raw["threshold"])
    return ref_jumprelu(pre, raw["threshold"])


def test_v1_npz_parity(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng)
    folder = write_gemma_v1(tmp_path / V1_PATH, raw)
    x = inputs(rng)

    sae = load_sae(folder)

    assert detect_format(folder) == "gemma-scope"
    assert detect_format(folder / "params.npz") == "gemma-scope"
    assert (sae.cfg.activation, sae.cfg.hook_layer, sae.cfg.apply_b_dec_to_input) == ("jumprelu", 6, False)
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.source_format) == (D_IN, WIDTH_4K, "gemma-scope")
    assert sae.cfg.metrics == {"l0": 40.0}  # the folder's average_l0_40, what `fac info` reports without a model
    assert torch.equal(sae.threshold, torch.from_numpy(raw["threshold"]))
    codes = ref_codes(raw, x)
    assert_parity(sae, x, codes)
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    np.testing.assert_allclose(recon, codes @ raw["W_dec"].astype(np.float64) + raw["b_dec"], rtol=1e-5, atol=1e-5)


def test_v1_loads_from_the_npz_path(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng)
    folder = write_gemma_v1(tmp_path / V1_PATH, raw)
    sae = load_sae(folder / "params.npz")
    assert sae.cfg.hook_layer == 6
    assert torch.equal(sae.W_dec, torch.from_numpy(raw["W_dec"]))


def test_v2_safetensors_parity_with_config(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng)
    folder = write_gemma_v2(tmp_path / V2_PATH, raw, v2_config())
    x = inputs(rng)

    sae = load_sae(folder)

    assert detect_format(folder) == "gemma-scope"
    assert (sae.cfg.activation, sae.cfg.hook_layer, sae.cfg.apply_b_dec_to_input) == ("jumprelu", 8, False)
    assert_parity(sae, x, ref_codes(raw, x))


def test_v2_config_hook_wins_over_the_path(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_gemma_v2(
        tmp_path / V2_PATH,
        gemma_arrays(rng),
        v2_config(hf_hook_point_in="model.layers.2.output", hf_hook_point_out=None),
    )
    assert load_sae(folder).cfg.hook_layer == 3


def test_v2_without_config_uses_the_path(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng)
    folder = write_gemma_v2(tmp_path / V2_PATH, raw)
    x = inputs(rng)
    sae = load_sae(folder)
    assert sae.cfg.hook_layer == 8
    assert_parity(sae, x, ref_codes(raw, x))


def test_safetensors_preferred_when_both_are_present(tmp_path: Path, rng: np.random.Generator) -> None:
    v2 = gemma_arrays(rng, d_sae=64)
    folder = write_gemma_v2(tmp_path / "layer_1", v2)
    write_gemma_v1(folder, gemma_arrays(rng, d_sae=64))
    assert torch.equal(load_sae(folder).W_enc, torch.from_numpy(v2["W_enc"]))


def test_unnamed_folder_needs_hook_layer(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_gemma_v1(tmp_path / "my_sae", gemma_arrays(rng, d_sae=64))
    with pytest.raises(FacError, match="does not say which layer it reads; pass hook_layer"):
        load_sae(folder)
    assert load_sae(folder, hook_layer=4).cfg.hook_layer == 4
    assert load_sae(write_gemma_v1(tmp_path / V1_PATH, gemma_arrays(rng)), hook_layer=2).cfg.hook_layer == 2


# Shape errors and refusals.


@pytest.mark.parametrize("writer", ["npz", "safetensors"])
@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ("W_dec", r"'W_dec' has shape \[16, 64\], expected \[64, 16\]"),
        ("threshold", r"'threshold' has shape \[63\], expected \[64\]"),
        ("b_dec", r"'b_dec' has shape \[15\], expected \[16\]"),
    ],
)
def test_wrong_shapes_are_refused(
    tmp_path: Path, rng: np.random.Generator, writer: str, tensor: str, message: str
) -> None:
    raw = gemma_arrays(rng, d_sae=64)
    raw[tensor] = raw[tensor].T.copy() if raw[tensor].ndim == 2 else raw[tensor][:-1].copy()
    folder = tmp_path / "layer_3"
    file_name = "params.npz" if writer == "npz" else "params.safetensors"
    write_gemma_v1(folder, raw) if writer == "npz" else write_gemma_v2(folder, raw)
    with pytest.raises(FacError, match=rf"{file_name}: SAE tensor {message}"):
        load_sae(folder)


def test_width_label_disagreeing_with_tensors_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_gemma_v1(tmp_path / "layer_5/width_16k/average_l0_40", gemma_arrays(rng, d_sae=64))
    with pytest.raises(FacError, match=r"width_16k \(16384 latents\) but the tensors hold 64 latents"):
        load_sae(folder)


def test_vector_encoder_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng, d_sae=64)
    raw["W_enc"] = raw["W_enc"].ravel()
    with pytest.raises(FacError, match=r"W_enc must be a matrix \[d_in, d_sae\], found shape \[1024\]"):
        load_sae(write_gemma_v1(tmp_path / "layer_3", raw))


def test_missing_tensor_is_named(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = gemma_arrays(rng, d_sae=64)
    del raw["threshold"]
    with pytest.raises(FacError, match="lack the tensor 'threshold'"):
        load_sae(write_gemma_v2(tmp_path / "layer_3", raw))


@pytest.mark.parametrize(
    "path",
    [
        "gemma-scope-2b-pt-mlp/layer_5/width_4k/average_l0_40",
        "gemma-scope-2b-pt-att/layer_5/width_4k/average_l0_40",
        "gemma-scope-2-1b-pt/mlp_out_all/layer_5_width_4k_l0_big",
        "gemma-scope-2-1b-pt/transcoder_all/layer_5_width_4k_l0_big",
    ],
)
def test_other_sites_are_refused(tmp_path: Path, rng: np.random.Generator, path: str) -> None:
    folder = write_gemma_v1(tmp_path / path, gemma_arrays(rng))
    with pytest.raises(FacError, match="FAC Studio reads residual-stream SAEs only"):
        load_sae(folder)


def test_transcoder_config_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    cfg = v2_config(
        hf_hook_point_in="model.layers.7.pre_feedforward_layernorm.output",
        hf_hook_point_out="model.layers.7.post_feedforward_layernorm.output",
    )
    with pytest.raises(FacError, match="describes a transcoder"):
        load_sae(write_gemma_v2(tmp_path / "layer_7", gemma_arrays(rng, d_sae=64), cfg))


def test_corrupt_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "layer_3"
    folder.mkdir()
    (folder / "params.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FacError, match=r"params\.npz: it is not a valid numpy \.npz archive"):
        load_sae(folder)
    (folder / "params.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(FacError, match=r"params\.safetensors: it is not a valid safetensors file"):
        load_sae(folder)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_npz_with_pickled_objects_is_refused_unexecuted(tmp_path: Path, rng: np.random.Generator) -> None:
    marker = tmp_path / "marker.txt"
    raw: dict[str, Any] = dict(gemma_arrays(rng, d_sae=64))
    raw["b_enc"] = np.array([_RunsCode(marker)], dtype=object)
    folder = write_gemma_v1(tmp_path / "layer_3", raw)
    with pytest.raises(FacError, match=r"not a valid numpy \.npz archive \(Object arrays cannot be loaded"):
        load_sae(folder)
    assert not marker.exists()
