"""`fac synthesize` (two-step FAC Synthesis for the project's target features), `fac review` (decide
headless) and `fac export` (accepted samples to a file, and into the workspace as a dataset)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import (
    add_generator_options,
    add_model_options,
    add_sae_options,
    add_sampling_options,
    add_workspace_option,
    workspace_root,
)
from fac_engine.cli.selection import add_feature_selection

if TYPE_CHECKING:
    from fac_engine.synthesis.job import JobSettings
    from fac_engine.workspace.project import Project


def register(sub: Any) -> None:
    """Add the `synthesize`, `review` and `export` verbs."""
    p = sub.add_parser("synthesize", help="generate samples for missing features (two-step FAC Synthesis)")
    p.add_argument("--project", default="default", help="project: its anchor, seed, threshold and target list")
    add_feature_selection(p)  # default: the project's target list
    p.add_argument("--job", type=int, default=None, help="run or resume this existing job (its saved settings)")
    p.add_argument("--resume", action="store_true", help="resume the latest unfinished job")
    p.add_argument("--task", choices=["query", "instruction", "preference"], default="query")
    p.add_argument("--n-step1", type=int, default=4, help="step-1 candidates per feature")
    p.add_argument("--m-step2", type=int, default=6, help="step-2 candidates per feature")
    p.add_argument("--propose", type=int, default=2, help="candidates proposed for review per feature")
    p.add_argument("--label", default="auto", help="label of the samples, or 'auto' (majority of the top anchor "
                                                   "samples of each feature)")
    p.add_argument("--instructions", default="", help="extra words added to every prompt")
    p.add_argument("--threshold", type=float, default=None, help="delta (default: the project's)")
    add_sampling_options(p, max_new_tokens=96, batch_size=16)
    _add_steering_options(p)
    add_model_options(p)
    add_sae_options(p)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)

    r = sub.add_parser("review", help="list candidates, or accept / reject them without the dashboard")
    r.add_argument("--project", default="default")
    r.add_argument("--job", type=int, default=None, help="only this job's candidates")
    r.add_argument("--accept", default=None, help="comma-separated candidate ids to accept")
    r.add_argument("--reject", default=None, help="comma-separated candidate ids to reject")
    r.add_argument("--accept-above", type=float, default=None, help="accept every pending candidate with g > this")
    r.add_argument("--status", default=None, help="list only this status (pending, accepted, rejected, edited)")
    add_workspace_option(r)
    r.set_defaults(run=run_review)

    e = sub.add_parser("export", help="write accepted samples (JSONL, CSV or parquet) and encode them as a dataset")
    e.add_argument("out", help="output file: .jsonl, .csv or .parquet")
    e.add_argument("--project", default="default")
    e.add_argument("--job", type=int, default=None, help="only this job's accepted samples")
    e.add_argument("--merge-seed", action="store_true", help="put the project's seed samples first")
    e.add_argument("--encode-as", default=None, help="also encode the file into the workspace under this name")
    add_model_options(e)
    add_sae_options(e)
    add_workspace_option(e)
    e.set_defaults(run=run_export)


def _add_steering_options(p: argparse.ArgumentParser) -> None:
    """--mode and the steering strengths; the fluency guard's thresholds (defaults: SteeringConfig, FluencyConfig)."""
    g = p.add_argument_group("steering and fluency")
    g.add_argument("--mode", choices=["prompt", "steer", "both"], default="prompt",
                   help="prompt: two-step prompts; steer: the task alone, the local generator steered along the "
                        "feature's decoder direction; both: two-step prompts and steering")
    g.add_argument("--alphas", default=None, help="steering strengths swept per feature, in units of the layer's "
                                                  "median residual norm, comma-separated (default 0.25,0.5,1)")
    g.add_argument("--steer-prompt", action="store_true", help="also steer the prompt's positions")
    g.add_argument("--max-perplexity", type=float, default=None,
                   help="flag candidates whose perplexity under the unsteered model is above this (default 100)")
    g.add_argument("--max-repetition", type=float, default=None,
                   help="flag candidates with more than this share of repeated word 3-grams (default 0.3)")
    g.add_argument("--drop-flagged", action="store_true", help="drop flagged candidates instead of proposing "
                                                               "them after the fluent ones")


def _steering_settings(args: argparse.Namespace) -> dict[str, Any]:
    from fac_engine.llm.steering import SteeringConfig
    from fac_engine.synthesis.fluency import FluencyConfig

    steering: dict[str, Any] = {"steer_prompt": args.steer_prompt}
    if args.alphas is not None:
        try:
            steering["alphas"] = tuple(float(a) for a in args.alphas.replace(" ", "").split(",") if a)
        except ValueError as exc:
            raise ValueError(f"--alphas takes comma-separated numbers, got {args.alphas!r}.") from exc
    limits = {"max_perplexity": args.max_perplexity, "max_repetition": args.max_repetition}
    fluency = FluencyConfig(drop_flagged=args.drop_flagged, **{k: v for k, v in limits.items() if v is not None})
    return {"mode": args.mode, "steering": SteeringConfig(**steering), "fluency": fluency}


def _ids(text: str | None) -> list[int]:
    """Candidate ids typed like feature ids ('3, 8 12-15')."""
    from fac_engine.coverage.feature_ids import parse_feature_ids

    return parse_feature_ids(text or "")


