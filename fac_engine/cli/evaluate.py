"""The evaluation verbs: `fac evaluate` (a linear probe per training set, scored on a test set, next to each
set's FAC) and `fac calibrate` (does FAC track downstream AUPRC on this task? held-out real anchor rows
decide)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import (
    add_model_options,
    add_workspace_option,
    print_saved,
    workspace_root,
)
from fac_engine.cli.flags import ConfigFlags, count, floats, ints, positive
from fac_engine.errors import FacError
from fac_engine.evaluation.results import EvalConfig, MetricSummary

if TYPE_CHECKING:
    from fac_engine.evaluation.calibration_results import CalibrationConfig, CalibrationResult
    from fac_engine.evaluation.probe import TrainingSet
    from fac_engine.evaluation.results import CategoryMetric, EvalResult
    from fac_engine.models.loader import LoadedModel

EVAL_FLAGS = ConfigFlags(EvalConfig, skip=("seeds", "relevant"), names={"threshold": "decision-threshold",
                                                                         "fac_threshold": "threshold"})
"""--features, --positive, --decision-threshold, --C, --max-iter, --subsample, --threshold, --category."""


def add_evaluate(p: argparse.ArgumentParser) -> None:
    """`fac evaluate`."""
    p.add_argument("--anchor", required=True, help="encoded anchor dataset FAC is measured against")
    p.add_argument("--test", required=True, help="encoded test dataset")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=DATASET[,DATASET...]",
                   help="a training set: a name and the encoded datasets concatenated into it (repeatable)")
    p.add_argument("--seeds", type=count, default=3, help="number of seeds (probes per set), 0..N-1")
    EVAL_FLAGS.add(p)
    p.add_argument("--relevant", type=Path, default=None, help="file of task-relevant feature ids for FAC")
    p.add_argument("--headroom", type=positive, default=None, metavar="N",
                   help="add the set 'BASE + headroom (real)': the base set plus N real anchor rows that no training "
                        "set holds, picked to cover the features it misses (an upper reference, not synthetic data)")
    p.add_argument("--headroom-base", default=None, metavar="NAME",
                   help="the training set the headroom rows are added to (default: the first --set)")
    p.add_argument("--embeddings", action="store_true",
                   help="add the sentence-embedding cosine distance to the text diversity (loads MiniLM)")
    p.add_argument("--token-budget", type=positive, default=None,
                   help="padded tokens per forward pass (hidden states)")
    p.add_argument("--name", default=None,
                   help="save the result as <workspace>/.evaluations/NAME.json (default: eval-TEST-FEATURES)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_evaluate)


def parse_set(spec: str) -> TrainingSet:
    """`NAME=DATASET[,DATASET...]` -> TrainingSet; FacError when it is malformed."""
    from fac_engine.evaluation.probe import TrainingSet

    name, sep, datasets = spec.rpartition("=")
    members = tuple(d.strip() for d in datasets.split(",") if d.strip())
    if not sep or not name.strip() or not members:
        raise FacError(f"--set {spec!r} is not NAME=DATASET[,DATASET...], "
                       "e.g. --set \"seed + FAC=demo-seed,demo-fac\".")
    return TrainingSet(name.strip(), members)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, save the JSON and print the table (or the JSON)."""
    from fac_engine.coverage.relevant_ids import read_relevant_file
    from fac_engine.evaluation.evaluate import evaluate_sets
    from fac_engine.evaluation.headroom import HeadroomSpec
    from fac_engine.evaluation.results import save_evaluation
    from fac_engine.workspace.datasets import Workspace

    if not args.sets:
        raise FacError("Give at least one training set with --set NAME=DATASET[,DATASET...].")
    if args.headroom_base is not None and args.headroom is None:
        raise FacError("--headroom-base needs --headroom N (the number of real anchor rows to add).")
    sets = [parse_set(s) for s in args.sets]
    headroom = None if args.headroom is None else HeadroomSpec(args.headroom, args.headroom_base)
    cfg = EVAL_FLAGS.build(args, seeds=tuple(range(args.seeds)))  # bad values fail before any dataset is read
    workspace = Workspace(workspace_root(args))
    if args.relevant is not None:
        relevant = read_relevant_file(args.relevant, workspace.open(args.anchor).manifest.d_sae)
        cfg = EVAL_FLAGS.build(args, seeds=cfg.seeds, relevant=relevant)
    name = args.name or f"eval-{args.test}-{args.features}"
    embed = None
    if args.embeddings:
        from fac_engine.models.sentence import load_sentence_encoder

        embed = load_sentence_encoder().embed
    with _Bars() as bars:
        result = evaluate_sets(workspace, args.anchor, args.test, sets, cfg, name=name, headroom=headroom,
                               load_model=lambda: load_model_of(args), token_budget=args.token_budget,
                               progress=bars.update, embed=embed)
    return print_saved(result, save_evaluation(workspace.root, result), args.json, print_table)


def load_model_of(args: argparse.Namespace) -> LoadedModel:
    from fac_engine.cli.common import model_spec
    from fac_engine.models.loader import load_model

    return load_model(model_spec(args))


