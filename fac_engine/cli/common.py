"""Options and loaders shared by several verbs.

Verb modules import only argparse-level code at the top; torch and transformers are imported
when a verb runs, so `fac --help` and the table-reading verbs start in a fraction of a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.errors import FacError
from fac_engine.models.spec import ModelSpec
from fac_engine.paths import default_workspace

if TYPE_CHECKING:
    from fac_engine.models.loader import LoadedModel
    from fac_engine.sae.model import SparseAutoencoder


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype."""
    parser.add_argument(
        "--model", default="embedded", help="'embedded' (SmolLM2-135M-Instruct), a transformers folder or a .gguf file"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")


def add_sae_options(parser: argparse.ArgumentParser) -> None:
    """--sae and --layer."""
    parser.add_argument("--sae", default=str(EMBEDDED_SAE_DIR), help="SAE folder or file (any supported format)")
    parser.add_argument("--layer", type=int, default=None, help="hook layer, where the SAE format does not say")


def model_spec(args: argparse.Namespace) -> ModelSpec:
    """The ModelSpec the options describe."""
    try:
        return ModelSpec(source=args.model, device=args.device, dtype=args.dtype)
    except ValueError as exc:
        raise FacError(str(exc)) from exc


def load_model_and_sae(args: argparse.Namespace) -> tuple[LoadedModel, SparseAutoencoder]:
    """Load the model and the SAE the options name, and check that they fit each other."""
    from fac_engine.models.loader import load_model
    from fac_engine.sae.load import check_sae_fits_model, load_sae

    spec = model_spec(args)
    # The SAE first, on the CPU: a bad SAE path or file fails in milliseconds, not after the model load.
    sae = load_sae(args.sae, hook_layer=args.layer)
    lm = load_model(spec)
    check_sae_fits_model(sae, lm.hidden_size, lm.num_layers)
    return lm, sae.to(lm.device)


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    """--workspace (default $FAC_WORKSPACE or ./workspace)."""
    parser.add_argument("--workspace", type=Path, default=None,
                        help="workspace folder (default: $FAC_WORKSPACE or ./workspace)")


def workspace_root(args: argparse.Namespace) -> Path:
    """The workspace the options name."""
    return args.workspace if args.workspace is not None else default_workspace()
