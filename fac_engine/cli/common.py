"""Options and loaders shared by several verbs."""

import argparse

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.errors import FacError
from fac_engine.models.loader import LoadedModel, load_model
from fac_engine.models.spec import ModelSpec
from fac_engine.sae.load import check_sae_fits_model, load_sae
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
    lm = load_model(model_spec(args))
    sae = load_sae(args.sae, hook_layer=args.layer, device=lm.device)
    check_sae_fits_model(sae, lm.hidden_size, lm.num_layers)
    return lm, sae
