"""Load an SAE from any supported format: detect the layout from the files present, then load."""

from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import torch

from fac_engine.errors import FacError
from fac_engine.sae import filenames as fn
from fac_engine.sae.formats.common import read_json
from fac_engine.sae.formats.fac import is_fac_config, load_fac_sae
from fac_engine.sae.formats.fac_synthesis import load_fac_synthesis_sae
from fac_engine.sae.formats.gemma_scope import load_gemma_scope_sae
from fac_engine.sae.formats.llama_scope import load_llama_scope_sae
from fac_engine.sae.formats.saelens import load_saelens_sae
from fac_engine.sae.formats.sparsify import load_sparsify_sae, sparsify_layer_folders
from fac_engine.sae.model import SparseAutoencoder

SaeFormat = Literal["fac", "saelens", "sparsify", "fac-synthesis", "llama-scope", "gemma-scope"]
SAE_FORMATS: tuple[SaeFormat, ...] = get_args(SaeFormat)

EXPECTED_FILES: dict[SaeFormat, str] = {
    "fac": f'{fn.FAC_CFG} (with "format": "fac-studio-sae") + {fn.FAC_WEIGHTS}',
    "saelens": f"{fn.SAELENS_CFG} + {fn.SAELENS_WEIGHTS}",
    "sparsify": f"{fn.SPARSIFY_CFG} + {fn.SPARSIFY_WEIGHTS}, or sub-folders layers.N/ holding them",
    "fac-synthesis": "one " + " or ".join(f"*{suffix}" for suffix in fn.FAC_SYNTHESIS_SUFFIXES) + " checkpoint",
    "llama-scope": f"{fn.LLAMA_SCOPE_HYPERPARAMS} + {fn.LLAMA_SCOPE_WEIGHTS}",
    "gemma-scope": f"{fn.GEMMA_SCOPE_NPZ} or {fn.GEMMA_SCOPE_SAFETENSORS}",
}
"""What each format's folder holds, for the error on an unknown layout."""

_FILE_NAMES_OF_FOLDERS = {fn.SAELENS_CFG, fn.SAELENS_WEIGHTS, fn.FAC_WEIGHTS, fn.LLAMA_SCOPE_HYPERPARAMS}
_GEMMA_FILES = {fn.GEMMA_SCOPE_NPZ, fn.GEMMA_SCOPE_SAFETENSORS}

_LOADERS: dict[SaeFormat, Callable[[Path, int | None], SparseAutoencoder]] = {
    "saelens": load_saelens_sae,
    "sparsify": load_sparsify_sae,
    "fac-synthesis": load_fac_synthesis_sae,
    "llama-scope": load_llama_scope_sae,
    "gemma-scope": load_gemma_scope_sae,
}


class _Located(NamedTuple):
    format: SaeFormat
    path: Path
    """The folder (or, for fac-synthesis, the file) the loader reads."""


def _unknown_layout(path: Path, note: str = "") -> FacError:
    found = sorted(child.name for child in path.iterdir())[:12] if path.is_dir() else [path.name]
    expected = "; ".join(f"{name}: {files}" for name, files in EXPECTED_FILES.items())
    return FacError(
        f"No SAE format recognised at {path}{note} (found: {', '.join(found) or 'nothing'}). Expected one of - "
        f"{expected}."
    )


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in fn.FAC_SYNTHESIS_SUFFIXES)


def _locate_folder(folder: Path) -> _Located:
    has = {child.name for child in folder.iterdir()}
    if fn.SAELENS_CFG in has and fn.SAELENS_WEIGHTS in has:
        return _Located("saelens", folder)
    if fn.FAC_CFG in has and fn.FAC_WEIGHTS in has:
        # FAC Studio and sparsify share these names; only FAC Studio's cfg.json carries `format`.
        return _Located("fac" if is_fac_config(read_json(folder / fn.FAC_CFG)) else "sparsify", folder)
    if fn.LLAMA_SCOPE_HYPERPARAMS in has and (folder / fn.LLAMA_SCOPE_WEIGHTS).is_file():
        return _Located("llama-scope", folder)
    if has & _GEMMA_FILES:
        return _Located("gemma-scope", folder)
    checkpoints = _checkpoints(folder)
    if len(checkpoints) == 1:
        return _Located("fac-synthesis", checkpoints[0])
    if len(checkpoints) > 1:
        names = ", ".join(p.name for p in checkpoints)
        raise FacError(f"{folder} holds several checkpoints ({names}); give the path of one of them.")
    if sparsify_layer_folders(folder):
        return _Located("sparsify", folder)
    raise _unknown_layout(folder)


def _locate(path: Path | str) -> _Located:
    path = Path(path).expanduser()
    if not path.exists():
        raise FacError(f"No SAE at {path}: the path does not exist.")
    if path.is_dir():
        return _locate_folder(path)
    if path.suffix in fn.FAC_SYNTHESIS_SUFFIXES:
        return _Located("fac-synthesis", path)
    if path.name in _GEMMA_FILES:
        return _Located("gemma-scope", path.parent)
    if path.name in _FILE_NAMES_OF_FOLDERS:
        return _locate_folder(path.parent)  # a file of a folder format: load the folder
    raise _unknown_layout(path, note=" (a file of no known SAE format)")


def detect_format(path: Path) -> SaeFormat:
    """The SAE format at `path` (a folder, or a file of one), from the files present.

    Raises FacError naming the files each format expects when none matches.
    """
    return _locate(path).format


def load_sae(
    path: Path | str, *, hook_layer: int | None = None, device: str | torch.device = "cpu"
) -> SparseAutoencoder:
    """Load the SAE at `path` in any supported format, as float32 on `device`.

    `hook_layer` (index into hidden_states: 0 = embeddings, L = output of block L) supplies the
    layer where the format lacks it (fac-synthesis checkpoints not named like the reference's),
    chooses the hookpoint in a sparsify folder holding several, and otherwise overrides it.
    """
    located = _locate(path)
    if located.format == "fac":
        sae = load_fac_sae(located.path)
        if hook_layer is not None and hook_layer != sae.cfg.hook_layer:
            if hook_layer < 0:
                raise FacError(f"hook_layer must be >= 0 (0 is the embeddings), got {hook_layer}.")
            sae = sae.with_config(hook_layer=hook_layer)
    else:
        sae = _LOADERS[located.format](located.path, hook_layer)
    _check_finite(sae, located.path)
    return sae.to(device)


def _check_finite(sae: SparseAutoencoder, path: Path) -> None:
    """Refuse NaN or infinite weights: such an SAE encodes every text to nothing (or to garbage), silently."""
    for name, tensor in sae.tensors().items():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise FacError(f"The SAE at {path} has {bad:,} non-finite values (NaN or infinity) in {name}; "
                           "retrain it or load an undamaged copy.")


def check_sae_fits_model(sae: SparseAutoencoder, hidden_size: int, num_layers: int) -> None:
    """FacError unless the SAE reads vectors of the model's width at a layer the model has.

    Valid layers are 0..num_layers: hidden_states holds the embeddings and every block's output.
    """
    cfg = sae.cfg
    if cfg.d_in != hidden_size:
        raise FacError(
            f"The SAE reads d_in={cfg.d_in} but the model's hidden size is {hidden_size}; "
            "it was trained on a different model."
        )
    if not 0 <= cfg.hook_layer <= num_layers:
        raise FacError(
            f"The SAE reads hidden_states[{cfg.hook_layer}] but the model has {num_layers} layers "
            f"(valid hook layers are 0..{num_layers})."
        )