def _new_settings(args: argparse.Namespace, project: Project) -> JobSettings:
    from fac_engine.cli.common import backend_spec, generation_config, model_spec
    from fac_engine.errors import FacError
    from fac_engine.synthesis.job import JobSettings
    from fac_engine.synthesis.twostep import SynthesisConfig

    config = project.config
    if config.anchor is None:
        raise FacError(f"Project '{project.name}' has no anchor dataset; set it on the home page or run `fac demo`.")
    try:
        synthesis = SynthesisConfig(task=args.task, n_step1=args.n_step1, m_step2=args.m_step2, propose=args.propose,
                                    threshold=config.threshold if args.threshold is None else args.threshold,
                                    label=args.label, instructions=args.instructions,
                                    generation=generation_config(args), **_steering_settings(args))
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    references = tuple(n for n in (config.seed, config.anchor) if n)
    return JobSettings(synthesis, backend_spec(args), model_spec(args), args.sae, args.layer, config.anchor,
                       references)


def _job_to_run(args: argparse.Namespace, project: Project) -> int:
    from fac_engine.cli.selection import selected_features
    from fac_engine.errors import FacError
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
    features = selected_features(args, project)
    if features is None:
        features = project.features_in(project.config.target_list)
        if not features:
            raise FacError(f"The feature list '{project.config.target_list}' of project '{project.name}' is empty; "
                           "pick missing features (dashboard, or `--features 1,2,3`).")
    return store.create_job(_new_settings(args, project).to_json_dict(), features)


def run(args: argparse.Namespace) -> int:
    """Create (or resume) a job and run it in the foreground with a progress bar."""
    from tqdm import tqdm

    from fac_engine.cli.common import generator_for, load_spec_and_sae
    from fac_engine.synthesis.curation import SynthesisStore
    from fac_engine.synthesis.job import JobSettings, run_job
    from fac_engine.synthesis.scoring import Scorer
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    project = Project(root, args.project)
    job_id = _job_to_run(args, project)
    store = SynthesisStore(project)
    settings = JobSettings.from_json_dict(store.job_config(job_id))
    lm, sae = load_spec_and_sae(settings.model, settings.sae, settings.layer)
    scorer = Scorer.like(lm, sae, Workspace(root).manifest(project.config.anchor) if project.config.anchor else None)
    backend = settings.backend
    generator = generator_for(backend, settings.model, lm)
    print(f"synthesis job {job_id} of project '{args.project}': generator {backend.label}, task "
          f"{settings.synthesis.task}, mode {settings.synthesis.mode}, delta {settings.synthesis.threshold:g}")
    with tqdm(desc=f"job {job_id}", unit="feature") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        run_job(store, job_id, Workspace(root), generator, scorer, progress)
    p = store.progress(job_id)
    print(f"job {job_id} done: {p.features_done} features, {p.candidates} candidates scored, {p.proposed} proposed "
          f"for review. Review them on the dashboard's Review page or with `fac review --project {args.project}`.")
    return 0


def run_review(args: argparse.Namespace) -> int:
    """Apply decisions, then list the candidates."""
    from fac_engine.synthesis.curation import SynthesisStore
    from fac_engine.synthesis.review import accept_above
    from fac_engine.workspace.project import Project

    store = SynthesisStore(Project(workspace_root(args), args.project))
    if args.accept:
        store.decide(_ids(args.accept), "accepted")
    if args.reject:
        store.decide(_ids(args.reject), "rejected")
    if args.accept_above is not None:
        print(f"accepted {len(accept_above(store, args.job, args.accept_above))} candidates with g > "
              f"{args.accept_above:g}")
    frame = store.candidates(args.job, status=[args.status] if args.status else None)
    for c in frame.to_dict("records"):
        flag = f"  [near duplicate of {c['duplicate_of']}]" if c["duplicate_of"] else ""
        text = " ".join(str(c["text"]).split())
        print(f"#{c['cand_id']:<5} {c['status']:<9} feature {c['feature']:<6} g {c['g']:6.2f}  {text[:90]}{flag}")
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    print(f"{len(frame)} candidates: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the accepted samples and optionally encode them."""
    from pathlib import Path

    from fac_engine.synthesis.curation import SynthesisStore
    from fac_engine.synthesis.export import accepted_frame, with_seed, write_export
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    project = Project(root, args.project)
    frame = accepted_frame(SynthesisStore(project), args.job)
    n_accepted = len(frame)
    if args.merge_seed and n_accepted:
        seed = project.config.seed
        if seed is None:
            from fac_engine.errors import FacError

            raise FacError(f"Project '{args.project}' has no seed dataset to merge.")
        frame = with_seed(frame, Workspace(root).open(seed))
    out = Path(args.out)
    fmt = write_export(frame, out)
    print(f"wrote {len(frame):,} rows ({n_accepted:,} accepted samples) to {out} as {fmt}")
    if args.encode_as:
        _encode_export(args, out)
    return 0


def _encode_export(args: argparse.Namespace, path: Any) -> None:
    from fac_engine.cli.common import load_model_and_sae
    from fac_engine.data.dataset import DatasetConfig
    from fac_engine.encoding.encode import EncodeConfig, encode_file
    from fac_engine.workspace.datasets import Workspace

    lm, sae = load_model_and_sae(args)
    workspace = Workspace(workspace_root(args))
    summary = encode_file(workspace, path, lm, sae, args.sae, EncodeConfig(name=args.encode_as, overwrite=True),
                          DatasetConfig(label_field="label"))
    print(f"encoded {summary.manifest.n_samples:,} samples as dataset '{args.encode_as}' in {workspace.root}; "
          f"compare it with `fac coverage --anchor ANCHOR --seed {args.encode_as}`")
