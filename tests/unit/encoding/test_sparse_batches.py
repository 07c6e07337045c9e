"""The batched path: flat per-row codes, the bf16-selection path equal to the fp32 one, the cap's count per row."""

from pathlib import Path

import pytest
import torch

from fac_engine.encoding.sparse_batches import RowCodes, sparse_codes_by_batch
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from tests.unit.sae.test_l0 import wide_relu_sae

IDS = [[1, 5, 9, 2], [3, 3], [7, 8, 9, 10, 11, 4], [6]]


@pytest.fixture
def lm(tiny_model_dir: Path) -> LoadedModel:
    return load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))


def _rows(lm: LoadedModel, cap: int | None = None, fast: bool = False) -> list[RowCodes]:
    sae = wide_relu_sae(cap)
    out = [r for rows in sparse_codes_by_batch(lm, sae, IDS, token_budget=8, sae_rows=3, fast=fast) for r in rows]
    return sorted(out, key=lambda r: r.row)


def test_rows_hold_every_active_feature_flat(lm: LoadedModel) -> None:
    sae = wide_relu_sae()
    for r in _rows(lm):
        ids = torch.tensor([IDS[r.row]])
        with torch.no_grad():
            dense = sae.encode(lm.residuals(ids, torch.ones_like(ids), 1)[0])
        assert r.counts.tolist() == (dense > 0).sum(1).tolist() and r.dropped == 0
        tokens = r.token_of_entry()
        assert tokens.tolist() == sorted(tokens.tolist())
        torch.testing.assert_close(torch.from_numpy(r.values), dense[tokens, r.indices], rtol=1e-6, atol=1e-6)


def test_bf16_selection_path_gives_the_same_rows(lm: LoadedModel) -> None:
    for a, b in zip(_rows(lm, fast=True), _rows(lm), strict=True):
        assert (a.row, a.counts.tolist(), a.indices.tolist(), a.dropped) == (b.row, b.counts.tolist(),
                                                                           b.indices.tolist(), b.dropped)
        assert a.values.tolist() == pytest.approx(b.values.tolist(), rel=1e-5, abs=1e-6)


def test_a_cap_keeps_the_strongest_and_counts_the_rest(lm: LoadedModel) -> None:
    full, capped = _rows(lm), _rows(lm, cap=50)
    for f, c in zip(full, capped, strict=True):
        assert c.counts.tolist() == [min(n, 50) for n in f.counts.tolist()]
        assert c.dropped == sum(max(n - 50, 0) for n in f.counts.tolist()) > 0
