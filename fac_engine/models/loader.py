"""Load a causal LM and its tokenizer from the embedded default, a transformers folder or a GGUF file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.capture import decoder_layers, residual_stream
from fac_engine.models.device import Placement, resolve_placement
from fac_engine.models.embedded import EMBEDDED_NAME, prepare_embedded
from fac_engine.models.identity import folder_identity, model_identity
from fac_engine.models.offline import named_model, prepare_named
from fac_engine.models.pretrained import pretrained_model, pretrained_tokenizer
from fac_engine.models.spec import ModelSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = get_logger(__name__)


@dataclass
class LoadedModel:
    """A causal LM ready for residual-stream capture, with what callers need to know about it."""

    model: PreTrainedModel
    """The transformers model, in eval mode, on `device` in `dtype`."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer; it always has a pad token (the eos token when the model defines none)."""
    name: str
    """Display name: `SmolLM2-135M-Instruct` for the embedded model, else the folder or file name."""
    identity: str
    """`name@hash12` over config and weight-file fingerprints; equal only for the same weights."""
    hidden_size: int
    """Width D of the residual stream."""
    num_layers: int
    """Number of decoder blocks; valid capture layers are 0..num_layers."""
    device: torch.device
    """Where the weights live."""
    dtype: torch.dtype
    """Precision of the weights and of the captured residuals."""

    @property
    def context_length(self) -> int | None:
        """Longest input the model's position embeddings cover (None when its config does not say)."""
        value = getattr(self.model.config, "max_position_embeddings", None)
        return int(value) if value else None

    @property
    def pad_id(self) -> int:
        """The id to right-pad batches with (masked out, so its value never matters)."""
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def residuals(self, input_ids_BT: torch.Tensor, attention_mask_BT: torch.Tensor, layer: int) -> torch.Tensor:
        """Residual stream `[B, T, D]` after `layer` (0 = embeddings, L = output of block L)."""
        return residual_stream(self.model, input_ids_BT, attention_mask_BT, layer)


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load the model a spec names, offline, in eval mode; user-caused failures raise FacError."""
    placement = resolve_placement(spec.device, spec.dtype)
    start = time.perf_counter()
    folder = model_folder(spec)
    if folder is None:
        loaded = load_gguf(Path(spec.source).expanduser(), placement)
    elif spec.kind == "embedded":
        loaded = load_folder(folder, placement, name=EMBEDDED_NAME)
    elif spec.kind == "named":
        loaded = load_folder(folder, placement, name=named_model(spec.source).display)
    else:
        loaded = load_folder(folder, placement, name=folder.name)
    log.info(
        "Loaded %s (%d layers, hidden %d) on %s as %s in %.1f s",
        loaded.identity,
        loaded.num_layers,
        loaded.hidden_size,
        loaded.device,
        loaded.dtype,
        time.perf_counter() - start,
    )
    return loaded


def model_folder(spec: ModelSpec) -> Path | None:
    """The transformers folder a spec loads from (the embedded and named models are converted once into
    one); None for a GGUF file."""
    if spec.kind == "embedded":
        return prepare_embedded()
    if spec.kind == "named":
        return prepare_named(spec.source)
    if spec.kind == "gguf":
        return None
    return Path(spec.source).expanduser()


def check_model_folder(folder: Path) -> None:
    """FacError unless `folder` looks like a folder written by `save_pretrained` (it has a config.json)."""
    if not folder.is_dir():
        raise FacError(f"Model folder {folder} does not exist; expected a transformers folder or a .gguf file.")
    if not (folder / "config.json").is_file():
        raise FacError(f"{folder} has no config.json; expected a transformers model folder (save_pretrained).")


def load_folder(folder: Path, placement: Placement, name: str) -> LoadedModel:
    """Load a folder written by `save_pretrained` (config.json, weights, tokenizer files)."""
    check_model_folder(folder)
    model = pretrained_model(folder, placement)
    tokenizer = pretrained_tokenizer(folder)
    return _loaded(model, tokenizer, name, folder_identity(name, folder), placement)


def load_gguf(path: Path, placement: Placement) -> LoadedModel:
    """Load (and dequantise) a GGUF file with the tokenizer stored inside it."""
    if not path.is_file():
        raise FacError(f"GGUF file {path} does not exist; expected a .gguf model file.")
    model = pretrained_model(path, placement)
    tokenizer = pretrained_tokenizer(path)
    identity = model_identity(path.stem, {}, [path])
    return _loaded(model, tokenizer, path.stem, identity, placement)


def _loaded(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str, identity: str, placement: Placement
) -> LoadedModel:
    """Assemble a LoadedModel after checking the blocks can be hooked."""
    num_layers = len(decoder_layers(model))
    hidden_size = int(model.config.hidden_size)
    return LoadedModel(model, tokenizer, name, identity, hidden_size, num_layers, placement.device, placement.dtype)
