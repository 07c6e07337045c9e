"""ModelSpec validation and device/dtype resolution."""

import pytest
import torch

from fac_engine.errors import FacError
from fac_engine.models.device import resolve_device, resolve_dtype, resolve_placement
from fac_engine.models.spec import ModelSpec


def test_defaults_are_the_embedded_model_placed_automatically() -> None:
    spec = ModelSpec()
    assert (spec.source, spec.device, spec.dtype, spec.kind) == ("embedded", "auto", "auto", "embedded")


@pytest.mark.parametrize(
    ("source", "kind"),
    [("embedded", "embedded"), ("/models/llama", "folder"), ("m/SmolLM2.Q4_1.GGUF", "gguf"), ("x.gguf", "gguf")],
)
def test_source_kind(source: str, kind: str) -> None:
    assert ModelSpec(source=source).kind == kind


def test_specs_are_hashable_and_compare_by_value() -> None:
    assert {ModelSpec(device="cpu"), ModelSpec(device="cpu")} == {ModelSpec(device="cpu")}
    assert ModelSpec(dtype="float32") != ModelSpec(dtype="bfloat16")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "  "}, "source is empty"),
        ({"device": "gpu"}, "Unknown device 'gpu'"),
        ({"device": "cuda:"}, "Unknown device 'cuda:'"),
        ({"dtype": "fp16"}, "Unknown dtype 'fp16'"),
    ],
)
def test_bad_values_raise_value_error(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelSpec(**kwargs)


@pytest.mark.parametrize(
    ("name", "cuda_count", "expected"),
    [
        ("auto", 0, torch.device("cpu")),
        ("auto", 2, torch.device("cuda", 0)),
        ("cpu", 2, torch.device("cpu")),
        ("cuda", 1, torch.device("cuda", 0)),
        ("cuda:1", 2, torch.device("cuda", 1)),
    ],
)
def test_resolve_device(name: str, cuda_count: int, expected: torch.device) -> None:
    assert resolve_device(name, cuda_count) == expected


@pytest.mark.parametrize(("name", "cuda_count"), [("cuda", 0), ("cuda:2", 2)])
def test_missing_gpu_is_a_user_error(name: str, cuda_count: int) -> None:
    with pytest.raises(FacError, match=f"Device '{name}' was asked for"):
        resolve_device(name, cuda_count)


def test_auto_dtype_follows_the_device_and_explicit_dtypes_win() -> None:
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda", 0)) == torch.bfloat16
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
    assert resolve_placement("auto", "auto", cuda_count=1) == (torch.device("cuda", 0), torch.bfloat16)
    assert resolve_placement("auto", "auto", cuda_count=0) == (torch.device("cpu"), torch.float32)
    assert resolve_placement("cpu", "bfloat16", cuda_count=1) == (torch.device("cpu"), torch.bfloat16)
