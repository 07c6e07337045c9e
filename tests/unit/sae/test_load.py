"""Format detection, the unknown-layout error, hook layers, fitting a model, chunked sparse encoding, identity."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.formats.fac import save_sae
from fac_engine.sae.formats.hooks import hidden_state_index
from fac_engine.sae.identity import sae_identity
from fac_engine.sae.load import EXPECTED_FILES, SAE_FORMATS, check_sae_fits_model, detect_format, load_sae
from fac_engine.sae.model import DEFAULT_CHUNK_ROWS, SparseAutoencoder
from tests.unit.sae.conftest import (
    D_IN,
    D_SAE,
    encoder_arrays,
    inputs,
    saelens_v6_cfg,
    sparsify_arrays,
    sparsify_cfg,
    thresholds,
    write_saelens,
    write_sparsify,
)
from tests.unit.sae.test_formats_fac import make_sae
from tests.unit.sae.test_formats_fac_synthesis import synthesis_arrays, write_checkpoint
from tests.unit.sae.test_formats_gemma_scope import gemma_arrays, write_gemma_v1, write_gemma_v2
from tests.unit.sae.test_formats_llama_scope import llama_scope_arrays, llama_scope_hyperparams, write_llama_scope

# Each builder writes one layout under `root` and returns the path a user would give (folder or file).
Builder = Callable[[Path, np.random.Generator], Path]


def _fac(root: Path, rng: np.random.Generator) -> Path:
    save_sae(make_sae(encoder_arrays(rng), hook_layer=2), root / "fac_sae")
    return root / "fac_sae"


def _saelens(root: Path, rng: np.random.Generator) -> Path:
    return write_saelens(root / "saelens_sae", saelens_v6_cfg(), encoder_arrays(rng))


def _sparsify_hookpoint(root: Path, rng: np.random.Generator) -> Path:
    return write_sparsify(root / "layers.1", sparsify_cfg(), sparsify_arrays(rng))


def _sparsify_run(root: Path, rng: np.random.Generator) -> Path:
    write_sparsify(root / "run" / "layers.1", sparsify_cfg(), sparsify_arrays(rng))
    return root / "run"


def _fac_synthesis_file(root: Path, rng: np.random.Generator) -> Path:
    return write_checkpoint(root / "TopK7_l2_h64_epoch1.pth", synthesis_arrays(rng))


def _fac_synthesis_folder(root: Path, rng: np.random.Generator) -> Path:
    write_checkpoint(root / "ckpt" / "TopK7_l2_h64_epoch1.pth", synthesis_arrays(rng))
    return root / "ckpt"


def _llama_scope(root: Path, rng: np.random.Generator) -> Path:
    return write_llama_scope(root / "L1R", llama_scope_hyperparams(), llama_scope_arrays(rng))


def _gemma_npz(root: Path, rng: np.random.Generator) -> Path:
    return write_gemma_v1(root / "layer_1", gemma_arrays(rng, d_sae=D_SAE))


def _gemma_safetensors(root: Path, rng: np.random.Generator) -> Path:
    return write_gemma_v2(root / "layer_1_width_custom", gemma_arrays(rng, d_sae=D_SAE))


LAYOUTS: list[tuple[Builder, str]] = [
    (_fac, "fac"),
    (_saelens, "saelens"),
    (_sparsify_hookpoint, "sparsify"),
    (_sparsify_run, "sparsify"),
    (_fac_synthesis_file, "fac-synthesis"),
    (_fac_synthesis_folder, "fac-synthesis"),
    (_llama_scope, "llama-scope"),
    (_gemma_npz, "gemma-scope"),
    (_gemma_safetensors, "gemma-scope"),
]


def _ids(layouts: list[tuple[Builder, Any]]) -> list[str]:
    return [builder.__name__.strip("_") for builder, _ in layouts]


@pytest.mark.parametrize(("build", "expected"), LAYOUTS, ids=_ids(LAYOUTS))
def test_detect_format_of_each_layout(tmp_path: Path, rng: np.random.Generator, build: Builder, expected: str) -> None:
    path = build(tmp_path, rng)
    assert detect_format(path) == expected
    sae = load_sae(path)
    assert sae.cfg.source_format == expected
    assert (sae.cfg.d_in, sae.cfg.d_sae) == (D_IN, D_SAE)


def test_every_format_has_a_layout_here() -> None:
    assert {expected for _, expected in LAYOUTS} == set(SAE_FORMATS) == set(EXPECTED_FILES)


@pytest.mark.parametrize(
    ("build", "file_name", "expected"),
    [
        (_fac, "cfg.json", "fac"),
        (_fac, "sae.safetensors", "fac"),
        (_saelens, "cfg.json", "saelens"),
        (_saelens, "sae_weights.safetensors", "saelens"),
        (_sparsify_hookpoint, "sae.safetensors", "sparsify"),
        (_llama_scope, "hyperparams.json", "llama-scope"),
        (_gemma_npz, "params.npz", "gemma-scope"),
        (_gemma_safetensors, "params.safetensors", "gemma-scope"),
    ],
)
def test_a_file_of_a_folder_format_means_its_folder(
    tmp_path: Path, rng: np.random.Generator, build: Builder, file_name: str, expected: str
) -> None:
    folder = build(tmp_path, rng)
    assert detect_format(folder / file_name) == expected
    assert torch.equal(load_sae(folder / file_name).W_enc, load_sae(folder).W_enc)


def test_sparsify_cfg_is_not_mistaken_for_ours(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = write_sparsify(tmp_path / "layers.0", sparsify_cfg(), sparsify_arrays(rng))
    assert detect_format(folder) == "sparsify"
    save_sae(make_sae(encoder_arrays(rng)), folder)  # same file names, our cfg.json
    assert detect_format(folder) == "fac"


# The unknown-layout error.


def test_unknown_folder_names_found_and_expected_files(tmp_path: Path) -> None:
    folder = tmp_path / "mystery"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\x00")
    (folder / "notes.txt").write_text("hi", encoding="utf-8")

    with pytest.raises(FacError) as caught:
        detect_format(folder)

    message = str(caught.value)
    assert message.startswith(f"No SAE format recognised at {folder} (found: model.bin, notes.txt). Expected one of - ")
    for expected in [
        'fac: cfg.json (with "format": "fac-studio-sae") + sae.safetensors',
        "saelens: cfg.json + sae_weights.safetensors",
        "sparsify: cfg.json + sae.safetensors, or sub-folders layers.N/ holding them",
        "fac-synthesis: one *.pth or *.pt checkpoint",
        "llama-scope: hyperparams.json + checkpoints/final.safetensors",
        "gemma-scope: params.npz or params.safetensors",
    ]:
        assert expected in message
    with pytest.raises(FacError, match="No SAE format recognised"):
        load_sae(folder)


def test_empty_folder_found_nothing(tmp_path: Path) -> None:
    with pytest.raises(FacError, match=rf"No SAE format recognised at {tmp_path} \(found: nothing\)"):
        detect_format(tmp_path)


def test_unknown_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00")
    with pytest.raises(FacError, match=r"weights\.bin \(a file of no known SAE format\) \(found: weights\.bin\)"):
        detect_format(path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FacError, match=r"No SAE at .*nowhere: the path does not exist"):
        load_sae(tmp_path / "nowhere")


def test_incomplete_llama_scope_folder_is_unknown(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _llama_scope(tmp_path, rng)
    (folder / "checkpoints" / "final.safetensors").unlink()
    with pytest.raises(FacError, match=r"found: checkpoints, hyperparams\.json"):
        detect_format(folder)


def test_several_checkpoints_need_a_choice(tmp_path: Path, rng: np.random.Generator) -> None:
    for epoch in (1, 2):
        write_checkpoint(tmp_path / f"TopK7_l2_h64_epoch{epoch}.pth", synthesis_arrays(rng))
    with pytest.raises(FacError, match=r"several checkpoints \(TopK7_l2_h64_epoch1\.pth, TopK7_l2_h64_epoch2\.pth\)"):
        detect_format(tmp_path)
    assert detect_format(tmp_path / "TopK7_l2_h64_epoch2.pth") == "fac-synthesis"


# Hook layers: the index into hidden_states (0 = embeddings, L = output of block L).


@pytest.mark.parametrize(
    ("hook_name", "layer"),
    [
        ("blocks.3.hook_resid_post", 4),
        ("blocks.3.hook_resid_pre", 3),
        ("blocks.0.hook_resid_pre", 0),
        ("layers.3", 4),
        ("model.layers.3", 4),
        ("model.layers.3.output", 4),
        ("transformer.h.3", 4),
        ("my_custom_hook", None),
    ],
)
def test_hook_names_map_to_hidden_states(hook_name: str, layer: int | None) -> None:
    assert hidden_state_index(hook_name) == layer


@pytest.mark.parametrize("hook_name", ["blocks.3.hook_mlp_out", "blocks.3.attn.hook_z", "layers.3.mlp"])
def test_hook_names_inside_a_block_are_refused(hook_name: str) -> None:
    with pytest.raises(FacError, match="not the residual stream between blocks"):
        hidden_state_index(hook_name)


DEFAULT_HOOK_LAYERS: list[tuple[Builder, int]] = [
    (_fac, 2),  # saved with hook_layer=2
    (_saelens, 4),  # metadata.hook_name blocks.3.hook_resid_post
    (_sparsify_hookpoint, 2),  # layers.1: output of decoder layer 1
    (_fac_synthesis_file, 2),  # TopK7_l2: output of the 2nd block
    (_fac_synthesis_folder, 2),
    (_llama_scope, 4),  # hook_point_in blocks.3.hook_resid_post
    (_gemma_npz, 2),  # layer_1 -> blocks.1.hook_resid_post
    (_gemma_safetensors, 2),
]


@pytest.mark.parametrize(("build", "default"), DEFAULT_HOOK_LAYERS, ids=_ids(DEFAULT_HOOK_LAYERS))
def test_hook_layer_defaults_and_overrides(
    tmp_path: Path, rng: np.random.Generator, build: Builder, default: int
) -> None:
    path = build(tmp_path, rng)
    assert load_sae(path).cfg.hook_layer == default
    assert load_sae(path, hook_layer=0).cfg.hook_layer == 0
    assert load_sae(path, hook_layer=7).cfg.hook_layer == 7
    with pytest.raises(FacError, match=r"hook_layer must be >= 0 \(0 is the embeddings\), got -1"):
        load_sae(path, hook_layer=-1)


def test_hook_layer_in_a_sparsify_run_folder_picks_the_hookpoint(tmp_path: Path, rng: np.random.Generator) -> None:
    path = _sparsify_run(tmp_path, rng)
    assert load_sae(path).cfg.hook_layer == 2
    assert load_sae(path, hook_layer=2).cfg.hook_layer == 2
    with pytest.raises(FacError, match=r"has no SAE for hook_layer=-1; it holds layers\.1 \(hook_layer=2\)"):
        load_sae(path, hook_layer=-1)


def test_override_does_not_rescue_a_non_residual_hook(tmp_path: Path, rng: np.random.Generator) -> None:
    cfg = saelens_v6_cfg(metadata={"hook_name": "blocks.3.hook_mlp_out"})
    folder = write_saelens(tmp_path / "sae", cfg, encoder_arrays(rng))
    with pytest.raises(FacError, match=r"'blocks\.3\.hook_mlp_out', which is not the residual stream"):
        load_sae(folder, hook_layer=4)


def test_hook_layer_override_keeps_the_weights(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _saelens(tmp_path, rng)
    base, moved = load_sae(folder), load_sae(folder, hook_layer=9)
    assert all(torch.equal(base.tensors()[n], t) for n, t in moved.tensors().items())


# Fitting a model.


def test_check_sae_fits_model_accepts_every_layer_of_a_matching_model(rng: np.random.Generator) -> None:
    for layer in (0, 6, 12):  # 0 = embeddings ... 12 = output of the last block
        sae = make_sae(encoder_arrays(rng), hook_layer=layer)
        assert check_sae_fits_model(sae, hidden_size=D_IN, num_layers=12) is None


def test_check_sae_fits_model_refuses_another_width(rng: np.random.Generator) -> None:
    sae = make_sae(encoder_arrays(rng), hook_layer=2)
    with pytest.raises(FacError) as caught:
        check_sae_fits_model(sae, hidden_size=32, num_layers=12)
    assert str(caught.value) == (
        "The SAE reads d_in=16 but the model's hidden size is 32; it was trained on a different model."
    )


def test_check_sae_fits_model_refuses_a_layer_outside_the_model(rng: np.random.Generator) -> None:
    sae = make_sae(encoder_arrays(rng), hook_layer=13)
    with pytest.raises(FacError) as caught:
        check_sae_fits_model(sae, hidden_size=D_IN, num_layers=12)
    assert str(caught.value) == (
        "The SAE reads hidden_states[13] but the model has 12 layers (valid hook layers are 0..12)."
    )


# Sparse encoding materialises the dense [rows, d_sae] code one chunk at a time.


def _record_dense_rows(sae: SparseAutoencoder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of every dense [rows, d_sae] tensor the SAE builds (pre-activations and codes)."""
    rows: list[int] = []
    real_pre_acts, real_activate = sae.pre_acts, sae.activate

    def pre_acts(x_ND: torch.Tensor) -> torch.Tensor:
        rows.append(x_ND.shape[0])
        return real_pre_acts(x_ND)

    def activate(pre_NF: torch.Tensor) -> torch.Tensor:
        rows.append(pre_NF.shape[0])
        return real_activate(pre_NF)

    monkeypatch.setattr(sae, "pre_acts", pre_acts)
    monkeypatch.setattr(sae, "activate", activate)
    return rows