class _Bars:
    """One tqdm bar per dataset whose hidden states are computed."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.name = ""

    def update(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None or name != self.name:
            self.close()
            self.bar, self.name = tqdm(total=total, desc=f"hidden states {name}", unit="sample"), name
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _cell(m: MetricSummary) -> str:
    return f"{m.mean:.4f} ± {m.std:.4f}"


def print_categories(result: EvalResult) -> None:
    """Per test category (rows) and set (columns): recall at the decision threshold and AUPRC against all
    negatives of the category's positive rows, mean ± std over the seeds."""
    cfg = result.config
    print(f"per {cfg.category} of the test's {cfg.positive!r} rows: recall at {cfg.threshold:g} and AUPRC against "
          "all negative rows, mean ± std over the seeds")
    name_width = max(12, *(len(c.name) for c in result.categories))
    widths = [max(15, len(s.name)) for s in result.sets]
    print(f"{cfg.category or 'category':{name_width}s} {'n':>6s} {'metric':6s} "
          + " ".join(f"{s.name:>{w}s}" for s, w in zip(result.sets, widths, strict=True)))
    for c in result.categories:
        metrics: tuple[CategoryMetric, ...] = ("recall", "auprc")
        for i, metric in enumerate(metrics):
            label = f"{c.name:{name_width}s} {c.n_positive:>6,}" if i == 0 else " " * (name_width + 7)
            cells = [f"{_cell(s.category_metric(c.name, metric)):>{w}s}" for s, w in zip(result.sets, widths,
                                                                                         strict=True)]
            print(f"{label} {'recall' if metric == 'recall' else 'AUPRC':6s} " + " ".join(cells))


def print_table(result: EvalResult) -> None:
    """The per-set table (set, n train, FAC, AUPRC, ROC-AUC and F1 mean ± std, DES, distinct-2), the headroom
    arm's note and the per-category table."""
    cfg = result.config
    print(f"{result.config.features} features, test {result.test} ({result.n_test:,} rows, "
          f"{result.n_test_positive:,} {cfg.positive!r}), FAC against {result.anchor}, {len(cfg.seeds)} seeds, "
          f"{result.seconds:.1f} s")
    width = max(24, *(len(s.name) for s in result.sets))
    print(f"{'set':{width}s} {'n train':>8s} {'FAC':>7s} {'AUPRC':>16s} {'ROC-AUC':>16s} {'F1':>16s} "
          f"{'DES':>16s} {'distinct-2':>10s}")
    for s in result.sets:
        cells = [_cell(m) for m in (s.auprc, s.metric("roc_auc"), s.metric("f1"), s.des)]
        print(f"{s.name:{width}s} {s.n_train:>8,} {s.coverage.fac:>7.4f} {cells[0]:>16s} {cells[1]:>16s} "
              f"{cells[2]:>16s} {cells[3]:>16s} {s.diversity.distinct_2:>10.4f}")
    print("DES = AUPRC / log10(n train).")
    for s in result.sets:
        if s.headroom is not None:
            h = s.headroom
            rows = f"{len(h.rows)} real row{'' if len(h.rows) == 1 else 's'}"
            print(f"{s.name}: {h.base} plus {rows} of {result.anchor} that no training set holds, "
                  f"covering {h.covered} of the {h.n_missing} features {h.base} misses; real data, an upper "
                  "reference for synthesis, not a synthesis result.")
    if result.categories:
        print_categories(result)
    if len(result.sets) >= 3:
        shown = {x: result.correlation(x) for x in ("fac", "distinct_2")}
        print("Pearson r with AUPRC across sets: " + ", ".join(
            f"{x} {'n/a (constant)' if r is None else f'{r:.3f}'}" for x, r in shown.items()))


def _calibration_flags() -> ConfigFlags[CalibrationConfig]:
    from fac_engine.evaluation.calibration_results import CalibrationConfig

    return ConfigFlags(CalibrationConfig, skip=("sizes", "thresholds", "relevant", "seeds"),
                       names={"seed": "split-seed"})


def add_calibrate(p: argparse.ArgumentParser) -> None:
    """`fac calibrate`."""
    from fac_engine.evaluation.calibration_results import CalibrationConfig

    defaults = CalibrationConfig()
    p.add_argument("--anchor", required=True, help="encoded, labelled anchor dataset (some positive rows held out)")
    p.add_argument("--seed", required=True, help="encoded seed dataset")
    p.add_argument("--test", required=True, help="encoded, labelled test dataset (never changed)")
    p.add_argument("--sizes", type=ints, default=defaults.sizes,
                   help=f"rows added per arm (default {','.join(map(str, defaults.sizes))})")
    p.add_argument("--thresholds", type=floats, default=defaults.thresholds,
                   help=f"FAC deltas compared (default {','.join(f'{d:g}' for d in defaults.thresholds)}; the first "
                        "picks the missing features)")
    _calibration_flags().add(p)
    p.add_argument("--relevant", type=Path, default=None, help="file of task-relevant feature ids")
    p.add_argument("--seeds", type=count, default=3, help="number of probe seeds, 0..N-1")
    p.add_argument("--token-budget", type=positive, default=None,
                   help="padded tokens per forward pass (hidden states)")
    p.add_argument("--name", default=None, help="save as <workspace>/.calibrations/NAME.json (default: calib-SEED)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate, save and print the table and the verdict."""
    from fac_engine.coverage.relevant_ids import read_relevant_file
    from fac_engine.evaluation.calibrate import calibrate
    from fac_engine.evaluation.calibration_results import save_calibration
    from fac_engine.workspace.datasets import Workspace

    fixed = {"sizes": args.sizes, "thresholds": args.thresholds, "seeds": tuple(range(args.seeds))}
    cfg = _calibration_flags().build(args, **fixed)  # bad values fail before any dataset is read
    workspace = Workspace(workspace_root(args))
    if args.relevant is not None:
        relevant = read_relevant_file(args.relevant, workspace.open(args.anchor).manifest.d_sae)
        cfg = _calibration_flags().build(args, **fixed, relevant=relevant)
    result = calibrate(workspace, args.anchor, args.seed, args.test, cfg, name=args.name or f"calib-{args.seed}",
                       load_model=lambda: load_model_of(args), token_budget=args.token_budget)
    return print_saved(result, save_calibration(workspace.root, result), args.json, print_calibration)


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
