"""Load a causal LM (HF folder, GGUF, embedded default, named offline models) and capture its residual stream.

`load_model(ModelSpec(...))` gives a `LoadedModel`; `LoadedModel.residuals` reads one layer with a scoped hook
that stops the forward pass there. `output_head(ModelSpec(...))` gives the unembedding and tokenizer alone, read
from the weight files without loading the model where it can.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fac_engine.models.loader import LoadedModel, load_model
    from fac_engine.models.offline import NAMED_MODELS, is_prepared
    from fac_engine.models.sentence import load_sentence_encoder
    from fac_engine.models.spec import ModelSpec
    from fac_engine.models.unembedding import OutputHead, Unembedding, model_unembedding, output_head, read_unembedding

_PUBLIC = {
    "LoadedModel": "loader",
    "NAMED_MODELS": "offline",
    "ModelSpec": "spec",
    "OutputHead": "unembedding",
    "Unembedding": "unembedding",
    "is_prepared": "offline",
    "load_model": "loader",
    "load_sentence_encoder": "sentence",
    "model_unembedding": "unembedding",
    "output_head": "unembedding",
    "read_unembedding": "unembedding",
}
"""Public name -> module of this package that defines it (imported on first use, so the package is cheap)."""

__all__ = [
    "NAMED_MODELS",
    "LoadedModel",
    "ModelSpec",
    "OutputHead",
    "Unembedding",
    "is_prepared",
    "load_model",
    "load_sentence_encoder",
    "model_unembedding",
    "output_head",
    "read_unembedding",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