@pytest.mark.parametrize(
    ("activation", "k", "expected_rows"),
    [
        ("topk", 6, [10, 10, 10, 7]),  # topk picks straight from the pre-activations
        ("relu", None, [10, 10, 10, 10, 10, 10, 7, 7]),  # pre-activations then codes, per chunk
        ("jumprelu", None, [10, 10, 10, 10, 10, 10, 7, 7]),
    ],
)
def test_encode_sparse_is_chunked(
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
    activation: str,
    k: int | None,
    expected_rows: list[int],
) -> None:
    sae = make_sae({**encoder_arrays(rng), "threshold": thresholds(rng)}, activation=activation, k=k, max_active=6)
    x = torch.from_numpy(inputs(rng, n=37))
    whole = sae.encode_sparse(x, chunk_rows=1000)
    dense = sae.encode(x)
    rows = _record_dense_rows(sae, monkeypatch)

    chunked = sae.encode_sparse(x, chunk_rows=10)

    assert rows == expected_rows
    # Same codes; the matmul may round differently for 10 rows than for 37 (BLAS blocking).
    assert torch.equal(chunked.indices, whole.indices)
    torch.testing.assert_close(chunked.values, whole.values, rtol=1e-6, atol=1e-6)
    assert chunked.values.shape == (37, 6)
    rebuilt = torch.zeros_like(dense).scatter_(-1, chunked.indices, chunked.values)
    top6 = dense.topk(6)
    torch.testing.assert_close(rebuilt, torch.zeros_like(dense).scatter_(-1, top6.indices, top6.values))


