"""`fac demo`: the ready demo project: demo data built, anchor and seed encoded, the project pointed at them.

Idempotent: each step is skipped when done, so `make demo` starts instantly after the first run.
"""

import argparse
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_workspace_option, workspace_root

if TYPE_CHECKING:
    from fac_engine.workspace.datasets import Workspace

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
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    root = workspace_root(args)
    steps = [["demo-data"]]
    paths = demo_paths()
    workspace = Workspace(root)
    for name, which in DEMO_DATASETS.items():
        manifest = workspace.manifest(name)
        if manifest is None or manifest.status != "complete":
            steps.append(["encode", str(getattr(paths, which)), "--name", name, "--label-field", "label",
                          "--workspace", str(root)])
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
    target = project.config.target_list
    if not project.features_in(target):  # ready for the Synthesis page: the seed's missing features
        missing = _missing(workspace, project.config.threshold)
        project.add_to_list(target, missing)
        print(f"put the seed's {len(missing)} missing features into the synthesis target list '{target}'")
    print(f"demo project ready in {root}: anchor demo-anchor, seed demo-seed (project '{project.name}')")
    return 0


def _missing(workspace: "Workspace", threshold: float) -> list[int]:
    from fac_engine.coverage.fac import CoverageConfig, compute_coverage, feature_support

    seed, anchor = (feature_support(workspace.open(n).pooled_arrays(), threshold) for n in ("demo-seed", "demo-anchor"))
    return compute_coverage(seed, anchor, CoverageConfig(threshold=threshold)).missing
