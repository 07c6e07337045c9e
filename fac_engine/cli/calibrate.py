"""`fac calibrate`: does FAC track downstream AUPRC on this task? Held-out real anchor rows decide."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_model_options, add_workspace_option, workspace_root
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.evaluation.calibration_results import CalibrationResult


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from exc


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from exc


def register(sub: Any) -> None:
    """Add the `calibrate` verb."""
    p = sub.add_parser("calibrate", help="check that FAC tracks downstream AUPRC, with held-out real anchor rows")
    p.add_argument("--anchor", required=True, help="encoded, labelled anchor dataset (some positive rows held out)")
    p.add_argument("--seed", required=True, help="encoded seed dataset")
    p.add_argument("--test", required=True, help="encoded, labelled test dataset (never changed)")
    p.add_argument("--positive", default="toxic", help="the positive label: held-out rows come from it")
    p.add_argument("--sizes", type=_ints, default=(25, 50), help="rows added per arm, e.g. 25,50 (default)")
    p.add_argument("--holdout", type=float, default=0.3, help="share of the anchor's positive rows held out")
    p.add_argument("--thresholds", type=_floats, default=(0.0, 0.5, 1.0, 2.0),
                   help="FAC deltas compared, e.g. 0,0.5,1,2 (the first picks the missing features)")
    p.add_argument("--relevant", type=Path, default=None, help="file of task-relevant feature ids")
    p.add_argument("--category", default=None,
                   help="category column of anchor and seed: adds arms of rows from categories the seed lacks / has")
    p.add_argument("--features", choices=["hidden", "sae"], default="hidden", help="probe features (as fac evaluate)")
    p.add_argument("--seeds", type=int, default=3, help="number of probe seeds, 0..N-1")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the hold-out split")
    p.add_argument("--token-budget", type=int, default=None, help="padded tokens per forward pass (hidden states)")
    p.add_argument("--name", default=None, help="save as <workspace>/.calibrations/NAME.json (default: calib-SEED)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Calibrate, save and print the table and the verdict."""
    from fac_engine.cli.evaluate import load_model_of
    from fac_engine.coverage.relevant_ids import read_relevant_file
    from fac_engine.evaluation.calibrate import calibrate
    from fac_engine.evaluation.calibration_results import CalibrationConfig, save_calibration
    from fac_engine.workspace.datasets import Workspace

    workspace = Workspace(workspace_root(args))
    relevant = None
    if args.relevant is not None:
        relevant = read_relevant_file(args.relevant, workspace.open(args.anchor).manifest.d_sae)
    try:
        cfg = CalibrationConfig(positive=args.positive, sizes=args.sizes, holdout=args.holdout,
                                thresholds=args.thresholds, relevant=relevant, category=args.category,
                                features=args.features, seeds=tuple(range(args.seeds)), seed=args.split_seed)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    result = calibrate(workspace, args.anchor, args.seed, args.test, cfg, name=args.name or f"calib-{args.seed}",
                       load_model=lambda: load_model_of(args), token_budget=args.token_budget)
    path = save_calibration(workspace.root, result)
    if args.json:
        print(json.dumps(result.to_json_dict()))
        return 0
    print_calibration(result)
    print(f"saved {path}")
    return 0


def print_calibration(result: CalibrationResult) -> None:
    """The arms with FAC at the first delta and AUPRC, then the correlations and the verdict."""
    cfg = result.config
    first = result.sets[0].fac[0]
    print(f"anchor {result.anchor}: {result.n_holdout} {cfg.positive!r} rows held out, {result.n_reference} kept as "
          f"FAC's reference; seed {result.seed}: {result.n_missing} missing features (delta {first.threshold:g}, "
          f"{first.scope}); test {result.test}; {cfg.features} features, {len(cfg.seeds)} seeds")
    width = max(30, *(len(s.name) for s in result.sets))
    print(f"{'set':{width}s} {'covers':>7s} {'FAC':>7s} {'FAC_freq':>9s} {'FAC_mag':>8s} {'AUPRC':>17s}")
    for s in result.sets:
        p = s.fac[0]
        print(f"{s.name:{width}s} {s.missing_covered:>7d} {p.fac:>7.4f} {p.fac_freq:>9.4f} {p.fac_magnitude:>8.4f} "
              f"{s.auprc.mean:>8.4f} ± {s.auprc.std:.4f}")
    print("Pearson / Spearman r of FAC with AUPRC:")
    for c in result.correlations:
        r = "n/a" if c.pearson is None else f"{c.pearson:+.3f}"
        rho = "n/a" if c.spearman is None else f"{c.spearman:+.3f}"
        print(f"  delta {c.threshold:<4g} {c.scope:8s} {c.variant:14s} r {r:>7s}  rho {rho:>7s}")
    print(result.verdict())