def test_encode_sparse_default_chunk(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    sae = make_sae(encoder_arrays(rng), activation="topk", k=4)
    rows = _record_dense_rows(sae, monkeypatch)
    codes = sae.encode_sparse(torch.from_numpy(inputs(rng, n=DEFAULT_CHUNK_ROWS + 5)))
    assert rows == [DEFAULT_CHUNK_ROWS, 5]
    assert codes.values.shape == (DEFAULT_CHUNK_ROWS + 5, 4)


def test_encode_sparse_of_no_rows(rng: np.random.Generator) -> None:
    codes = make_sae(encoder_arrays(rng), activation="topk", k=4).encode_sparse(torch.zeros(0, D_IN))
    assert codes.values.shape == (0, 4) and codes.indices.shape == (0, 4)
    assert codes.indices.dtype == torch.int64


# Identity: a content hash of the weights and of the settings that change the codes.

PINNED_IDENTITY = "7d3f31139e1a705f"
"""sae_identity of _hand_set_sae(); a change invalidates every cache keyed on it, so make it on purpose."""


def _hand_set_sae() -> SparseAutoencoder:
    arrays = {
        "W_enc": np.arange(D_IN * D_SAE, dtype=np.float32).reshape(D_IN, D_SAE) / 100,
        "b_enc": np.full(D_SAE, 0.5, dtype=np.float32),
        "W_dec": np.ones((D_SAE, D_IN), dtype=np.float32),
        "b_dec": np.zeros(D_IN, dtype=np.float32),
    }
    return make_sae(arrays, activation="topk", k=4, hook_layer=3)


def test_identity_is_pinned() -> None:
    assert sae_identity(_hand_set_sae()) == PINNED_IDENTITY


def test_same_weights_same_identity(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = _saelens(tmp_path, rng)
    first, second = load_sae(folder), load_sae(folder)
    assert sae_identity(first) == sae_identity(second)
    save_sae(first, tmp_path / "copy")
    copy = load_sae(tmp_path / "copy")
    assert copy.cfg.source_format == "saelens"
    assert sae_identity(copy) == sae_identity(first)
    # Descriptive fields do not change what the SAE computes.
    relabelled = first.with_config(model_name="other", metrics={"fvu": 0.1}, source_format="fac")
    assert sae_identity(relabelled) == sae_identity(first)


@pytest.mark.parametrize(
    "change",
    [
        lambda sae: sae.W_enc.data[3, 5].add_(1e-3),
        lambda sae: sae.b_enc.data[0].add_(1e-3),
        lambda sae: sae.W_dec.data[7, 1].mul_(-1.0),
        lambda sae: sae.b_dec.data[2].add_(1e-3),
    ],
    ids=["W_enc", "b_enc", "W_dec", "b_dec"],
)
def test_changed_weight_changes_identity(change: Callable[[SparseAutoencoder], object]) -> None:
    sae = _hand_set_sae()
    before = sae_identity(sae)
    change(sae)
    assert sae_identity(sae) != before


def test_changed_threshold_changes_a_jumprelu_identity(rng: np.random.Generator) -> None:
    sae = make_sae({**encoder_arrays(rng), "threshold": thresholds(rng)}, activation="jumprelu")
    before = sae_identity(sae)
    sae.threshold.data[0] += 1e-3
    assert sae_identity(sae) != before


@pytest.mark.parametrize(
    "changes",
    [{"k": 5}, {"hook_layer": 4}, {"apply_b_dec_to_input": False}, {"normalization": "scale", "input_scale": 2.0}],
)
def test_changed_encoding_settings_change_identity(changes: dict[str, object]) -> None:
    sae = _hand_set_sae()
    assert sae_identity(sae.with_config(**changes)) != sae_identity(sae)
