"""Checkpoints of a TopK SAE training run: tensors in safetensors, everything else in JSON.

`state-<step>.safetensors` holds the parameters, Adam's moments and step counts, the dead-latent
counters and the running loss sums; `checkpoint.json` holds the step, the run's identity (config,
data, scale: what must match to resume), the training curve and the generators' states, and
names its tensor file. The JSON is written last, atomically: it is the commit point, so a crash
mid-save leaves the previous checkpoint in force (older tensor files are removed after a commit).
"""

import base64
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fac_engine.atomic import atomic_file
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.sae.train_state import StepLog, TrainState

log = get_logger(__name__)

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_FORMAT = "fac-sae-train-checkpoint"
CHECKPOINT_VERSION = 1

RunIdentity = dict[str, Any]
"""JSON-able description of a run (config, data, sizes, input scale); a resume must match it exactly."""


def has_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a committed checkpoint."""
    return (Path(folder) / CHECKPOINT_FILE).is_file()


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _tensors(state: TrainState) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, param in state.params.named():
        tensors[f"param.{name}"] = param.detach()
        for key, value in state.optimizer.state.get(param, {}).items():
            tensors[f"adam.{name}.{key}"] = value.detach()
    tensors["since_fired"] = state.since_fired
    tensors["recorder.fvu_sum"] = state.recorder.fvu_sum
    tensors["recorder.aux_sum"] = state.recorder.aux_sum
    return {k: v.to("cpu").contiguous() for k, v in tensors.items()}


def save_checkpoint(folder: Path, state: TrainState, identity: RunIdentity, generator: torch.Generator) -> Path:
    """Write the state of the run at `state.step`; returns the JSON's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = f"state-{state.step:09d}.safetensors"
    with atomic_file(folder / weights) as tmp:
        save_file(_tensors(state), str(tmp))
    record = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": state.step, "weights": weights,
        "seconds": state.seconds, "identity": identity, "history": [list(h) for h in state.recorder.history],
        "recorder_count": state.recorder.count,
        "rng": {"generator": _b64(generator.get_state()), "torch": _b64(torch.get_rng_state())},
    }
    with atomic_file(folder / CHECKPOINT_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for old in folder.glob("state-*.safetensors"):
        if old.name != weights:
            old.unlink()
    log.info("checkpoint at step %d written to %s", state.step, folder)
    return folder / CHECKPOINT_FILE


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        return [d for key in sorted({*saved, *current})
                for d in _differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    return [] if saved == current else [f"{prefix[:-1]} (checkpoint {saved!r}, now {current!r})"]


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / CHECKPOINT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FacError(f"{path} is unreadable ({exc}); delete {folder} to start the run again") from exc
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise FacError(f"{path} is not an SAE training checkpoint")
    if record.get("version", 0) > CHECKPOINT_VERSION:
        raise FacError(f"{path} was written by a newer FAC Studio; update it to resume this run")
    return record


def load_checkpoint(folder: Path, state: TrainState, identity: RunIdentity, generator: torch.Generator) -> None:
    """Restore the run saved in `folder` into a freshly built `state` (and `generator`).

    Refuses (FacError naming the differences) when the run's identity differs: another config,
    other data or another size cannot continue this run.
    """
    folder = Path(folder)
    record = _read_record(folder)
    current = json.loads(json.dumps(identity))
    differences = _differences(record["identity"], current)
    if differences:
        raise FacError(f"the checkpoint in {folder} is of another run: {'; '.join(differences[:4])}; "
                       "use the same options, or another checkpoint folder to start a new run")
    path = folder / str(record["weights"])
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise FacError(f"checkpoint tensors {path} are unreadable ({exc})") from exc
    try:
        _restore(tensors, record, state)
    except KeyError as exc:
        raise FacError(f"checkpoint tensors {path} lack {exc}; delete {folder} to start the run again") from exc
    generator.set_state(_unb64(record["rng"]["generator"]))
    torch.set_rng_state(_unb64(record["rng"]["torch"]))
    log.info("resumed from step %d of %s", state.step, folder)


def _restore(tensors: dict[str, torch.Tensor], record: dict[str, Any], state: TrainState) -> None:
    named = state.params.named()
    with torch.no_grad():
        for name, param in named:
            param.copy_(tensors[f"param.{name}"])
    optim = state.optimizer.state_dict()
    optim["state"] = {i: {key: tensors[f"adam.{name}.{key}"] for key in ("step", "exp_avg", "exp_avg_sq")}
                      for i, (name, _) in enumerate(named) if f"adam.{name}.step" in tensors}
    state.optimizer.load_state_dict(optim)
    state.since_fired.copy_(tensors["since_fired"])
    state.recorder.fvu_sum, state.recorder.aux_sum = tensors["recorder.fvu_sum"], tensors["recorder.aux_sum"]
    state.recorder.count = int(record["recorder_count"])
    state.recorder.history = [StepLog(*entry) for entry in record["history"]]
    state.step, state.seconds = int(record["step"]), float(record["seconds"])
