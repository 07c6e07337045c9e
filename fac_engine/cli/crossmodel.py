"""`fac match`: match the features of two SAEs (two models) over a bridge corpus; `fac match transfer` carries a
feature list into the other space; `fac match agreement` compares FAC in both spaces."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_workspace_option, print_saved, workspace_root
from fac_engine.cli.flags import ConfigFlags, finite_float, non_negative_float, positive
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.crossmodel.agreement_results import AgreementConfig, AgreementResult
    from fac_engine.crossmodel.results import FeatureMap, MatchConfig
    from fac_engine.crossmodel.transfer import MappedFeature, TransferResult
    from fac_engine.workspace.datasets import Workspace

SMALL_BRIDGE = 2000
"""Below this many bridge samples the CLI says that matches will be unsteady."""
_PAIRS_HELP = ("which pairs count: each feature's best candidate, only mutual nearest neighbours, or the 1:1 "
               "assignment (a map made with --one-to-one)")


def _match_flags() -> ConfigFlags[MatchConfig]:
    from fac_engine.crossmodel.results import MatchConfig

    return ConfigFlags(MatchConfig, title="matching", helps={
        "shuffles": "shuffles of B's sample ids for the null (0: none)",
        "shuffled_control": "negative control: shuffle B's samples first (should give no confident pairs; not saved)"})


def _agreement_flags() -> ConfigFlags[AgreementConfig]:
    from fac_engine.crossmodel.agreement_results import AgreementConfig

    return ConfigFlags(AgreementConfig, names={"min_confidence": "confidence"}, helps={
        "min_confidence": "pairs from this confidence count, 0..1", "pairs": _PAIRS_HELP,
        "shuffles": "random pairings of the decoder rows for CKA's null", "seed": "seed of those pairings"})


def add_match(p: argparse.ArgumentParser) -> None:
    """`fac match`."""
    p.description = ("Match every feature of space A (the SAE a dataset named by --from was encoded with) with its "
                     "best candidates in space B (--to) by how their pooled activations co-vary over the same "
                     "samples. Modes (their flags after the mode): transfer, agreement.")
    p.add_argument("--from", dest="from_name", default=None, help="a dataset encoded in space A")
    p.add_argument("--to", dest="to_name", default=None, help="a dataset encoded in space B")
    p.add_argument("--bridge", default=None,
                   help="bridge datasets, comma-separated: NAME_A=NAME_B, or NAME_A alone to find its copy in B by "
                        "the dataset hash (default: --from=--to)")
    _match_flags().add(p)
    p.add_argument("--out", default=None, help="save the map as NAME (default: FROM--TO)")
    p.add_argument("--show", type=positive, default=15, help="best pairs printed (default: 15)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_match)


def add_transfer(p: argparse.ArgumentParser) -> None:
    """`fac match transfer`."""
    from fac_engine.crossmodel.results import CONFIDENT
    from fac_engine.crossmodel.transfer import PAIR_KINDS

    p.add_argument("--map", required=True, help="the saved feature map (fac match --out)")
    p.add_argument("--to-project", required=True, help="project of space B that receives the list")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--list", default=None, help="a feature list of --from-project")
    source.add_argument("--features", default=None, help="feature ids of A, e.g. '3, 8 12-15'")
    source.add_argument("--seed", dest="seed_name", default=None,
                        help="the missing features of this dataset of A against --anchor")
    p.add_argument("--from-project", default="default", help="project of space A holding --list (default: 'default')")
    p.add_argument("--anchor", default=None, help="anchor dataset of A (with --seed)")
    p.add_argument("--threshold", type=non_negative_float, default=0.0,
                   help="delta of the missing features (with --seed; default: 0.0)")
    p.add_argument("--confidence", type=finite_float, default=CONFIDENT,
                   help=f"pairs from this confidence count, 0..1 (default: {CONFIDENT:g})")
    p.add_argument("--pairs", choices=PAIR_KINDS, default="best", help=_PAIRS_HELP + " (default: best)")
    p.add_argument("--list-name", default=None, help="the list written in B's project (default: from-MAP)")
    p.add_argument("--with-ambiguous", action="store_true", help="also write counterparts shared by several features")
    p.add_argument("--dry-run", action="store_true", help="show the transfer, write nothing")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_transfer)


def add_agreement(p: argparse.ArgumentParser) -> None:
    """`fac match agreement`."""
    p.add_argument("--map", required=True, help="the saved feature map")
    p.add_argument("--seeds", required=True, help="datasets measured in both spaces: NAME_A=NAME_B or NAME_A, ...")
    p.add_argument("--anchor", default=None, help="the anchor in both spaces, NAME_A[=NAME_B] (default: the first "
                                                  "bridge pair)")
    _agreement_flags().add(p)
    p.add_argument("--no-cka", action="store_true", help="skip CKA (it loads both SAEs)")
    p.add_argument("--sae-a", default=None, help="load A's SAE from here (default: the path recorded when encoding)")
    p.add_argument("--sae-b", default=None, help="load B's SAE from here")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_option(p)
    p.set_defaults(run=run_agreement)


def run_match(args: argparse.Namespace) -> int:
    """Match, save (unless a control) and print the best pairs."""
    from tqdm import tqdm

    from fac_engine.crossmodel.bridge import parse_pairs, resolve_bridge
    from fac_engine.crossmodel.matching import match_features
    from fac_engine.crossmodel.results import CONFIDENT, save_map
    from fac_engine.workspace.datasets import Workspace

    if args.mode is not None:  # `fac match --from A transfer`: a mode's flags go after the mode
        raise FacError(f"Name the mode right after the verb, its flags after it: `fac match {args.mode} ...` (see "
                       f"`fac match {args.mode} --help`).")
    if not args.from_name or not args.to_name:
        raise FacError("Name both feature spaces: `fac match --from DATASET_A --to DATASET_B` (or a mode: "
                       "transfer, agreement).")
    cfg = _match_flags().build(args)
    workspace = Workspace(workspace_root(args))
    bridge = resolve_bridge(workspace, args.from_name, args.to_name,
                            parse_pairs(args.bridge) if args.bridge else None)
    name = args.out or f"{args.from_name}--{args.to_name}"
    with tqdm(total=1, desc="matching", unit="step", disable=args.json) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        fmap = match_features(workspace, bridge, cfg, name, progress)
    saved = None if cfg.shuffled_control else save_map(workspace.root, fmap)
    if args.json:
        best = fmap.pairs.best()
        print(json.dumps({**fmap.meta(), "saved": None if saved is None else str(saved),
                          "confident": int((best.confidence >= CONFIDENT).sum()), "mutual": int(best.mutual.sum()),
                          "best": best.to_table().to_pylist()}))
        return 0
    print_map(fmap, args.show)
    if saved is None:
        confident = int((fmap.pairs.best().confidence >= CONFIDENT).sum())
        print(f"negative control (B's samples shuffled, not saved): {confident:,} confident pairs; a sound bridge "
              "gives none")
    else:
        print(f"saved {saved}")
    return 0


def print_map(fmap: FeatureMap, show: int) -> None:
    """The bridge, both spaces and the most confident best pairs."""
    from fac_engine.crossmodel.results import CONFIDENT

    best = fmap.pairs.best()
    note = "  (small: a few thousand samples give steadier matches)" if fmap.n_samples < SMALL_BRIDGE else ""
    print(f"bridge: {', '.join(f'{p.a}={p.b}' for p in fmap.bridge)}: {fmap.n_samples:,} samples "
          f"(hash {fmap.bridge_hash[:12]}){note}")
    print(f"A: {fmap.space_a.label()}, {int((fmap.count_a > 0).sum()):,} fire on the bridge")
    print(f"B: {fmap.space_b.label()}, {int((fmap.count_b > 0).sum()):,} fire on the bridge")
    assigned = f", {int(fmap.pairs.assigned.sum()):,} pairs in the 1:1 assignment" if fmap.config.one_to_one else ""
    print(f"{len(best):,} features of A have a candidate: {int((best.confidence >= CONFIDENT).sum()):,} confident "
          f"(>= {CONFIDENT:g}), {int(best.mutual.sum()):,} mutual{assigned}")
    order = sorted(range(len(best)), key=lambda i: (-float(best.confidence[i]), int(best.feature_a[i])))[:show]
    if order:
        print(f"{'A':>7s} {'B':>7s} {'r':>6s} {'jaccard':>7s} {'support':>7s} {'margin':>6s} {'null':>6s} "
              f"{'confidence':>10s} mutual")
    for i in order:
        print(f"{best.feature_a[i]:>7d} {best.feature_b[i]:>7d} {best.pearson[i]:>6.3f} {best.jaccard[i]:>7.3f} "
              f"{best.support[i]:>7d} {best.margin[i]:>6.3f} {best.null[i]:>6.3f} {best.confidence[i]:>10.3f} "
              f"{'yes' if best.mutual[i] else 'no'}")


def _source_features(args: argparse.Namespace, workspace: Workspace, fmap: FeatureMap) -> tuple[list[int], str]:
    """The A features to carry and a description of where they come from."""
    from fac_engine.coverage.fac import CoverageConfig, compute_coverage, feature_support
    from fac_engine.coverage.feature_ids import parse_feature_ids
    from fac_engine.crossmodel.transfer import check_project_space
    from fac_engine.workspace.datasets import check_comparable
    from fac_engine.workspace.project import Project

    if args.features is not None:
        return parse_feature_ids(args.features, fmap.space_a.d_sae), "the given features"
    if args.list is not None:
        project = Project(workspace.root, args.from_project)
        check_project_space(project, fmap, "a", _anchor_sae(workspace, project))
        if args.list not in project.list_names():
            raise FacError(f"Project {project.name!r} has no feature list {args.list!r} (lists: "
                           f"{', '.join(project.list_names()) or 'none'}).")
        return project.features_in(args.list), f"list {args.list!r} of project {project.name!r}"
    if args.anchor is None:
        raise FacError("--seed needs --anchor: the missing features of the seed against that anchor are carried.")
    anchor, seed = workspace.open(args.anchor), workspace.open(args.seed_name)
    for data in (anchor, seed):
        if not fmap.space_a.holds(data.manifest):
            raise FacError(f"{data.name!r} is not encoded in space A of map {fmap.name!r} ({fmap.space_a.label()}).")
    check_comparable(anchor.manifest, seed.manifest)
    try:
        cfg = CoverageConfig(threshold=args.threshold)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    result = compute_coverage(feature_support(seed.pooled_arrays(), cfg.threshold),
                              feature_support(anchor.pooled_arrays(), cfg.threshold), cfg)
    return result.missing, f"the missing features of {seed.name!r} against {anchor.name!r}"


def _anchor_sae(workspace: Workspace, project: Any) -> str | None:
    """The SAE identity of a project's anchor dataset (None when it has none encoded)."""
    anchor = project.config.anchor
    manifest = workspace.manifest(anchor) if anchor else None
    return None if manifest is None else manifest.sae


