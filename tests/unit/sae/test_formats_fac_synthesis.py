"""FAC-Synthesis `.pth` checkpoints: tied-decoder parity, layer from the file name, no code execution."""

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.load import detect_format, load_sae
from tests.unit.sae.conftest import (
    D_IN,
    D_SAE,
    Arrays,
    assert_clear_of_ties,
    assert_parity,
    inputs,
    normal,
    ref_relu,
    ref_topk,
)

TOP_K = 7
REFERENCE_NAME = "TopK7_l12_h64_epoch3.pth"
"""How the reference names checkpoints (sae_pretrain/autoencoder.py, load_pretrained): layer 12."""


def synthesis_arrays(rng: np.random.Generator, d_in: int = D_IN, d_sae: int = D_SAE) -> Arrays:
    """The reference state dict: W_enc[d_inp, d_hide], b_enc, b_dec and the all-ones `mask`."""
    return {
        "mask": np.ones(d_sae, dtype=np.float32),
        "W_enc": normal(rng, d_in, d_sae, scale=d_in**-0.5),
        "b_enc": normal(rng, d_sae, scale=0.3),
        "b_dec": normal(rng, d_in, scale=0.3),
    }


def write_checkpoint(path: Path, raw: Arrays, config: dict[str, Any] | None = None) -> Path:
    """torch.save({"weight": state_dict, "config": ...}) as TopKSAE.dump_disk writes it."""
    config = {"d_inp": D_IN, "d_hide": D_SAE, "topK": TOP_K} if config is None else config
    state = {name: torch.from_numpy(array) for name, array in raw.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": state, "config": config}, path)
    return path


def ref_pre(raw: Arrays, x: np.ndarray) -> np.ndarray:
    """TopKSAE._encode: (x - b_dec) @ W_enc + b_enc, in float64."""
    return (x.astype(np.float64) - raw["b_dec"]) @ raw["W_enc"].astype(np.float64) + raw["b_enc"]


def test_topk_parity_and_tied_decoder(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    path = write_checkpoint(tmp_path / REFERENCE_NAME, raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_ties(pre, TOP_K)

    sae = load_sae(path)

    assert detect_format(path) == "fac-synthesis"
    assert (sae.cfg.activation, sae.cfg.k, sae.cfg.hook_layer) == ("topk", TOP_K, 12)
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.apply_b_dec_to_input) == (D_IN, D_SAE, True)
    assert sae.cfg.source_format == "fac-synthesis"
    codes = ref_topk(pre, TOP_K)
    assert_parity(sae, x, codes)
    assert torch.equal(sae.W_dec, torch.from_numpy(raw["W_enc"]).T)
    # decode: h @ W_enc.T + b_dec (the reference's W_dec property)
    ref_recon = codes @ raw["W_enc"].astype(np.float64).T + raw["b_dec"]
    recon = sae.decode(torch.from_numpy(codes.astype(np.float32))).detach().double().numpy()
    np.testing.assert_allclose(recon, ref_recon, rtol=1e-5, atol=1e-5)


def test_plain_sparse_autoencoder_is_relu(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    path = write_checkpoint(tmp_path / "SAE_l4_h64.pth", raw, {"d_inp": D_IN, "d_hide": D_SAE})
    x = inputs(rng)

    sae = load_sae(path)

    assert (sae.cfg.activation, sae.cfg.k, sae.cfg.hook_layer) == ("relu", None, 4)
    assert_parity(sae, x, ref_relu(ref_pre(raw, x)))


def test_folder_with_one_checkpoint_loads_it(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    write_checkpoint(tmp_path / "run" / REFERENCE_NAME, raw)
    assert detect_format(tmp_path / "run") == "fac-synthesis"
    assert torch.equal(load_sae(tmp_path / "run").W_enc, torch.from_numpy(raw["W_enc"]))


def test_layer_comes_from_hook_layer_when_the_name_lacks_it(tmp_path: Path, rng: np.random.Generator) -> None:
    path = write_checkpoint(tmp_path / "my_sae.pt", synthesis_arrays(rng))
    with pytest.raises(FacError, match="does not say which layer it reads; pass hook_layer"):
        load_sae(path)
    assert load_sae(path, hook_layer=6).cfg.hook_layer == 6
    assert load_sae(tmp_path / "my_sae.pt", hook_layer=0).cfg.hook_layer == 0


def test_hook_layer_overrides_the_file_name(tmp_path: Path, rng: np.random.Generator) -> None:
    path = write_checkpoint(tmp_path / REFERENCE_NAME, synthesis_arrays(rng))
    assert load_sae(path, hook_layer=2).cfg.hook_layer == 2


def test_editing_mask_does_not_change_codes(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    raw["mask"][:10] = 0.0  # the reference applies it only with do_edit (feature editing)
    path = write_checkpoint(tmp_path / REFERENCE_NAME, raw)
    x = inputs(rng)
    pre = ref_pre(raw, x)
    assert_clear_of_ties(pre, TOP_K)
    assert_parity(load_sae(path), x, ref_topk(pre, TOP_K))


def test_half_precision_checkpoint_loads_as_float32(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = {name: array.astype(np.float16) for name, array in synthesis_arrays(rng).items()}
    sae = load_sae(write_checkpoint(tmp_path / REFERENCE_NAME, raw))
    assert sae.dtype == torch.float32
    assert torch.equal(sae.W_enc, torch.from_numpy(raw["W_enc"].astype(np.float32)))


# Shape and content errors.


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"d_inp": D_IN * 2, "d_hide": D_SAE, "topK": TOP_K}, r"'W_enc' has shape \[16, 64\], expected \[32, 64\]"),
        ({"d_inp": D_IN, "d_hide": D_SAE + 1, "topK": TOP_K}, r"'W_enc' has shape \[16, 64\], expected \[16, 65\]"),
        ({"d_inp": D_IN, "d_hide": D_SAE, "topK": D_SAE + 1}, "needs 0 < k <= d_sae"),
        ({"d_hide": D_SAE, "topK": TOP_K}, "lacks the field 'd_inp'"),
        ({"d_inp": D_IN, "d_hide": "64", "topK": TOP_K}, "'d_hide' must be an integer"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, rng: np.random.Generator, config: dict[str, Any], message: str) -> None:
    path = write_checkpoint(tmp_path / REFERENCE_NAME, synthesis_arrays(rng), config)
    with pytest.raises(FacError, match=message):
        load_sae(path)


def test_transposed_encoder_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    raw["W_enc"] = raw["W_enc"].T.copy()  # nn.Linear layout instead of the reference's [d_inp, d_hide]
    with pytest.raises(FacError, match=r"'W_enc' has shape \[64, 16\], expected \[16, 64\]"):
        load_sae(write_checkpoint(tmp_path / REFERENCE_NAME, raw))


def test_missing_tensor_is_named(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = synthesis_arrays(rng)
    del raw["b_enc"]
    with pytest.raises(FacError, match=r"lacks the tensor 'b_enc' \(it holds: W_enc, b_dec, mask\)"):
        load_sae(write_checkpoint(tmp_path / REFERENCE_NAME, raw))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (torch.zeros(3), "not a FAC-Synthesis checkpoint"),
        ({"config": {"d_inp": D_IN}}, "not a FAC-Synthesis checkpoint"),
        ({"weight": {"W_enc": torch.zeros(D_IN, D_SAE)}}, "lacks the 'config' dict"),
    ],
)
def test_other_payloads_are_refused(tmp_path: Path, payload: object, message: str) -> None:
    path = tmp_path / REFERENCE_NAME
    torch.save(payload, path)
    with pytest.raises(FacError, match=message):
        load_sae(path)


def test_corrupt_file_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    path = write_checkpoint(tmp_path / REFERENCE_NAME, synthesis_arrays(rng))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FacError, match="not a readable PyTorch checkpoint"):
        load_sae(path)


# A checkpoint is data: unpickling must never run code.


class _RunsCode:
    """Unpickles by calling exec: a stand-in for a checkpoint carrying a payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _save_torch(path: Path, payload: object) -> None:
    torch.save(payload, path)


def _save_plain_pickle(path: Path, payload: object) -> None:
    path.write_bytes(pickle.dumps(payload, protocol=2))


def _load_unrestricted(path: Path) -> object:
    """What an unsafe loader would do: torch.load without weights_only, or plain pickle."""
    if path.read_bytes()[:2] == b"PK":  # torch.save's zip container
        return torch.load(path, weights_only=False)
    return pickle.loads(path.read_bytes())


@pytest.mark.parametrize("write", [_save_torch, _save_plain_pickle], ids=["torch-zip", "plain-pickle"])
def test_pickle_that_runs_code_is_refused_unexecuted(
    tmp_path: Path, rng: np.random.Generator, write: Callable[[Path, object], None]
) -> None:
    marker = tmp_path / "marker.txt"
    state: dict[str, Any] = {name: torch.from_numpy(a) for name, a in synthesis_arrays(rng).items()}
    state["extra"] = _RunsCode(marker)
    path = tmp_path / REFERENCE_NAME
    write(path, {"weight": state, "config": {"d_inp": D_IN, "d_hide": D_SAE, "topK": TOP_K}})

    with pytest.raises(FacError, match="contains code or objects that are not plain tensors; refusing"):
        load_sae(path)
    assert not marker.exists()

    # The payload is live: an unrestricted unpickler does run it.
    _load_unrestricted(path)
    assert marker.read_text(encoding="utf-8") == "ran"
