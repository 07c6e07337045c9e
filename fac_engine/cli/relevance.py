"""`fac relevance`: task-relevant features, by label contrast on a labelled anchor, by an LLM judge of the
project's explanations, and the project's combined set exported for `fac coverage --relevant`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_generator_options, add_model_options, add_workspace_option, workspace_root
from fac_engine.cli.selection import add_feature_selection

if TYPE_CHECKING:
    from fac_engine.workspace.project import Project

MODES = "--anchor A --label L (label contrast), --judge --task RUBRIC, or --export-relevant FILE"


def register(sub: Any) -> None:
    """Add the `relevance` verb."""
    p = sub.add_parser("relevance", help="task-relevant features: label contrast, an LLM judge, or the project's "
                                         "combined marks exported for fac coverage --relevant",
                       description=f"One of: {MODES}. Marks are kept in the project (--project); a person's marks "
                                   "(feature explorer) override the others.")
    contrast = p.add_argument_group("label contrast")
    contrast.add_argument("--anchor", default=None, help="encoded anchor dataset with a label column")
    contrast.add_argument("--label", default=None, help="the label whose features are relevant (e.g. toxic)")
    contrast.add_argument("--threshold", type=float, default=0.0,
                          help="delta: a feature fires on a sample when g > delta")
    contrast.add_argument("--min-log-odds", type=float, default=1.0, help="least smoothed log-odds ratio (natural log)")
    contrast.add_argument("--fdr", type=float, default=0.05,
                          help="Benjamini-Hochberg false-discovery rate of the exact test (default 0.05)")
    contrast.add_argument("--max-p", type=float, default=None, help=argparse.SUPPRESS)
    contrast.add_argument("--min-samples", type=int, default=3, help="least samples of the label it fires on")
    contrast.add_argument("--out", type=Path, default=None, help="write the ids here (for fac coverage --relevant)")
    contrast.add_argument("--json", action="store_true", help="print JSON")
    judge = p.add_argument_group("LLM judge of the project's explanations (Yes / Probably / Maybe / No)")
    judge.add_argument("--judge", action="store_true", help="judge explained features; relevant = Maybe or better")
    judge.add_argument("--task", default=None, help='the task rubric, e.g. "detecting toxic user queries"')
    add_feature_selection(p)
    export = p.add_argument_group("export")
    export.add_argument("--export-relevant", type=Path, default=None, metavar="FILE",
                        help="write the project's relevant features (contrast + judge Maybe-or-better + marked by "
                             "a person, minus those a person marked not relevant) for fac coverage --relevant")
    export.add_argument("--sources", default="contrast,judge,user",
                        help="--export-relevant: which marks count (comma-separated)")
    p.add_argument("--project", default=None,
                   help="project that keeps the marks (default 'default'; label contrast stores its marks only "
                        "when this is given)")
    add_model_options(p)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen mode."""
    from fac_engine.errors import FacError
    from fac_engine.workspace.project import DEFAULT_PROJECT, Project

    modes = [args.anchor is not None or args.label is not None, args.judge, args.export_relevant is not None]
    if sum(modes) != 1:
        raise FacError(f"Choose one of: {MODES}.")
    project = Project(workspace_root(args), args.project or DEFAULT_PROJECT)
    if args.judge:
        return run_judge(args, project)
    if args.export_relevant is not None:
        return run_export(args, project)
    if args.anchor is None or args.label is None:
        raise FacError("Label contrast needs both --anchor and --label.")
    return run_contrast(args, project if args.project else None)


