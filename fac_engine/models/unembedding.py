"""What a residual direction goes through on its way to the logits: the output embedding W_U and the final
norm's weight, read from a loaded model or straight from a folder's safetensors without loading the model.

Reading two tensors from the weight files takes well under a second where loading the whole model takes
seconds; the feature explorer only needs these two and the tokenizer (app_pages/2_Feature_explorer.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.device import Placement, resolve_placement
from fac_engine.models.loader import LoadedModel, check_model_folder, load_model, model_folder
from fac_engine.models.pretrained import one_line, pretrained_tokenizer
from fac_engine.models.spec import ModelSpec

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

log = get_logger(__name__)

FINAL_NORMS = ("norm", "final_layernorm", "ln_f")
"""Attribute names of the final norm on a transformers base model, in the order they are looked for
(Llama / Qwen2 / Gemma / Mistral, Phi, GPT-2)."""
INPUT_EMBEDDINGS = ("embed_tokens", "wte", "word_embeddings")
"""Attribute names of the input embedding on a base model (Llama-like, GPT-2, Bloom): the output embedding
of a model with tied embeddings."""
BASE_PREFIXES = ("model.", "transformer.", "")
"""Where the base model's weights sit in a checkpoint: its `base_model_prefix` (`model` for Llama-like
models, `transformer` for GPT-2-like ones), or nothing (GPT-2's original files)."""
OUTPUT_EMBEDDING = "lm_head.weight"
SINGLE_FILE = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"


class Unembedding(NamedTuple):
    """What a decoder direction goes through on its way to the logits."""

    W_U_VD: torch.Tensor
    """[vocab, d_model] output embedding (lm_head) weights."""
    norm_weight: torch.Tensor | None
    """[d_model] elementwise weight of the final norm, None when the model has none we recognise."""


class OutputHead(NamedTuple):
    """A model's unembedding and tokenizer, with the facts needed to check that an SAE fits the model."""

    unembedding: Unembedding
    """W_U and the final norm's weight, on `device` in the model's load dtype."""
    tokenizer: PreTrainedTokenizerBase
    """The model's tokenizer (to decode token ids)."""
    hidden_size: int
    """Width D of the residual stream."""
    num_layers: int
    """Number of decoder blocks (as in LoadedModel.num_layers)."""
    device: torch.device
    """Where the tensors live (the device the full model would load on)."""


def model_unembedding(model: nn.Module) -> Unembedding:
    """The output embedding and final-norm weight of a transformers causal LM (Llama-like or GPT-2-like)."""
    get_output = getattr(model, "get_output_embeddings", None)
    head = get_output() if callable(get_output) else None
    if head is None or getattr(head, "weight", None) is None:
        raise FacError(f"{type(model).__name__} has no output embedding; cannot read its unembedding.")
    base = getattr(model, "base_model", model)
    norm = next((getattr(base, n) for n in FINAL_NORMS if hasattr(base, n)), None)
    weight = getattr(norm, "weight", None) if norm is not None else None
    return Unembedding(head.weight.detach(), weight.detach() if isinstance(weight, torch.Tensor) else None)


def read_unembedding(folder: Path, placement: Placement) -> Unembedding | None:
    """W_U and the final norm's weight of a transformers folder, read from its safetensors alone.

    Gives exactly what `model_unembedding` gives on the loaded model (same values, dtype and device):
    `lm_head.weight` when the checkpoint has it, else the input embedding when the config ties them (as
    transformers ties on load). None when the folder has no safetensors or the tensors have names this
    reader does not know; the caller then loads the whole model.
    """
    check_model_folder(folder)
    weight_files = _weight_files(folder)
    if weight_files is None:
        return None
    names = _unembedding_names(set(weight_files), _ties_embeddings(folder))
    if names is None:
        return None
    head, norm = names
    return Unembedding(_read(folder, weight_files, head, placement), _read(folder, weight_files, norm, placement))


def output_head(spec: ModelSpec, full_model: Callable[[ModelSpec], LoadedModel] = load_model) -> OutputHead:
    """The unembedding and tokenizer of the model a spec names, without loading the model where possible.

    A transformers folder with safetensors (the embedded and named models are such folders) is read
    directly; anything else (a GGUF file, `.bin` weights, unknown tensor names) goes through
    `full_model`, which callers with a model cache pass so that the model is loaded once.
    """
    placement = resolve_placement(spec.device, spec.dtype)
    folder = model_folder(spec)
    unembedding = read_unembedding(folder, placement) if folder is not None else None
    if folder is None or unembedding is None:
        log.info("Reading the unembedding of %s through the full model", spec.source)
        loaded = full_model(spec)
        return OutputHead(model_unembedding(loaded.model), loaded.tokenizer, loaded.hidden_size, loaded.num_layers,
                          loaded.device)
    hidden_size, num_layers = _shape(folder)
    return OutputHead(unembedding, pretrained_tokenizer(folder), hidden_size, num_layers, placement.device)


def _weight_files(folder: Path) -> dict[str, Path] | None:
    """Tensor name -> the safetensors file holding it (a sharded index or one file); None without either."""
    from safetensors import safe_open

    index = folder / SHARD_INDEX
    try:
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return {str(name): folder / str(file) for name, file in weight_map.items()}
        single = folder / SINGLE_FILE
        if single.is_file():
            with safe_open(str(single), framework="pt") as handle:
                return dict.fromkeys(handle.keys(), single)
    except Exception as err:  # a bad index or file header fails as OSError, ValueError, KeyError, SafetensorError
        raise FacError(f"Cannot read the weight files in {folder}: {one_line(err)}") from err
    return None


def _unembedding_names(names: set[str], tied: bool) -> tuple[str, str] | None:
    """The checkpoint names of (W_U, final norm weight), or None when they are not all found."""
    for prefix in BASE_PREFIXES:
        norm = next((f"{prefix}{n}.weight" for n in FINAL_NORMS if f"{prefix}{n}.weight" in names), None)
        if norm is None:
            continue
        if OUTPUT_EMBEDDING in names:
            return OUTPUT_EMBEDDING, norm
        embedding = next((f"{prefix}{e}.weight" for e in INPUT_EMBEDDINGS if f"{prefix}{e}.weight" in names), None)
        return (embedding, norm) if tied and embedding is not None else None
    return None


def _ties_embeddings(folder: Path) -> bool:
    """Whether the model's config ties the output embedding to the input one (the config class's default
    when config.json does not say)."""
    return bool(getattr(_config(folder), "tie_word_embeddings", False))


def _shape(folder: Path) -> tuple[int, int]:
    """(hidden size, number of decoder blocks) from the config."""
    config = _config(folder)
    try:
        return int(config.hidden_size), int(config.num_hidden_layers)
    except (AttributeError, TypeError, ValueError) as err:
        raise FacError(f"The config.json in {folder} gives no hidden size or layer count: {one_line(err)}") from err


def _config(folder: Path) -> PretrainedConfig:
    """The folder's transformers config, offline."""
    from transformers import AutoConfig

    try:
        config: PretrainedConfig = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        return config
    except Exception as err:  # unknown model types and malformed JSON fail with assorted types
        raise FacError(f"Cannot read the model config in {folder}: {one_line(err)}") from err


def _read(folder: Path, weight_files: dict[str, Path], name: str, placement: Placement) -> torch.Tensor:
    """One tensor from its file, in the placement's dtype and on its device (as from_pretrained loads it)."""
    from safetensors import safe_open

    try:
        with safe_open(str(weight_files[name]), framework="pt") as handle:
            tensor = handle.get_tensor(name)
    except Exception as err:  # a missing shard or a truncated file
        raise FacError(f"Cannot read {name} from the weights in {folder}: {one_line(err)}") from err
    return tensor.to(device=placement.device, dtype=placement.dtype)
