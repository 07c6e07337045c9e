"""Load a causal LM (HF folder, GGUF, embedded default) and capture its residual stream.

`load_model(ModelSpec(...))` gives a `LoadedModel`; `LoadedModel.residuals` reads one layer
with a scoped hook that stops the forward pass there. Importing this package does not import
transformers (seconds); loading a model does.
"""

from fac_engine.models.batching import TokenBatch, batches_by_token_budget
from fac_engine.models.capture import default_layer, residual_stream
from fac_engine.models.device import Placement, resolve_placement
from fac_engine.models.embedded import (
    EMBEDDED_DEFAULT_LAYER,
    EMBEDDED_NAME,
    EmbeddedStatus,
    embedded_gguf_path,
    embedded_status,
    prepare_embedded,
)
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec

__all__ = [
    "EMBEDDED_DEFAULT_LAYER",
    "EMBEDDED_NAME",
    "EmbeddedStatus",
    "LoadedModel",
    "ModelSpec",
    "Placement",
    "TokenBatch",
    "batches_by_token_budget",
    "default_layer",
    "embedded_gguf_path",
    "embedded_status",
    "load_model",
    "prepare_embedded",
    "residual_stream",
    "resolve_placement",
]
