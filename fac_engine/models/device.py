"""Turn the spec's device and dtype names into torch objects, without touching global state."""

from typing import NamedTuple

import torch

from fac_engine.errors import FacError

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


class Placement(NamedTuple):
    """Where a model lives and in which precision."""

    device: torch.device
    dtype: torch.dtype


def cuda_device_count() -> int:
    """Number of usable CUDA devices (0 when torch has no CUDA or no GPU is visible)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str, cuda_count: int | None = None) -> torch.device:
    """`auto` -> `cuda:0` when a GPU is visible, else `cpu`; `cuda` means `cuda:0`.

    `cuda_count` defaults to the GPUs torch sees; passing it keeps the function pure (tests).
    Asking for a GPU that is not there is a user error.
    """
    count = cuda_device_count() if cuda_count is None else cuda_count
    if name == "auto":
        return torch.device("cuda:0" if count > 0 else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ValueError(f"Unknown device {name!r}; use auto, cpu, cuda or cuda:N.")
    # An explicit index keeps `LoadedModel.device` equal to the parameters' device.
    index = int(name.partition(":")[2] or 0)
    if index >= count:
        seen = f"{count} CUDA device(s) are visible" if count else "no CUDA device is visible"
        raise FacError(f"Device {name!r} was asked for, but {seen}; use device 'cpu' or 'auto'.")
    return torch.device("cuda", index)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` -> bfloat16 on CUDA (half the memory, native speed), float32 on CPU (exact, fast there)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise ValueError(f"Unknown dtype {name!r}; use auto, float32, bfloat16 or float16.")
    return _DTYPES[name]


def resolve_placement(device: str = "auto", dtype: str = "auto", cuda_count: int | None = None) -> Placement:
    """Resolve a spec's device and dtype names together (the dtype default depends on the device)."""
    resolved = resolve_device(device, cuda_count)
    return Placement(resolved, resolve_dtype(dtype, resolved))