def run_transfer(args: argparse.Namespace) -> int:
    """Carry the features, print the three groups, write B's list."""
    from fac_engine.crossmodel.results import load_map
    from fac_engine.crossmodel.transfer import check_project_space, transfer_features, write_transfer
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.project import Project

    workspace = Workspace(workspace_root(args))
    fmap = load_map(workspace.root, args.map)
    features, source = _source_features(args, workspace, fmap)
    result = transfer_features(fmap, features, args.confidence, args.pairs)
    target = Project(workspace.root, args.to_project)
    check_project_space(target, fmap, "b", _anchor_sae(workspace, target))
    list_name = args.list_name or f"from-{fmap.name}"
    written = result.targets(args.with_ambiguous) if args.dry_run else write_transfer(target, list_name, result,
                                                                                       args.with_ambiguous)
    if args.json:
        print(json.dumps({"map": fmap.name, "source": source, "min_confidence": result.min_confidence,
                          "pairs": result.pairs, "mapped": [m._asdict() for m in result.mapped],
                          "ambiguous": [m._asdict() for m in result.ambiguous],
                          "unmapped": [u._asdict() for u in result.unmapped], "targets": written,
                          "project": target.name, "list": None if args.dry_run else list_name}))
        return 0
    print_transfer(result, source)
    verb = "would write" if args.dry_run else "wrote"
    print(f"{verb} {len(written):,} features to list {list_name!r} of project {target.name!r}: "
          f"{', '.join(map(str, written)) or '(none)'}")
    return 0


