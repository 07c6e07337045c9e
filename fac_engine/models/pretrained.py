"""transformers' from_pretrained, offline only, with every load failure turned into one FacError line.

transformers is imported inside the functions: importing it costs seconds, and code that only
batches tokens or reads a workspace should not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fac_engine.errors import FacError
from fac_engine.models.device import Placement

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def pretrained_model(path: Path, placement: Placement) -> PreTrainedModel:
    """A causal LM from a transformers folder or a `.gguf` file, on `placement`, in eval mode."""
    from transformers import AutoModelForCausalLM

    folder, kwargs = _location(path)
    try:
        # output_loading_info makes it return (model, info); its annotations only know the model.
        model, info = cast(
            tuple[Any, dict[str, Any]],
            AutoModelForCausalLM.from_pretrained(
                folder, dtype=placement.dtype, output_loading_info=True, trust_remote_code=False, **kwargs
            ),
        )
    except Exception as err:  # a bad user file fails in many ways (OSError, SafetensorError, ValueError...)
        raise FacError(f"Cannot load the model weights in {path}: {one_line(err)}") from err
    # transformers fills missing weights with random values and only warns; that is a wrong model.
    missing = [str(k) for k in info.get("missing_keys", [])] + [str(k) for k in info.get("mismatched_keys", [])]
    if missing:
        raise FacError(f"The weights in {path} are incomplete ({len(missing)} missing, e.g. {missing[0]}).")
    loaded: PreTrainedModel = model.to(placement.device).eval()
    return loaded


def pretrained_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The tokenizer of a transformers folder or a `.gguf` file; one without a pad token pads with eos."""
    from transformers import AutoTokenizer

    folder, kwargs = _location(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    except Exception as err:  # missing or corrupt tokenizer files fail with assorted types
        expected = "" if "gguf_file" in kwargs else " (expected tokenizer.json and tokenizer_config.json)"
        raise FacError(f"Cannot load the tokenizer in {path}{expected}: {one_line(err)}") from err
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception as `Type: message` on one line, shortened, for a FacError."""
    text = " ".join(str(err).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _location(path: Path) -> tuple[Path, dict[str, Any]]:
    """The folder to hand to from_pretrained, and the keyword arguments that keep it offline."""
    # local_files_only: a typo in a path must never turn into a hub download attempt.
    if path.suffix.lower() == ".gguf":
        return path.parent, {"local_files_only": True, "gguf_file": path.name}
    return path, {"local_files_only": True}
