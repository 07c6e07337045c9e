"""What the user asks for: which language model to load, on which device, in which dtype."""

import re
from dataclasses import dataclass
from typing import Literal

EMBEDDED_SOURCE = "embedded"
"""The `source` value that selects the bundled SmolLM2-135M-Instruct."""

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
"""Device names a spec accepts (N is a GPU index); `auto` picks CUDA when it is available."""

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
"""Dtype names a spec accepts; `auto` is bfloat16 on CUDA and float32 on CPU."""

SourceKind = Literal["embedded", "named", "folder", "gguf"]
"""How a source string is read: the embedded default, a named offline model, a transformers folder or a GGUF file."""
NAMED_SOURCES = ("qwen2.5-0.5b", "qwen2.5-1.5b")
"""Named offline models (fac_engine/models/offline.py): fetched from PyPI parts and converted on first use."""

_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class ModelSpec:
    """Which language model to load and where; hashable, so it can key a cache."""

    source: str = EMBEDDED_SOURCE
    """`embedded`, a named offline model (`qwen2.5-0.5b`, `qwen2.5-1.5b`), a path to a transformers model folder,
    or a path to a `.gguf` file."""
    device: str = "auto"
    """`auto`, `cpu`, `cuda` or `cuda:N`; `auto` is CUDA when available, else CPU."""
    dtype: str = "auto"
    """`auto`, `float32`, `bfloat16` or `float16`; `auto` is bfloat16 on CUDA, float32 on CPU."""

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ValueError("The model source is empty; use 'embedded', a model folder or a .gguf file.")
        if not _DEVICE_RE.fullmatch(self.device):
            raise ValueError(f"Unknown device {self.device!r}; use one of {', '.join(DEVICE_CHOICES)}.")
        if self.dtype not in DTYPE_CHOICES:
            raise ValueError(f"Unknown dtype {self.dtype!r}; use one of {', '.join(DTYPE_CHOICES)}.")

    @property
    def kind(self) -> SourceKind:
        """How `source` is read: `embedded`, `named`, `gguf` (a path ending in .gguf) or `folder`."""
        if self.source == EMBEDDED_SOURCE:
            return "embedded"
        if self.source in NAMED_SOURCES:
            return "named"
        return "gguf" if self.source.lower().endswith(".gguf") else "folder"
