"""The generating verbs: `fac synthesize` (two-step FAC Synthesis for the project's target features) and
`fac baseline` (the feature-agnostic baseline set by plain prompting, optionally encoded)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import (
    add_generator_options,
    add_model_options,
    add_project_option,
    add_sae_options,
    add_sampling_options,
    add_workspace_option,
    open_project,
    project_sae,
    workspace_root,
)
from fac_engine.cli.flags import ConfigFlags, count, floats
from fac_engine.cli.selection import add_feature_selection
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.llm.backend import BackendSpec
    from fac_engine.llm.steering import SteeringConfig
    from fac_engine.models.spec import ModelSpec
    from fac_engine.synthesis.baseline import BaselineConfig
    from fac_engine.synthesis.fluency import FluencyConfig
    from fac_engine.synthesis.job import JobSettings
    from fac_engine.synthesis.twostep import SynthesisConfig
    from fac_engine.workspace.project import Project


def _synthesis_flags() -> ConfigFlags[SynthesisConfig]:
    from fac_engine.synthesis.twostep import SynthesisConfig

    return ConfigFlags(SynthesisConfig, title="synthesis", defaults={"threshold": None, "mode": None},
                       helps={"threshold": "delta: a candidate covers the feature when g > delta (default: the "
                                           "project's)",
                              "mode": "prompt: the two-step prompts; steer: the task prompt and steering along the "
                                      "feature's decoder direction; both: the two-step prompts and steering. Default: "
                                      "the project's mode (the demo's is both), or prompt when the generator is not "
                                      "the SAE's local model"})


def _steering_flags() -> ConfigFlags[SteeringConfig]:
    from fac_engine.llm.steering import SteeringConfig

    return ConfigFlags(SteeringConfig, skip=("alphas",))  # --alphas is a comma list


def _fluency_flags() -> ConfigFlags[FluencyConfig]:
    from fac_engine.synthesis.fluency import FluencyConfig

    return ConfigFlags(FluencyConfig, title="fluency guard")


def _add_steering(p: argparse.ArgumentParser) -> None:
    from fac_engine.llm.steering import SteeringConfig

    group = p.add_argument_group("steering (--mode steer or both)")
    group.add_argument("--alphas", type=floats, default=SteeringConfig.alphas,
                       help="steering strengths swept per feature in step 1, comma-separated, in units of the "
                            "layer's median residual norm (default "
                            f"{','.join(f'{a:g}' for a in SteeringConfig.alphas)})")
    _steering_flags().add(group)


def add_synthesize(p: argparse.ArgumentParser) -> None:
    """`fac synthesize`."""
    from fac_engine.synthesis.twostep import SYNTHESIS_GENERATION

    add_project_option(p, "whose anchor, seed, threshold and target list are used")
    add_feature_selection(p)  # default: the project's target list
    p.add_argument("--job", type=int, default=None, help="run or resume this existing job (its saved settings)")
    p.add_argument("--resume", action="store_true", help="resume the latest unfinished job")
    p.add_argument("--progress-file", type=Path, default=None, help=argparse.SUPPRESS)  # the dashboard's jobs
    _synthesis_flags().add(p)
    _add_steering(p)
    _fluency_flags().add(p)
    add_sampling_options(p, SYNTHESIS_GENERATION)
    add_model_options(p)
    add_sae_options(p, of_project=True)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_synthesize)


def _new_settings(args: argparse.Namespace, project: Project) -> JobSettings:
    from fac_engine.cli.common import backend_spec, generation_config, model_spec
    from fac_engine.synthesis.job import JobSettings
    from fac_engine.synthesis.twostep import SYNTHESIS_GENERATION

    config = project.config
    if config.anchor is None:
        raise FacError(f"Project '{project.name}' has no anchor dataset; set it on the home page or run `fac demo`.")
    backend, scoring = backend_spec(args), model_spec(args)
    synthesis = _synthesis_flags().build(
        args, threshold=config.threshold if args.threshold is None else args.threshold,
        mode=_project_mode(project, backend, scoring) if args.mode is None else args.mode,
        generation=generation_config(args, SYNTHESIS_GENERATION),
        steering=_steering_flags().build(args, alphas=args.alphas), fluency=_fluency_flags().build(args))
    references = tuple(n for n in (config.seed, config.anchor) if n)
    project_sae(args, project)
    return JobSettings(synthesis, backend, scoring, args.sae, args.layer, config.anchor, references)


def _project_mode(project: Project, backend: BackendSpec, scoring: ModelSpec) -> str:
    """The project's synthesis mode, or `prompt` (said in a line) when it steers and the generator is not the SAE's
    local model, which is the only one that can be steered."""
    from fac_engine.llm.backend import can_steer

    mode = project.config.synthesis_mode
    if mode != "prompt" and not can_steer(backend, scoring):
        print(f"project '{project.name}' synthesises in mode {mode}, which steers the SAE's own model; the generator "
              f"{backend.label} cannot be steered, so this job prompts (mode prompt; --mode to choose)")
        return "prompt"
    return mode


def _job_to_run(args: argparse.Namespace, project: Project) -> int:
    from fac_engine.cli.selection import selected_features
    from fac_engine.synthesis.curation import SynthesisStore

    store = SynthesisStore(project)
    if args.job is not None:
        store.progress(args.job)  # raises when there is no such job
        return int(args.job)
    if args.resume:
        unfinished = [j for j in store.job_ids() if store.progress(j).state != "done"]
        if not unfinished:
            raise FacError(f"Project '{project.name}' has no unfinished synthesis job to resume.")
        return unfinished[0]
    settings = _new_settings(args, project)  # bad options fail before the feature list is read
    features = selected_features(args, project)
    if features is None:
        features = project.features_in(project.config.target_list)
        if not features:
            raise FacError(f"The feature list '{project.config.target_list}' of project '{project.name}' is empty; "
                           "pick missing features (dashboard, or `--features 1,2,3`).")
    return store.create_job(settings.to_json_dict(), features)


def run_synthesize(args: argparse.Namespace) -> int:
    """Create (or resume) a job and run it in the foreground with a progress bar."""
    from tqdm import tqdm

    from fac_engine.cli.common import generator_for, load_spec_and_sae
    from fac_engine.llm.protocol import token_usage
    from fac_engine.synthesis.curation import SynthesisStore
    from fac_engine.synthesis.job import JobSettings, run_job
    from fac_engine.synthesis.scoring import Scorer
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.jobs import ProgressFile

    project = open_project(args)
    job_id = _job_to_run(args, project)
    progress_file = None if args.progress_file is None else ProgressFile(args.progress_file, "features")
    store = SynthesisStore(project)
    settings = JobSettings.from_json_dict(store.job_config(job_id))
    lm, sae = load_spec_and_sae(settings.model, settings.sae, settings.layer)
    anchor = project.config.anchor
    scorer = Scorer.like(lm, sae, Workspace(workspace_root(args)).manifest(anchor) if anchor else None)
    backend = settings.backend
    generator = generator_for(backend, settings.model, lm)
    print(f"synthesis job {job_id} of project '{project.name}': generator {backend.label}, task "
          f"{settings.synthesis.task}, mode {settings.synthesis.mode}, delta {settings.synthesis.threshold:g}")
    with tqdm(desc=f"job {job_id}", unit="feature") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            if progress_file is not None:
                progress_file.update(done, total, force=True)  # one write per batch of features

        run_job(store, job_id, Workspace(workspace_root(args)), generator, scorer, progress)
    p = store.progress(job_id)
    print(f"job {job_id} done: {p.features_done} features, {p.candidates} candidates scored, {p.proposed} proposed "
          f"for review. Review them on the dashboard's Review page or with `fac review --project {project.name}`.")
    usage = token_usage(generator)
    if usage is not None:
        print(f"generator {backend.label}: {usage.describe()}")
    return 0


def _baseline_flags() -> ConfigFlags[BaselineConfig]:
    from fac_engine.synthesis.baseline import BaselineConfig

    return ConfigFlags(BaselineConfig, only=("max_rounds", "prefill"))


def add_baseline(p: argparse.ArgumentParser) -> None:
    """`fac baseline`."""
    from fac_engine.synthesis.baseline import BASELINE_GENERATION

    p.add_argument("--n-toxic", type=count, default=200, help="toxic queries to generate")
    p.add_argument("--n-safe", type=count, default=1000, help="safe queries to generate")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write (text, label, provenance)")
    p.add_argument("--encode-as", default=None, metavar="NAME",
                   help="also encode the file into the workspace as dataset NAME (as `fac encode` does)")
    _baseline_flags().add(p)
    add_sampling_options(p, BASELINE_GENERATION)
    add_model_options(p)
    add_sae_options(p, of_project=True)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_baseline)


def run_baseline(args: argparse.Namespace) -> int:
    """Generate, write the JSONL, print a summary; then encode it when --encode-as is given."""
    from tqdm import tqdm

    from fac_engine.cli import common
    from fac_engine.synthesis.baseline import BASELINE_GENERATION, generate_baseline, write_jsonl
    from fac_engine.workspace.datasets import check_name

    if args.encode_as is not None:
        check_name(args.encode_as)
    check_write_target(args.out, "--out")
    cfg = _baseline_flags().build(args, counts={"toxic": args.n_toxic, "safe": args.n_safe},
                                  generation=common.generation_config(args, BASELINE_GENERATION))
    generator = common.load_generator(args, None)
    with tqdm(total=sum(cfg.counts.values()), desc="baseline", unit="query") as bar:
        result = generate_baseline(generator, cfg, progress=lambda kept, _: bar.update(kept - bar.n))
    if result.frame.empty:
        raise FacError("The generator returned no usable output; check the model or raise --max-new-tokens.")
    write_jsonl(result.frame, args.out)
    per_label = ", ".join(f"{n:,} {label}" for label, n in result.frame["label"].value_counts().items())
    print(f"wrote {len(result.frame):,} queries ({per_label}) to {args.out}; dropped {result.empty:,} empty and "
          f"{result.duplicates:,} repeated outputs")
    for label, missing in result.short.items():
        print(f"warning: {missing:,} {label} queries short after {cfg.max_rounds} rounds")
    if args.encode_as is not None:
        del generator  # frees the generating model before the encoding model loads
        from fac_engine.workspace.project import Project

        project_sae(args, Project(workspace_root(args)))
        encode_labelled(args, args.out, args.encode_as, overwrite=False)
    return 0


def encode_labelled(args: argparse.Namespace, path: Path, name: str, overwrite: bool) -> None:
    """Encode a written file with a `label` column as dataset `name`, with this command's model and SAE."""
    from fac_engine.cli.common import load_model_and_sae
    from fac_engine.cli.encode import encode_with_bar
    from fac_engine.data.dataset import DatasetConfig
    from fac_engine.encoding.encode import EncodeConfig
    from fac_engine.workspace.datasets import Workspace

    lm, sae = load_model_and_sae(args)
    encode_with_bar(Workspace(workspace_root(args)), path, lm, sae, args.sae,
                    EncodeConfig(name=name, overwrite=overwrite), DatasetConfig(label_field="label"))
