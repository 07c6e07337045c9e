"""The internal SAE: encode semantics on hand-set weights, sparse paths, shape checks."""

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.model import SparseAutoencoder


def _identity_sae(activation: str, **kw: object) -> SparseAutoencoder:
    """d_in 3, d_sae 4: latent j reads input dim j (j < 3), latent 3 reads -x0."""
    cfg = SaeConfig(d_in=3, d_sae=4, activation=activation, hook_layer=1, **kw)  # type: ignore[arg-type]
    w_enc = torch.tensor([[1.0, 0.0, 0.0, -1.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    tensors = {
        "W_enc": w_enc,
        "b_enc": torch.zeros(4),
        "W_dec": w_enc.T.clone(),
        "b_dec": torch.zeros(3),
        "threshold": torch.tensor([0.5, 0.5, 2.5, 0.5]),
    }
    return SparseAutoencoder.from_tensors(cfg, tensors)


X = torch.tensor([[2.0, -1.0, 3.0], [-4.0, 0.25, 0.0]])


def test_relu_encode_exact() -> None:
    sae = _identity_sae("relu", apply_b_dec_to_input=False)
    expected = torch.tensor([[2.0, 0.0, 3.0, 0.0], [0.0, 0.25, 0.0, 4.0]])
    assert torch.equal(sae.encode(X), expected)


def test_topk_keeps_k_largest_and_relus() -> None:
    sae = _identity_sae("topk", k=2, apply_b_dec_to_input=False)
    expected = torch.tensor([[2.0, 0.0, 3.0, 0.0], [0.0, 0.25, 0.0, 4.0]])
    assert torch.equal(sae.encode(X), expected)
    codes = sae.encode_sparse(X)
    assert codes.indices.tolist() == [[2, 0], [3, 1]]
    assert codes.values.tolist() == [[3.0, 2.0], [4.0, 0.25]]


def test_jumprelu_threshold_is_strict_per_latent() -> None:
    sae = _identity_sae("jumprelu", apply_b_dec_to_input=False)
    # Row 0: x2 = 3.0 > 2.5 survives; row 1: x1 = 0.25 < 0.5 is cut.
    expected = torch.tensor([[2.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 4.0]])
    assert torch.equal(sae.encode(X), expected)


def test_b_dec_is_subtracted_before_encoding() -> None:
    sae = _identity_sae("relu", apply_b_dec_to_input=True)
    sae.b_dec.data = torch.tensor([1.0, 0.0, 0.0])
    assert sae.encode(X)[0].tolist() == [1.0, 0.0, 3.0, 0.0]


def test_normalisations() -> None:
    x = torch.tensor([[3.0, 0.0, 4.0]])
    scaled = _identity_sae("relu", apply_b_dec_to_input=False, normalization="scale", input_scale=2.0)
    assert scaled.normalize(x).tolist() == [[6.0, 0.0, 8.0]]
    rescaled = _identity_sae("relu", apply_b_dec_to_input=False, normalization="constant_norm_rescale")
    assert torch.allclose(rescaled.normalize(x), x * (3**0.5) / 5.0)
    layer_norm = _identity_sae("relu", apply_b_dec_to_input=False, normalization="layer_norm")
    centred = x - x.mean()
    assert torch.allclose(layer_norm.normalize(x), centred / (centred.std() + 1e-5))


def test_sparse_matches_dense_in_chunks() -> None:
    torch.manual_seed(0)
    cfg = SaeConfig(d_in=8, d_sae=32, activation="topk", k=5, hook_layer=2)
    sae = SparseAutoencoder.from_tensors(
        cfg,
        {"W_enc": torch.randn(8, 32), "b_enc": torch.randn(32), "W_dec": torch.randn(32, 8), "b_dec": torch.randn(8)},
    )
    x = torch.randn(37, 8)
    dense = sae.encode(x)
    codes = sae.encode_sparse(x, chunk_rows=10)
    rebuilt = torch.zeros_like(dense).scatter_(-1, codes.indices, codes.values)
    assert torch.allclose(rebuilt, dense)
    assert torch.allclose(sae.decode_sparse(codes), sae.decode(dense), atol=1e-5)


def test_relu_sparse_width_is_capped_and_the_loss_counted() -> None:
    sae = _identity_sae("relu", apply_b_dec_to_input=False, max_active=1)
    codes = sae.encode_sparse(X)
    assert codes.values.tolist() == [[3.0], [4.0]]
    assert codes.indices.tolist() == [[2], [3]]
    assert codes.dropped is not None and codes.dropped.tolist() == [1, 1]  # x0 = 2.0 and x1 = 0.25 were cut


def test_uncapped_sparse_codes_are_ragged_rows_padded_with_zeros() -> None:
    sae = _identity_sae("jumprelu", apply_b_dec_to_input=False)
    codes = sae.encode_sparse(X)
    assert codes.values.tolist() == [[3.0, 2.0], [4.0, 0.0]]  # row 1 has one active feature
    assert codes.indices[0].tolist() == [2, 0] and codes.indices[1, 0] == 3
    assert codes.dropped is not None and codes.dropped.tolist() == [0, 0]


def _random_sae(activation: str, d_in: int = 256, d_sae: int = 2048, seed: int = 0) -> SparseAutoencoder:
    g = torch.Generator().manual_seed(seed)
    cfg = SaeConfig(d_in=d_in, d_sae=d_sae, activation=activation, hook_layer=1, k=32 if activation == "topk" else None)
    tensors = {"W_enc": torch.randn(d_in, d_sae, generator=g) / d_in**0.5,
               "b_enc": torch.randn(d_sae, generator=g) * 0.1, "W_dec": torch.randn(d_sae, d_in, generator=g),
               "b_dec": torch.randn(d_in, generator=g) * 0.1,
               "threshold": torch.rand(d_sae, generator=g) + 0.5}
    return SparseAutoencoder.from_tensors(cfg, tensors)  # type: ignore[arg-type]


def _pairs(values: torch.Tensor, indices: torch.Tensor) -> set[tuple[int, int]]:
    rows, slots = torch.nonzero(values > 0, as_tuple=True)
    return set(zip(rows.tolist(), indices[rows, slots].tolist(), strict=True))


@pytest.mark.parametrize("activation", ["relu", "jumprelu", "topk"])
def test_bf16_selection_gives_the_fp32_codes(activation: str) -> None:
    sae = _random_sae(activation)
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(1)) * 3
    exact = sae.encode_sparse(x)
    fast = sae.encode_sparse(x, chunk_rows=16, select_dtype=torch.bfloat16)
    assert _pairs(fast.values, fast.indices) == _pairs(exact.values, exact.indices)
    assert fast.values.shape == exact.values.shape
    torch.testing.assert_close(fast.values, exact.values, rtol=1e-5, atol=1e-5)
    # Plain bf16 pre-activations would not: rounding to 8 significant bits moves entries across the decision.
    plain = sae.with_config().to(torch.bfloat16).encode_sparse(x)
    assert _pairs(plain.values, plain.indices) != _pairs(exact.values, exact.indices)


def test_bf16_selection_rejects_other_dtypes() -> None:
    with pytest.raises(ValueError, match="select_dtype"):
        _identity_sae("relu").encode_sparse(X, select_dtype=torch.float16)


def test_from_tensors_rejects_wrong_shape_naming_it() -> None:
    cfg = SaeConfig(d_in=3, d_sae=4, activation="relu", hook_layer=1)
    bad = {"W_enc": torch.zeros(4, 3), "b_enc": torch.zeros(4), "W_dec": torch.zeros(4, 3), "b_dec": torch.zeros(3)}
    with pytest.raises(FacError, match=r"'W_enc' has shape \[4, 3\], expected \[3, 4\]"):
        SparseAutoencoder.from_tensors(cfg, bad)


def test_from_tensors_rejects_missing_threshold() -> None:
    cfg = SaeConfig(d_in=3, d_sae=4, activation="jumprelu", hook_layer=1)
    tensors = {"W_enc": torch.zeros(3, 4), "b_enc": torch.zeros(4), "W_dec": torch.zeros(4, 3), "b_dec": torch.zeros(3)}
    with pytest.raises(FacError, match="threshold"):
        SparseAutoencoder.from_tensors(cfg, tensors)


def test_encode_sparse_rejects_wrong_width() -> None:
    sae = _identity_sae("relu")
    with pytest.raises(FacError, match=r"\[tokens, 3\]"):
        sae.encode_sparse(torch.zeros(2, 5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "topk", "k": None}, "needs 0 < k"),
        ({"activation": "topk", "k": 9}, "needs 0 < k"),
        ({"activation": "gelu"}, "Unknown SAE activation"),
        ({"activation": "relu", "hook_layer": -1}, "hook layer must be >= 0"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"d_in": 3, "d_sae": 4, "hook_layer": 1}
    with pytest.raises(ValueError, match=message):
        SaeConfig(**(base | kwargs))  # type: ignore[arg-type]
