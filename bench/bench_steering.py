"""Steered synthesis against prompting: modes `prompt`, `steer` and `both` on a project's target features, with the
same generator (the project's local model), the same budget of candidates per feature and the same seeds.

    .venv/bin/python bench/bench_steering.py --workspace ./workspace [--targets list|missing] [--features 5]
        [--candidates 6] [--seeds 1] [--threads 1]

Targets: the project's target list (`list`, what `fac demo` put there: the seed's missing task-relevant
features), or every feature the seed misses against the anchor at the project's delta (`missing`).

The workspace is only read: the project's settings and curation database are copied to a temporary folder and
nothing is stored (no synthesis job is created). Per mode and seed it prints the share of features with at least
one candidate above delta, the share with at least one acceptance-worthy candidate (above delta and not flagged
by the fluency guard), the mean g_i and the mean / median perplexity of the candidates, and the share of
acceptance-worthy candidates; then the means over seeds.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from fac_engine.cli.common import load_spec_and_sae
from fac_engine.coverage.fac import CoverageConfig, compute_coverage, feature_support
from fac_engine.llm.generators import GenerationConfig, Generator, LocalGenerator
from fac_engine.llm.steering import SteeringConfig, steered_generator
from fac_engine.models.spec import ModelSpec
from fac_engine.synthesis.candidates import MODES, NewCandidate, SynthesisMode
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.job import feature_targets
from fac_engine.synthesis.scoring import Scorer
from fac_engine.synthesis.twostep import FeatureTarget, SynthesisConfig, synthesise_batch
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import PROJECTS_DIR, Project


@dataclass(frozen=True)
class Row:
    """One mode x seed."""

    mode: str
    seed: int
    features: int
    covered: float
    worthy_features: float
    mean_g: float
    mean_ppl: float
    median_ppl: float
    worthy: float
    candidates: int
    seconds: float
    best: dict[int, NewCandidate]
    """Per feature, its highest-g candidate."""


def _project_copy(workspace: Path, name: str, tmp: Path) -> Project:
    """The project's settings and curation database, copied so that reading them never writes to `workspace`."""
    source = workspace / PROJECTS_DIR / name
    target = tmp / PROJECTS_DIR / name
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name == "project.json" or path.name.startswith("curation.sqlite"):
            shutil.copy2(path, target / path.name)
    return Project(tmp, name)


def _run(mode: SynthesisMode, seed: int, targets: list[FeatureTarget], generator: Generator, scorer: Scorer,
         args: argparse.Namespace, threshold: float) -> Row:
    n1 = args.n_step1 or args.candidates // 2
    cfg = SynthesisConfig(mode=mode, n_step1=n1, m_step2=args.candidates - n1, threshold=threshold,
                          features_per_batch=args.per_batch, steering=SteeringConfig(alphas=tuple(args.alphas)),
                          generation=GenerationConfig(seed=seed, max_new_tokens=args.max_new_tokens,
                                                      batch_size=args.batch_size))
    started = time.perf_counter()
    cands: dict[int, list[NewCandidate]] = {}
    for first in range(0, len(targets), cfg.features_per_batch):
        # Duplicates are not measured here: an empty index per batch keeps the modes independent.
        for outcome in synthesise_batch(targets[first : first + cfg.features_per_batch], generator, scorer, cfg,
                                        ShingleIndex()):
            cands[outcome.feature] = outcome.candidates
    seconds = time.perf_counter() - started
    every = [c for cs in cands.values() for c in cs]
    ppl = [c.provenance.perplexity for c in every if c.provenance.perplexity is not None]

    def worthy(c: NewCandidate) -> bool:
        return c.g > threshold and not c.provenance.flagged

    return Row(mode, seed, len(targets), sum(any(c.g > threshold for c in cs) for cs in cands.values()) / len(targets),
               sum(any(worthy(c) for c in cs) for cs in cands.values()) / len(targets),
               statistics.fmean(c.g for c in every) if every else 0.0, statistics.fmean(ppl) if ppl else 0.0,
               statistics.median(ppl) if ppl else 0.0, sum(map(worthy, every)) / len(every) if every else 0.0,
               len(every), seconds, {f: max(cs, key=lambda c: c.g) for f, cs in cands.items() if cs})


HEADER = ("| mode | seed | features | with a candidate > delta | with an acceptance-worthy one | mean g | mean ppl | "
          "median ppl | acceptance-worthy candidates | candidates | seconds |\n" + "|---" * 11 + "|")


