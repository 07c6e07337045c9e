"""Resumable SAE training: a run stopped at step k and resumed equals the uninterrupted run bit for bit
(parameters, Adam state, K annealing, AuxK dead counters, data order, curve), and bad resumes are refused."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.sae.activation_buffer import TensorShards
from fac_engine.sae.checkpoint import CHECKPOINT_FILE, has_checkpoint
from fac_engine.sae.formats.fac import is_tied
from fac_engine.sae.train import CheckpointPlan, TrainConfig, TrainingPaused, TrainResult, train_topk_sae
from tests.unit.sae.test_train import synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = synthetic(1100, seed=77).acts
TRAIN = TensorShards(DATA[:300], DATA[300:700], DATA[700:1000])
"""Three shards, shuffled in windows of at least 350 rows: two windows per epoch."""
EVAL = DATA[1000:]
CFG = TrainConfig(k=2, d_sae=64, batch_size=32, epochs=2.0, k_anneal_start=12, aux_k=16, dead_after_tokens=64,
                  lr=3e-3, shuffle_window_rows=350, selection_dtype="float32", device="cpu")
STEPS = 63
"""ceil(2 epochs * 1000 rows / 32)."""


def _train(cfg: TrainConfig = CFG, plan: CheckpointPlan | None = None) -> TrainResult:
    return train_topk_sae(TRAIN, cfg, hook_layer=2, model_name="m", eval_acts_ND=EVAL, checkpoint=plan,
                          data_key="synthetic-77")


def _stop_after(step: int) -> Callable[[], bool]:
    calls = iter(range(1, 10**6))
    return lambda: next(calls) >= step


def _assert_same_run(a: TrainResult, b: TrainResult) -> None:
    for name, tensor in a.sae.tensors().items():
        assert torch.equal(tensor, b.sae.tensors()[name]), name
    assert a.history == b.history
    assert a.metrics == b.metrics
    without_time = [{k: v for k, v in r.sae.cfg.metrics.items() if k != "train_seconds"} for r in (a, b)]
    assert without_time[0] == without_time[1]


@pytest.mark.parametrize("tied", [False, True])
def test_a_run_stopped_twice_and_resumed_equals_the_uninterrupted_run(tmp_path: Path, tied: bool) -> None:
    cfg = TrainConfig(**{**CFG.__dict__, "tied": tied})
    whole = _train(cfg)
    # Annealing runs over the first round(0.5 * 63) = 32 steps and AuxK has dead latents to work on:
    # stopping at steps 9 and 40 cuts through both.
    assert [h.k for h in whole.history][:5] == [12, 12, 12, 12, 11] and whole.history[-1].k == 2
    assert any(h.aux_loss > 0 for h in whole.history)
    folder = tmp_path / "ckpt"
    for stop_at in (9, 31):  # the second sitting starts at step 9, so it stops at 9 + 31 = 40
        with pytest.raises(TrainingPaused, match=r"training paused at step (9|40) of 63"):
            _train(cfg, CheckpointPlan(folder, resume=True, stop=_stop_after(stop_at)))
    assert json.loads((folder / CHECKPOINT_FILE).read_text())["step"] == 40
    resumed = _train(cfg, CheckpointPlan(folder, resume=True))
    _assert_same_run(whole, resumed)
    assert is_tied(resumed.sae) == tied


def test_resuming_a_finished_run_returns_the_same_sae(tmp_path: Path) -> None:
    first = _train(plan=CheckpointPlan(tmp_path / "ckpt"))
    assert json.loads((tmp_path / "ckpt" / CHECKPOINT_FILE).read_text())["step"] == STEPS
    _assert_same_run(first, _train(plan=CheckpointPlan(tmp_path / "ckpt", resume=True)))


def test_resume_without_a_checkpoint_starts_the_run(tmp_path: Path) -> None:
    _assert_same_run(_train(), _train(plan=CheckpointPlan(tmp_path / "none", resume=True)))


def test_timed_saves_keep_one_tensor_file(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    (folder).mkdir()
    (folder / "state-000000999.safetensors").write_bytes(b"a save cut short")  # never committed
    _train(plan=CheckpointPlan(folder, every_seconds=0.0))
    record = json.loads((folder / CHECKPOINT_FILE).read_text())
    assert sorted(p.name for p in folder.iterdir()) == [CHECKPOINT_FILE, record["weights"]]
    assert record["weights"] == f"state-{STEPS:09d}.safetensors"
    assert len(record["history"]) == len(_train().history)


def test_an_existing_checkpoint_needs_resume(tmp_path: Path) -> None:
    with pytest.raises(TrainingPaused):
        _train(plan=CheckpointPlan(tmp_path / "ckpt", stop=_stop_after(3)))
    with pytest.raises(FacError, match="already holds a checkpoint; resume it, or delete it"):
        _train(plan=CheckpointPlan(tmp_path / "ckpt"))


@pytest.mark.parametrize(("changes", "data_key", "message"), [
    ({"lr": 1e-3}, "synthetic-77", r"another run: config\.lr \(checkpoint 0\.003, now 0\.001\)"),
    ({"k_anneal_start": 10}, "synthetic-77", r"config\.k_anneal_start \(checkpoint 12, now 10\)"),
    ({}, "other-data", r"data \(checkpoint 'synthetic-77', now 'other-data'\)"),
])
def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path, changes: dict[str, object], data_key: str,
                                                 message: str) -> None:
    with pytest.raises(TrainingPaused):
        _train(plan=CheckpointPlan(tmp_path / "ckpt", stop=_stop_after(3)))
    cfg = TrainConfig(**{**CFG.__dict__, **changes})
    with pytest.raises(FacError, match=message):
        train_topk_sae(TRAIN, cfg, hook_layer=2, model_name="m", eval_acts_ND=EVAL,
                       checkpoint=CheckpointPlan(tmp_path / "ckpt", resume=True), data_key=data_key)


def test_a_damaged_checkpoint_is_a_fac_error(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    with pytest.raises(TrainingPaused):
        _train(plan=CheckpointPlan(folder, stop=_stop_after(3)))
    assert has_checkpoint(folder)
    record = json.loads((folder / CHECKPOINT_FILE).read_text())
    (folder / record["weights"]).write_bytes(b"garbage")
    with pytest.raises(FacError, match=r"checkpoint tensors .* are unreadable"):
        _train(plan=CheckpointPlan(folder, resume=True))
    (folder / CHECKPOINT_FILE).write_text("{not json")
    with pytest.raises(FacError, match=r"checkpoint\.json is unreadable"):
        _train(plan=CheckpointPlan(folder, resume=True))


def test_sharded_training_needs_an_eval_set() -> None:
    with pytest.raises(FacError, match="Sharded training activations need an evaluation set"):
        train_topk_sae(TRAIN, CFG, hook_layer=2, model_name="m")


def test_tied_training_shares_one_matrix() -> None:
    result = _train(TrainConfig(**{**CFG.__dict__, "tied": True}))
    assert torch.equal(result.sae.W_enc, result.sae.W_dec.t())
    torch.testing.assert_close(result.sae.W_dec.norm(dim=1), torch.ones(64))
    assert result.metrics.fvu < 1.0


def test_a_resampling_run_resumes_exactly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # every 320 // 32 = 10 steps while step < 0.9 * 63: before steps 10, 20, ..., 50
    cfg = TrainConfig(**{**CFG.__dict__, "tied": True, "resample_every_tokens": 320})
    with caplog.at_level("INFO", logger="fac.sae.train"):
        whole = _train(cfg)
    resampled = [r.getMessage() for r in caplog.records if "resampled" in r.getMessage()]
    assert resampled and all(m.startswith(("Step 10:", "Step 20:", "Step 30:", "Step 40:", "Step 50:"))
                             for m in resampled)
    assert not torch.equal(whole.sae.tensors()["W_dec"], _train(TrainConfig(**{**CFG.__dict__, "tied": True})
                                                                   ).sae.tensors()["W_dec"])
    folder = tmp_path / "ckpt"
    with pytest.raises(TrainingPaused, match=r"training paused at step 25 of 63"):
        _train(cfg, CheckpointPlan(folder, resume=True, stop=_stop_after(25)))
    _assert_same_run(whole, _train(cfg, CheckpointPlan(folder, resume=True)))
