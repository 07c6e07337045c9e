"""FAC Studio's own folder (cfg.json + sae.safetensors): exact round trip, parity, errors, atomic writes."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.formats import fac
from fac_engine.sae.formats.fac import load_fac_sae, save_sae
from fac_engine.sae.load import detect_format, load_sae
from fac_engine.sae.model import SparseAutoencoder
from tests.unit.sae.conftest import (
    D_IN,
    D_SAE,
    Arrays,
    assert_clear_of_threshold,
    assert_clear_of_ties,
    assert_parity,
    encoder_arrays,
    inputs,
    ref_jumprelu,
    ref_relu,
    ref_topk,
    thresholds,
)

METRICS = {"fvu": 0.125, "l0": 31.5, "dead_fraction": 0.0, "tokens": 2_000_000.0}


def make_sae(raw: Arrays, **cfg_fields: Any) -> SparseAutoencoder:
    """An in-memory SAE over `raw` (internal layout), hook_layer 3 unless told otherwise."""
    fields: dict[str, Any] = {"d_in": D_IN, "d_sae": D_SAE, "activation": "relu", "hook_layer": 3}
    fields.update(cfg_fields)
    return SparseAutoencoder.from_tensors(SaeConfig(**fields), {k: torch.from_numpy(v) for k, v in raw.items()})


def ref_pre(raw: Arrays, x: np.ndarray, input_scale: float = 1.0, apply_b_dec: bool = True) -> np.ndarray:
    """x' = x * input_scale - (b_dec if applied); pre = x' @ W_enc + b_enc, in float64."""
    x64 = x.astype(np.float64) * input_scale
    if apply_b_dec:
        x64 = x64 - raw["b_dec"]
    return x64 @ raw["W_enc"].astype(np.float64) + raw["b_enc"]


def test_detected_as_fac_not_sparsify(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "sae"
    save_sae(make_sae(encoder_arrays(rng)), folder)
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae.safetensors"]
    assert detect_format(folder) == "fac"
    assert json.loads((folder / "cfg.json").read_text(encoding="utf-8"))["format"] == "fac-studio-sae"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_round_trip_is_exact(tmp_path: Path, rng: np.random.Generator, dtype: torch.dtype) -> None:
    raw = {**encoder_arrays(rng), "threshold": thresholds(rng)}
    sae = make_sae(
        raw,
        activation="jumprelu",
        hook_layer=5,
        apply_b_dec_to_input=False,
        normalization="scale",
        input_scale=0.37,
        max_active=12,
        model_name="org/tiny-llama",
        source_format="saelens",
        metrics=METRICS,
    )
    folder = tmp_path / "sae"

    save_sae(sae, folder, dtype=dtype)
    loaded = load_sae(folder)

    assert loaded.cfg == sae.cfg  # every field, metrics included
    assert loaded.dtype == torch.float32
    assert json.loads((folder / "cfg.json").read_text(encoding="utf-8"))["dtype"] == str(dtype).removeprefix("torch.")
    for name, tensor in sae.tensors().items():
        expected = tensor.to(dtype).to(torch.float32)  # what the stored dtype can hold
        assert torch.equal(loaded.tensors()[name], expected), name
    if dtype == torch.float32:
        assert all(torch.equal(loaded.tensors()[n], t) for n, t in sae.tensors().items())
    else:
        assert not torch.equal(loaded.W_enc, sae.W_enc), "bfloat16 should round some weights"


def test_round_trip_of_topk_keeps_k_and_needs_no_threshold(tmp_path: Path, rng: np.random.Generator) -> None:
    sae = make_sae(encoder_arrays(rng), activation="topk", k=7)
    save_sae(sae, tmp_path / "sae")
    loaded = load_fac_sae(tmp_path / "sae")
    assert (loaded.cfg.activation, loaded.cfg.k, loaded.cfg.sparse_width) == ("topk", 7, 7)
    assert sorted(loaded.tensors()) == ["W_dec", "W_enc", "b_dec", "b_enc"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_tied_sae_stores_the_decoder_only(tmp_path: Path, rng: np.random.Generator, dtype: torch.dtype) -> None:
    raw = encoder_arrays(rng)
    raw["W_enc"] = raw["W_dec"].T.copy()
    sae = make_sae(raw, activation="topk", k=3)
    save_sae(sae, tmp_path / "sae", dtype=dtype)
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text(encoding="utf-8"))
    assert (cfg["tied"], cfg["format_version"]) == (True, 2)
    with safe_open(str(tmp_path / "sae" / "sae.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == ["W_dec", "b_dec", "b_enc"]
    loaded = load_sae(tmp_path / "sae")
    expected_dec = sae.W_dec.detach().to(dtype).float()
    assert torch.equal(loaded.W_dec, expected_dec) and torch.equal(loaded.W_enc, expected_dec.t())
    assert fac.is_tied(loaded)
    if dtype == torch.float32:
        x = torch.from_numpy(inputs(rng))
        with torch.no_grad():
            assert torch.equal(loaded.encode(x), sae.encode(x))


def test_untied_sae_keeps_format_version_1(tmp_path: Path, rng: np.random.Generator) -> None:
    save_sae(make_sae(encoder_arrays(rng)), tmp_path / "sae")
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text(encoding="utf-8"))
    assert (cfg["tied"], cfg["format_version"]) == (False, 1)


def test_resave_replaces_the_folder(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "sae"
    save_sae(make_sae(encoder_arrays(rng), metrics={"fvu": 0.5}), folder)
    second = make_sae(encoder_arrays(rng), metrics={"fvu": 0.25})
    save_sae(second, folder)
    loaded = load_sae(folder)
    assert loaded.cfg.metrics == {"fvu": 0.25}
    assert torch.equal(loaded.W_enc, second.W_enc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]


@pytest.mark.parametrize(
    ("activation", "extra"),
    [
        ("relu", {}),
        ("topk", {"k": 8}),
        ("jumprelu", {}),
    ],
)
def test_parity_after_round_trip(
    tmp_path: Path, rng: np.random.Generator, activation: str, extra: dict[str, Any]
) -> None:
    raw = encoder_arrays(rng)
    if activation == "jumprelu":
        raw["threshold"] = thresholds(rng)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    if activation == "topk":
        assert_clear_of_ties(pre, 8)
        codes = ref_topk(pre, 8)
    elif activation == "jumprelu":
        assert_clear_of_threshold(pre, raw["threshold"])
        codes = ref_jumprelu(pre, raw["threshold"])
    else:
        codes = ref_relu(pre)
    save_sae(make_sae(raw, activation=activation, **extra), tmp_path / "sae")

    sae = load_sae(tmp_path / "sae")

    assert_parity(sae, x, codes)
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    np.testing.assert_allclose(recon, codes @ raw["W_dec"].astype(np.float64) + raw["b_dec"], rtol=1e-5, atol=1e-5)


def test_parity_with_input_scale_and_no_b_dec_on_input(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = encoder_arrays(rng)
    save_sae(make_sae(raw, normalization="scale", input_scale=0.5, apply_b_dec_to_input=False), tmp_path / "sae")
    x = inputs(rng) * 2.0
    assert_parity(load_sae(tmp_path / "sae"), x, ref_relu(ref_pre(raw, x, input_scale=0.5, apply_b_dec=False)))


def test_hook_layer_argument_overrides_the_saved_layer(tmp_path: Path, rng: np.random.Generator) -> None:
    sae = make_sae(encoder_arrays(rng), hook_layer=3, metrics=METRICS)
    save_sae(sae, tmp_path / "sae")
    moved = load_sae(tmp_path / "sae", hook_layer=9)
    assert moved.cfg.hook_layer == 9 and moved.cfg.metrics == METRICS
    assert torch.equal(moved.W_enc, sae.W_enc)
    assert load_sae(tmp_path / "sae", hook_layer=3).cfg.hook_layer == 3
    with pytest.raises(FacError, match="hook_layer must be >= 0"):
        load_sae(tmp_path / "sae", hook_layer=-1)


def test_non_float_save_dtype_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="float dtype"):
        save_sae(make_sae(encoder_arrays(rng)), tmp_path / "sae", dtype=torch.int32)
    assert not (tmp_path / "sae").exists()


# Corrupt or missing files.


@pytest.fixture
def saved(tmp_path: Path, rng: np.random.Generator) -> Path:
    folder = tmp_path / "sae"
    save_sae(make_sae({**encoder_arrays(rng), "threshold": thresholds(rng)}, activation="jumprelu"), folder)
    return folder


def _edit_cfg(folder: Path, **changes: Any) -> None:
    path = folder / "cfg.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            del cfg[key]
        else:
            cfg[key] = value
    path.write_text(json.dumps(cfg), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"d_in": None}, "lacks the field 'd_in'"),
        ({"d_sae": "64"}, "'d_sae' must be an integer"),
        ({"format_version": 3}, "newer FAC Studio"),
        ({"activation": "gelu"}, "Unknown SAE activation 'gelu'"),
        ({"metrics": {"fvu": "low"}}, "metric 'fvu' must be a number"),
        ({"d_sae": D_SAE * 2}, r"'W_enc' has shape \[16, 64\], expected \[16, 128\]"),
    ],
)
def test_bad_config_is_refused(saved: Path, changes: dict[str, Any], message: str) -> None:
    _edit_cfg(saved, **changes)
    with pytest.raises(FacError, match=message):
        load_sae(saved)


def test_corrupt_files_name_the_file(saved: Path) -> None:
    (saved / "sae.safetensors").write_bytes((saved / "sae.safetensors").read_bytes()[:100])  # truncated
    with pytest.raises(FacError, match=r"sae\.safetensors.*not a valid safetensors"):
        load_sae(saved)
    (saved / "cfg.json").write_text('{"format": "fac-studio-sae", ', encoding="utf-8")
    with pytest.raises(FacError, match=r"cfg\.json.*not valid JSON"):
        load_sae(saved)


def test_missing_weights_are_named(saved: Path) -> None:
    (saved / "sae.safetensors").unlink()
    with pytest.raises(FacError, match=r"sae\.safetensors is missing"):
        load_fac_sae(saved)
    with pytest.raises(FacError, match=r"No SAE format recognised.*found: cfg\.json"):
        load_sae(saved)


def test_missing_config_is_an_unknown_layout(saved: Path) -> None:
    (saved / "cfg.json").unlink()
    with pytest.raises(FacError, match=r"No SAE format recognised.*found: sae\.safetensors"):
        load_sae(saved)
    with pytest.raises(FacError, match=r"cfg\.json is missing"):
        load_fac_sae(saved)


def test_missing_threshold_tensor_is_named(tmp_path: Path, saved: Path) -> None:
    _edit_cfg(saved, activation="relu")
    relu = load_sae(saved)  # the extra threshold is not needed by relu
    save_sae(relu, tmp_path / "relu")  # ... and not written
    _edit_cfg(tmp_path / "relu", activation="jumprelu")
    with pytest.raises(
        FacError, match=r"sae\.safetensors: SAE weights lack the tensor 'threshold' \(expected shape \[64\]\)"
    ):
        load_sae(tmp_path / "relu")


def test_foreign_cfg_is_not_read_as_ours(saved: Path) -> None:
    _edit_cfg(saved, format="something-else")
    with pytest.raises(FacError, match="is not a FAC Studio SAE config"):
        load_fac_sae(saved)


# Atomic writes: a failure part-way leaves nothing that loads, and an older save intact.


def _fail_after_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    real_save_file = fac.save_file

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save_file(*args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(fac, "save_file", save_then_crash)


def test_failed_write_leaves_no_folder(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_after_weights(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        save_sae(make_sae(encoder_arrays(rng)), tmp_path / "sae")
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary folder


def test_failed_overwrite_keeps_the_previous_save(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sae"
    first = make_sae(encoder_arrays(rng), metrics={"fvu": 0.5})
    save_sae(first, folder)
    _fail_after_weights(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        save_sae(make_sae(encoder_arrays(rng), metrics={"fvu": 0.1}), folder)
    loaded = load_sae(folder)
    assert loaded.cfg.metrics == {"fvu": 0.5}
    assert torch.equal(loaded.W_enc, first.W_enc)
    assert [p.name for p in tmp_path.iterdir()] == ["sae"]
