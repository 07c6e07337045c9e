"""`fac relevance contrast | judge | export-relevant`: task-relevant features by label contrast on a
labelled anchor, by an LLM judge of the project's explanations, and the project's combined set
written for `fac coverage --relevant`. Marks are kept in the project; a person's marks (feature
explorer) override the others."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import (
    add_generator_options,
    add_model_options,
    add_workspace_option,
    open_project,
    workspace_root,
)
from fac_engine.cli.flags import ConfigFlags, non_negative_float
from fac_engine.cli.selection import add_feature_selection
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.relevance.contrast import ContrastConfig


def _contrast_flags() -> ConfigFlags[ContrastConfig]:
    from fac_engine.relevance.contrast import ContrastConfig

    return ConfigFlags(ContrastConfig, helps={"label": "the label whose features are relevant (e.g. toxic)"})


def add_contrast(p: argparse.ArgumentParser) -> None:
    """`fac relevance contrast`."""
    p.add_argument("--anchor", required=True, help="encoded anchor dataset with a label column")
    _contrast_flags().add(p)
    p.add_argument("--threshold", type=non_negative_float, default=0.0,
                   help="delta: a feature fires on a sample when g > delta (default: 0.0)")
    p.add_argument("--max-p", type=non_negative_float, default=None, help=argparse.SUPPRESS)  # now --fdr
    p.add_argument("--out", type=Path, default=None, help="write the ids here (for fac coverage --relevant)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--project", default=None,
                   help="store the relevant features as contrast marks in this project (created when new)")
    add_workspace_option(p)
    p.set_defaults(run=run_contrast)


def add_judge(p: argparse.ArgumentParser) -> None:
    """`fac relevance judge`."""
    p.add_argument("--task", default=None, help='the task rubric, e.g. "detecting toxic user queries"')
    add_feature_selection(p)  # default: every explained feature
    p.add_argument("--project", default="default",
                   help="project whose explanations are judged and which keeps the verdicts (default: 'default')")
    add_model_options(p)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_judge)


def add_export_relevant(p: argparse.ArgumentParser) -> None:
    """`fac relevance export-relevant`."""
    p.add_argument("file", type=Path, help="file to write the feature ids into (for fac coverage --relevant)")
    p.add_argument("--sources", default="contrast,judge,user", help="which marks count (comma-separated)")
    p.add_argument("--project", default="default", help="project whose marks are combined (default: 'default')")
    add_workspace_option(p)
    p.set_defaults(run=run_export_relevant)


def run_contrast(args: argparse.Namespace) -> int:
    """Compute, print, optionally write and store the relevant features of a label."""
    from fac_engine.relevance.contrast import contrast_dataset, write_relevant_file
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import RELEVANT

    if args.max_p is not None:
        print("warning: --max-p is replaced by --fdr (a false-discovery rate over all features); "
              f"using --fdr {args.max_p:g}", file=sys.stderr)
    cfg = _contrast_flags().build(args, **({} if args.max_p is None else {"fdr": args.max_p}))
    if args.out is not None:
        check_write_target(args.out, "--out")
    data = Workspace(workspace_root(args)).open(args.anchor)
    result = contrast_dataset(data, cfg, args.threshold)
    if args.out is not None:
        write_relevant_file(args.out, result, f"fac relevance contrast --anchor {args.anchor} --label {cfg.label} "
                            f"--threshold {args.threshold:g} --min-log-odds {cfg.min_log_odds:g} "
                            f"--fdr {cfg.fdr:g} --min-samples {cfg.min_samples}"
                            + (f" --by {cfg.by}" if cfg.by else ""))
    project = None if args.project is None else open_project(args, create=True)
    if project is not None:
        project.set_relevance_marks("contrast", {int(f): RELEVANT for f in result.features})
    top = [{"feature": int(f), "log_odds": round(float(result.log_odds[f]), 4),
            "p_value": float(result.p_value[f]), "q_value": float(result.q_value[f]),
            **({cfg.by: result.group_of(int(f))} if cfg.by else {})} for f in result.features]
    if args.json:
        print(json.dumps({"anchor": args.anchor, "label": cfg.label, "relevant": top,
                          "n_label": result.n_label, "n_other": result.n_other, "fdr": result.fdr,
                          "expected_false": result.expected_false}))
        return 0
    where = [f"written to {args.out}"] if args.out else []
    where += [f"stored as contrast marks in project '{project.name}'"] if project is not None else []
    split = (f", tested per {cfg.by} ({len(result.groups)} values, {result.discoveries:,} passing tests)"
             if cfg.by else "")
    print(f"{len(top):,} features relevant to {cfg.label!r} in {args.anchor} ({result.n_label:,} {cfg.label} vs "
          f"{result.n_other:,} other labelled samples{split}; Fisher's exact test, false-discovery rate "
          f"{result.fdr:g}: about {result.expected_false:.1f} of them by chance)" + "".join(f"; {w}" for w in where))
    for row in top[:15]:
        print(f"  feature {row['feature']:>6}  log-odds {row['log_odds']:6.2f}  p {row['p_value']:.2g}  "
              f"q {row['q_value']:.2g}" + (f"  {cfg.by} {row[cfg.by]}" if cfg.by else ""))
    return 0


def run_judge(args: argparse.Namespace) -> int:
    """Judge the chosen explained features (all of them by default) and store the verdicts as judge marks."""
    from tqdm import tqdm

    from fac_engine.cli import common
    from fac_engine.cli.selection import selected_features
    from fac_engine.relevance.judge import judge_features

    if not (args.task or "").strip():
        raise FacError('--judge needs --task, the rubric, e.g. fac relevance judge --task "detecting toxic user '
                       'queries".')
    project = open_project(args)  # its explanations are judged: a new project would have none
    explanations = project.explanations()
    chosen = selected_features(args, project)
    if chosen is not None:
        explanations = {f: explanations.get(f, "") for f in chosen}
    if not any(t.strip() for t in explanations.values()):
        raise FacError(f"Project '{project.name}' has no explanation for these features; run `fac explain` first.")
    generator = common.load_generator(args, None)
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


def run_export_relevant(args: argparse.Namespace) -> int:
    """Write the project's combined relevant set in the relevant-features file format."""
    from fac_engine.coverage.relevant_ids import write_relevant_ids

    check_write_target(args.file, "export-relevant")
    project = open_project(args)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    relevant = project.relevant_features(sources)  # type: ignore[arg-type]  # checked there
    if not relevant:
        raise FacError(f"Project '{project.name}' marks no feature relevant (sources: {', '.join(sources)}); run "
                       "fac relevance contrast --project or fac relevance judge first, or mark features in the "
                       "explorer.")
    write_relevant_ids(args.file, sorted(relevant),
                       [f"fac relevance export-relevant --project {project.name} --sources {','.join(sources)}",
                        f"{len(relevant)} features relevant in project {project.name!r}"])
    print(f"{len(relevant):,} relevant features of project '{project.name}' written to {args.file}")
    return 0
