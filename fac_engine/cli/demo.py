"""`fac demo`: the ready demo project: demo data built, anchor and seed encoded, the project pointed at them.

The demo counts task-relevant features by default: label contrast on the anchor (Fisher's exact test with
the false-discovery cut) marks the features of "toxic", coverage and the synthesis target list use them,
and the dashboard's "only task-relevant features" toggle starts on. Idempotent: each step is skipped when
done, so `make demo` starts instantly after the first run; a dataset encoded from other data or with an
older pooling policy is encoded again.
"""

import argparse
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_workspace_option, workspace_root

if TYPE_CHECKING:
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

DEMO_DATASETS = {"demo-anchor": "anchor", "demo-seed": "seed", "demo-test": "test"}
"""Workspace name -> demo file (the test set is encoded for the evaluation)."""


def register(sub: Any) -> None:
    """Add the `demo` verb."""
    p = sub.add_parser("demo", help="build and encode the demo toxicity project (once), set it as the project")
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `fac demo-data` and `fac encode` for each demo set, then set the default project."""
    from fac_engine.cli import build_parser
    from fac_engine.data.corpora.demo import demo_paths
    from fac_engine.models.template import POOLING_POLICY
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    steps = [["demo-data"]]
    paths = demo_paths()
    workspace = Workspace(root)
    for name, which in DEMO_DATASETS.items():
        manifest = workspace.manifest(name)
        if manifest is None or manifest.status != "complete" or manifest.pooling != POOLING_POLICY:
            # --overwrite: the same inputs resume; other data (a rebuilt demo) or another policy start again
            steps.append(["encode", str(getattr(paths, which)), "--name", name, "--label-field", "label",
                          "--workspace", str(root), "--overwrite"])
    for argv in steps:
        step = build_parser(argv[0]).parse_args(argv)
        code: int = step.run(step)
        if code:
            return code
    project = Project(root)
    if project.config.anchor is None or project.config.seed is None:
        project.update(anchor="demo-anchor", seed="demo-seed")
    if not project.explanations():
        explain = build_parser("explain").parse_args(["explain", "demo-anchor", "--workspace", str(root)])
        explain.run(explain)
    if not project.relevance_marks("contrast"):
        relevant = _mark_relevant(workspace, project)
        project.update(relevant_only=True)
        print(f"marked {len(relevant)} features relevant to 'toxic' by label contrast on demo-anchor; the dashboard "
              "counts only task-relevant features")
    target = project.config.target_list
    if not project.features_in(target):  # ready for the Synthesis page: the seed's missing relevant features
        missing = _missing(workspace, project.config.threshold, project.relevant_features())
        project.add_to_list(target, missing)
        print(f"put the seed's {len(missing)} missing task-relevant features into the synthesis target list "
              f"'{target}'")
    print(f"demo project ready in {root}: anchor demo-anchor, seed demo-seed (project '{project.name}')")
    return 0


def _mark_relevant(workspace: "Workspace", project: "Project") -> list[int]:
    from fac_engine.relevance.contrast import ContrastConfig, contrast_dataset
    from fac_engine.workspace.project import RELEVANT

    result = contrast_dataset(workspace.open("demo-anchor"), ContrastConfig("toxic"), project.config.threshold)
    project.set_relevance_marks("contrast", {int(f): RELEVANT for f in result.features})
    return [int(f) for f in result.features]


def _missing(workspace: "Workspace", threshold: float, relevant: frozenset[int] = frozenset()) -> list[int]:
    """The seed's missing features (among `relevant`, when it holds any)."""
    from fac_engine.coverage.fac import CoverageConfig, compute_coverage, feature_support

    seed, anchor = (feature_support(workspace.open(n).pooled_arrays(), threshold) for n in ("demo-seed", "demo-anchor"))
    return compute_coverage(seed, anchor, CoverageConfig(threshold=threshold, relevant=relevant or None)).missing
