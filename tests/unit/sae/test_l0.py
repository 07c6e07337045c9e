"""measure_l0: active features per token on the built-in texts, against a dense count by hand."""

from pathlib import Path

import pytest
import torch

from fac_engine.models.harvest import harvest_activations
from fac_engine.models.loader import load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.config import SaeConfig
from fac_engine.sae.l0 import PROBE_TEXTS, measure_l0
from fac_engine.sae.model import SparseAutoencoder
from tests.conftest import TINY_HIDDEN


def wide_relu_sae(max_active: int | None = None, d_in: int = TINY_HIDDEN) -> SparseAutoencoder:
    """A relu SAE on layer 1 with about half of its 512 latents active per token."""
    g = torch.Generator().manual_seed(5)
    cfg = SaeConfig(d_in=d_in, d_sae=512, activation="relu", hook_layer=1, apply_b_dec_to_input=False,
                    max_active=max_active, metrics={"l0": 250.0})
    return SparseAutoencoder.from_tensors(cfg, {"W_enc": torch.randn(d_in, 512, generator=g),
                                                "b_enc": torch.full((512,), 0.2), "W_dec": torch.randn(512, d_in),
                                                "b_dec": torch.zeros(d_in)})


@pytest.mark.parametrize("cap", [None, 100])
def test_l0_equals_a_dense_count(tiny_model_dir: Path, cap: int | None) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="float32"))
    sae = wide_relu_sae(cap)
    acts = harvest_activations(lm, PROBE_TEXTS, layer=1, max_tokens=120)
    active = (sae.encode(acts.float()) > 0).sum(1)

    measured = measure_l0(lm, sae, max_tokens=120)

    assert measured.tokens == 120
    assert measured.mean == pytest.approx(float(active.float().mean()))
    assert (measured.median, measured.max) == (float(active.float().median()), int(active.max()))
    assert measured.mean > 64
    dropped = int((active - cap).clamp_min(0).sum()) / int(active.sum()) if cap else 0.0
    assert measured.cap_dropped_share == pytest.approx(dropped)
    assert cap is None or measured.cap_dropped_share > 0