def _line(r: Row, seed: str) -> str:
    return (f"| {r.mode} | {seed} | {r.features} | {r.covered:.0%} | {r.worthy_features:.0%} | {r.mean_g:.2f} | "
            f"{r.mean_ppl:.1f} | {r.median_ppl:.1f} | {r.worthy:.0%} | {r.candidates} | {r.seconds:.0f} |")


def _mean(rows: list[Row]) -> Row:
    def m(name: str) -> float:
        return statistics.fmean(float(getattr(r, name)) for r in rows)

    return Row(rows[0].mode, -1, rows[0].features, m("covered"), m("worthy_features"), m("mean_g"), m("mean_ppl"),
               m("median_ppl"), m("worthy"), round(m("candidates")), m("seconds"), {})


def _best_lines(rows: list[Row]) -> list[str]:
    """Seed 0's best candidate per feature and mode: g, alpha, perplexity, flag and the text's start."""
    out = ["| feature | mode | best g | alpha | ppl | flagged | text |", "|---|---|---|---|---|---|---|"]
    for feature in rows[0].best:
        for r in (r for r in rows if r.seed == 0):
            c = r.best.get(feature)
            if c is not None:
                text = " ".join(c.text.split())[:80].replace("|", "/")
                made = c.provenance
                out.append(f"| {feature} | {r.mode} | {c.g:.2f} | {made.alpha} | {made.perplexity or 0.0:.0f} | "
                           f"{made.flagged} | {text} |")
    return out


def main() -> None:
    """Run every mode for every seed and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="workspace with the project (only read)")
    parser.add_argument("--project", default="default")
    parser.add_argument("--targets", choices=["list", "missing"], default="list",
                        help="the project's target list, or every feature the seed misses (relevant or not)")
    parser.add_argument("--features", type=int, default=0, help="the first N target features (0: all)")
    parser.add_argument("--candidates", type=int, default=6, help="candidates per feature and mode (both steps)")
    parser.add_argument("--n-step1", type=int, default=0, help="of them in step 1 (default: half)")
    parser.add_argument("--seeds", type=int, default=1, help="sampling seeds 0..N-1")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--alphas", type=float, nargs="+", default=list(SteeringConfig.alphas))
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--per-batch", type=int, default=8, help="features taken through each step together")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        project = _project_copy(args.workspace, args.project, Path(tmp))
        config = project.config
        assert config.anchor is not None and config.seed is not None, "the project needs an anchor and a seed"
        data = Workspace(args.workspace)
        if args.targets == "list":
            features = project.features_in(config.target_list)
        else:
            seed_support, anchor_support = (feature_support(data.open(n).pooled_arrays(), config.threshold)
                                            for n in (config.seed, config.anchor))
            coverage = compute_coverage(seed_support, anchor_support, CoverageConfig(threshold=config.threshold))
            features = coverage.missing
        features = features[: args.features] if args.features else features
        lm, sae = load_spec_and_sae(ModelSpec(config.model, device=args.device), config.sae, config.layer)
        scorer = Scorer.like(lm, sae, data.manifest(config.anchor))
        started = time.perf_counter()
        local = LocalGenerator(lm)
        steered = steered_generator(local, sae, lm, SteeringConfig(alphas=tuple(args.alphas)))
        norm_s = time.perf_counter() - started
        targets = feature_targets(data.open(config.anchor), features, project.explanations(),
                                  SynthesisConfig(threshold=config.threshold))
    print(f"{lm.name}, SAE layer {sae.cfg.hook_layer} (median residual norm {steered.context.norm:.1f}, measured in "
          f"{norm_s:.1f} s), {len(targets)} target features ({args.targets}) of project '{args.project}', delta "
          f"{config.threshold:g}, "
          f"{args.candidates} candidates per feature and mode, alphas {args.alphas}, {args.max_new_tokens} new tokens")
    print(f"features: {features}")
    rows: list[Row] = []
    modes: list[SynthesisMode] = [m for m in MODES if m in args.modes.split(",")]
    for seed in range(args.seeds):
        for mode in modes:
            rows.append(_run(mode, seed, targets, local if mode == "prompt" else steered, scorer, args,
                             config.threshold))
            print(_line(rows[-1], str(seed)), flush=True)
    print(HEADER)
    for r in rows:
        print(_line(r, str(r.seed)))
    print(f"\nMeans over {args.seeds} seed(s):\n{HEADER}")
    for mode in modes:
        print(_line(_mean([r for r in rows if r.mode == mode]), "mean"))
    print("\nBest candidate per feature (seed 0):\n" + "\n".join(_best_lines(rows)))


if __name__ == "__main__":
    main()