def run_contrast(args: argparse.Namespace, project: Project | None) -> int:
    """Compute, print, optionally write and store the relevant features of a label."""

    from fac_engine.errors import FacError
    from fac_engine.relevance.contrast import ContrastConfig, contrast_dataset, write_relevant_file
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import RELEVANT

    data = Workspace(workspace_root(args)).open(args.anchor)
    try:
        if args.max_p is not None:
            print("warning: --max-p is replaced by --fdr (a false-discovery rate over all features); "
                  f"using --fdr {args.max_p:g}", file=sys.stderr)
            args.fdr = args.max_p
        cfg = ContrastConfig(args.label, args.min_log_odds, args.fdr, args.min_samples)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    result = contrast_dataset(data, cfg, args.threshold)
    if args.out is not None:
        write_relevant_file(args.out, result, f"fac relevance --anchor {args.anchor} --label {args.label} "
                            f"--threshold {args.threshold:g} --min-log-odds {args.min_log_odds:g} "
                            f"--fdr {args.fdr:g} --min-samples {args.min_samples}")
    if project is not None:
        project.set_relevance_marks("contrast", {int(f): RELEVANT for f in result.features})
    top = [{"feature": int(f), "log_odds": round(float(result.log_odds[f]), 4),
            "p_value": float(result.p_value[f]), "q_value": float(result.q_value[f])} for f in result.features]
    if args.json:
        print(json.dumps({"anchor": args.anchor, "label": args.label, "relevant": top,
                          "n_label": result.n_label, "n_other": result.n_other, "fdr": result.fdr,
                          "expected_false": result.expected_false}))
        return 0
    where = [f"written to {args.out}"] if args.out else []
    where += [f"stored as contrast marks in project '{project.name}'"] if project is not None else []
    print(f"{len(top):,} features relevant to {args.label!r} in {args.anchor} ({result.n_label:,} {args.label} vs "
          f"{result.n_other:,} other labelled samples; Fisher's exact test, false-discovery rate {result.fdr:g}: "
          f"about {result.expected_false:.1f} of them by chance)" + "".join(f"; {w}" for w in where))
    for row in top[:15]:
        print(f"  feature {row['feature']:>6}  log-odds {row['log_odds']:6.2f}  p {row['p_value']:.2g}  "
              f"q {row['q_value']:.2g}")
    return 0


def run_judge(args: argparse.Namespace, project: Project) -> int:
    """Judge the chosen explained features (all of them by default) and store the verdicts as judge marks."""
    from tqdm import tqdm

    from fac_engine.cli.common import load_generator
    from fac_engine.cli.selection import selected_features
    from fac_engine.errors import FacError
    from fac_engine.relevance.judge import judge_features

    if not (args.task or "").strip():
        raise FacError('--judge needs --task, the rubric, e.g. --task "detecting toxic user queries".')
    explanations = project.explanations()
    chosen = selected_features(args, project)
    if chosen is not None:
        explanations = {f: explanations.get(f, "") for f in chosen}
    if not any(t.strip() for t in explanations.values()):
        raise FacError(f"Project '{project.name}' has no explanation for these features; run `fac explain` first.")
    generator = load_generator(args, None)
    with tqdm(total=len(explanations), desc=f"judging with {generator.name}", unit="feature") as bar:
        result = judge_features(generator, args.task, explanations,
                                progress=lambda done, total: bar.update(done - bar.n))
    previous = project.relevance_marks("judge") if chosen is not None else {}
    project.set_relevance_marks("judge", {**previous, **result.verdicts})
    counts = ", ".join(f"{v} {n:,}" for v, n in result.counts.items())
    print(f"judged {len(result.verdicts):,} features for {args.task!r}: {counts}; {len(result.relevant):,} relevant "
          f"(Maybe or better), stored as judge marks in project '{project.name}'")
    if result.unparsed:
        print(f"  {len(result.unparsed):,} answers held no verdict twice and count as No")
    if result.skipped:
        print(f"  skipped {len(result.skipped):,} features without a usable explanation")
    return 0


def run_export(args: argparse.Namespace, project: Project) -> int:
    """Write the project's combined relevant set in the relevant-features file format."""
    from fac_engine.coverage.relevant_ids import write_relevant_ids
    from fac_engine.errors import FacError

    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    relevant = project.relevant_features(sources)  # type: ignore[arg-type]  # checked there
    if not relevant:
        raise FacError(f"Project '{project.name}' marks no feature relevant (sources: {', '.join(sources)}); run "
                       "fac relevance --anchor/--label --project or --judge first, or mark features in the explorer.")
    write_relevant_ids(args.export_relevant, sorted(relevant),
                       [f"fac relevance --export-relevant --project {project.name} --sources {','.join(sources)}",
                        f"{len(relevant)} features relevant in project {project.name!r}"])
    print(f"{len(relevant):,} relevant features of project '{project.name}' written to {args.export_relevant}")
    return 0