def _pairs_text(features: tuple[MappedFeature, ...]) -> str:
    return ", ".join(f"{m.feature_a}->{m.feature_b} ({m.confidence:.2f}{', mutual' if m.mutual else ''})"
                     for m in features) or "(none)"


def print_transfer(result: TransferResult, source: str) -> None:
    """Mapped, ambiguous and unmapped features, one group per line."""
    n = len(result.mapped) + len(result.ambiguous) + len(result.unmapped)
    print(f"{n:,} features of A ({source}) through map {result.map_name!r} ({result.pairs} pairs, confidence >= "
          f"{result.min_confidence:g}):")
    print(f"mapped ({len(result.mapped):,}): {_pairs_text(result.mapped)}")
    print(f"ambiguous, many-to-one ({len(result.ambiguous):,}): {_pairs_text(result.ambiguous)}")
    unmapped = ", ".join(f"{u.feature_a} ({u.reason}" + ("" if u.best_b is None else
                                                          f"; best {u.best_b} at {u.confidence:.2f}") + ")"
                         for u in result.unmapped) or "(none)"
    print(f"unmapped, possibly only in A ({len(result.unmapped):,}): {unmapped}")


def run_agreement(args: argparse.Namespace) -> int:
    """Measure, save and print the agreement."""
    from fac_engine.crossmodel.agreement import SaeDecoders, dataset_pairs, measure_agreement
    from fac_engine.crossmodel.agreement_results import save_agreement
    from fac_engine.crossmodel.bridge import parse_pairs
    from fac_engine.crossmodel.results import load_map
    from fac_engine.workspace.datasets import Workspace

    cfg = _agreement_flags().build(args)
    workspace = Workspace(workspace_root(args))
    fmap = load_map(workspace.root, args.map)
    anchor = parse_pairs(args.anchor) if args.anchor else [tuple(fmap.bridge[0])]
    if len(anchor) != 1:
        raise FacError("Give one anchor: NAME_A or NAME_A=NAME_B.")
    pairs = dataset_pairs(workspace, fmap, [*anchor, *parse_pairs(args.seeds)])  # type: ignore[list-item]
    overrides = {s.sae: p for s, p in ((fmap.space_a, args.sae_a), (fmap.space_b, args.sae_b)) if p}
    result = measure_agreement(workspace, fmap, pairs[0], pairs[1:], cfg,
                               None if args.no_cka else SaeDecoders(overrides))
    return print_saved(result, save_agreement(workspace.root, result), args.json, print_agreement)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def print_agreement(result: AgreementResult) -> None:
    """FAC side by side per dataset, then the agreement figures."""
    cfg = result.config
    print(f"FAC against {result.anchor.a} (A) / {result.anchor.b} (B), delta {cfg.threshold:g}; pairs: "
          f"{cfg.pairs} at confidence >= {cfg.min_confidence:g} of map {result.map_name!r}")
    width = max(12, *(len(s.seed_a) + len(s.seed_b) + 3 for s in result.seeds))
    print(f"{'dataset (A / B)':{width}s} {'FAC A':>7s} {'FAC B':>7s} {'pairs':>6s} {'agree':>6s} {'kappa':>6s}")
    for s in result.seeds:
        print(f"{s.seed_a + ' / ' + s.seed_b:{width}s} {s.fac_a:>7.4f} {s.fac_b:>7.4f} {s.table.n:>6d} "
              f"{_num(s.table.agreement, '>6.3f'):>6s} {_num(s.table.kappa, '>6.3f'):>6s}")
    print(f"Spearman r of FAC across datasets: {_num(result.spearman)}")
    print(f"Cohen's kappa of covered / missing over every dataset: {_num(result.pooled.kappa)} "
          f"({result.pooled.n:,} pair-dataset cells, agreement {_num(result.pooled.agreement)})")
    print(f"confident counterparts: {result.confident_a:,} of {result.active_a:,} bridge features of A "
          f"({_num(result.share_a, '.1%')}); {result.confident_b:,} of {result.active_b:,} of B "
          f"({_num(result.share_b, '.1%')})")
    c = result.cka
    if c is None:
        print("CKA of the paired decoder rows: not measured (--no-cka, or fewer than 3 one-to-one pairs)")
    else:
        print(f"CKA of the paired decoder rows ({c.n_pairs:,} one-to-one pairs): {c.cka:.3f}; random pairings "
              f"{_num(c.null_mean)} (95th percentile {_num(c.null_p95)}), p = {c.p_value:.3g}")
