"""`fac encode DATA --name NAME`: a dataset through the LM and the SAE into the workspace; `fac datasets`.

`encode_with_bar` is the one way the CLI encodes a file (encode, export --encode-as, baseline
--encode-as, demo): the engine's `encode_file` under a progress bar, with one summary line.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.cli.common import add_model_options, add_sae_options, add_workspace_option, workspace_root
from fac_engine.cli.flags import ConfigFlags
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.data.dataset import Dataset, DatasetConfig
    from fac_engine.encoding.encode import EncodeConfig, EncodeSummary
    from fac_engine.encoding.ray_encode import RayConfig
    from fac_engine.models.loader import LoadedModel
    from fac_engine.models.spec import ModelSpec
    from fac_engine.sae.model import SparseAutoencoder
    from fac_engine.workspace.datasets import Manifest, Workspace
    from fac_engine.workspace.jobs import ProgressFile


def _data_flags() -> ConfigFlags[DatasetConfig]:
    from fac_engine.data.dataset import DatasetConfig

    return ConfigFlags(DatasetConfig, title="reading the data", helps={
        "text_field": "column holding the text (default: detected)",
        "label_field": "label column kept with each sample",
        "messages_field": "column of chat messages (default: detected)",
        "limit": "encode only the first N rows"})


def _encode_flags() -> ConfigFlags[EncodeConfig]:
    from fac_engine.encoding.encode import EncodeConfig

    return ConfigFlags(EncodeConfig, title="encoding", names={"chat": "plain"}, defaults={"max_length": None}, helps={
        "name": "name of the encoded dataset in the workspace",
        "chat": "do not wrap samples in the chat template (t0 = 0)",
        "max_length": f"context limit in tokens, longer samples are cut (default: {EncodeConfig.max_length}, or "
                      "the model's context when shorter)"})


def _ray_flags() -> ConfigFlags[RayConfig]:
    from fac_engine.encoding.ray_encode import RayConfig

    return ConfigFlags(RayConfig, only=("actors",), names={"actors": "ray-actors"}, title="Ray",
                       helps={"actors": "with --ray: model + SAE actors (one GPU each where the cluster has GPUs)"})


def add_encode(p: argparse.ArgumentParser) -> None:
    """`fac encode`."""
    p.add_argument("data", type=Path, help="a .jsonl / .csv / .parquet file or a saved Hugging Face dataset folder")
    _data_flags().add(p)
    _encode_flags().add(p)
    p.add_argument("--progress-file", type=Path, default=None, help=argparse.SUPPRESS)  # the dashboard's jobs
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="encode on Ray: alone it starts a local Ray; 'auto' or ray://HOST:PORT joins a running cluster")
    _ray_flags().add(p)
    add_model_options(p)
    add_sae_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run_encode)


def add_datasets(p: argparse.ArgumentParser) -> None:
    """`fac datasets`."""
    add_workspace_option(p)
    p.set_defaults(run=run_datasets)


def run_encode(args: argparse.Namespace) -> int:
    """Read, encode (resuming finished shards) and print a summary."""
    from fac_engine.cli.common import load_model_and_sae, load_spec_and_sae, model_spec
    from fac_engine.data.dataset import read_dataset
    from fac_engine.encoding.encode import EncodeConfig
    from fac_engine.workspace.datasets import Workspace
    from fac_engine.workspace.jobs import ProgressFile

    # Every option and the data itself are checked before the (slow) model load.
    data_cfg = _data_flags().build(args)
    cfg = _encode_flags().build(args, max_length=args.max_length or EncodeConfig.max_length)
    if args.ray is None and args.ray_actors != 1:
        raise FacError("--ray-actors needs --ray.")
    ray = None if args.ray is None else (_ray_flags().build(args, address=args.ray or None), model_spec(args))
    dataset = read_dataset(args.data, data_cfg)
    # With --ray the actors hold the model; the driver's copy (tokenizer, identity) stays off the GPUs.
    lm, sae = load_model_and_sae(args) if ray is None else \
        load_spec_and_sae(replace(model_spec(args), device="cpu"), args.sae, args.layer)
    progress_file = None if args.progress_file is None else ProgressFile(args.progress_file, "samples", "tokens/s")
    m = encode_with_bar(Workspace(workspace_root(args)), args.data, lm, sae, args.sae, cfg, data_cfg, dataset,
                        progress_file, warn_context=args.max_length is not None, ray=ray).manifest
    print(dropped_note(m), file=sys.stderr if m.dropped_activations else sys.stdout)
    return 0


def encode_with_bar(workspace: Workspace, path: Path, lm: LoadedModel, sae: SparseAutoencoder, sae_path: str,
                    cfg: EncodeConfig, data_cfg: DatasetConfig, dataset: Dataset | None = None,
                    progress_file: ProgressFile | None = None, warn_context: bool = False,
                    ray: tuple[RayConfig, ModelSpec] | None = None) -> EncodeSummary:
    """Encode a file into the workspace under a progress bar and print what was done (on Ray with `ray`:
    its settings and the model every actor loads). A max_length above the model's context is capped, with a
    warning when the user asked for it (`warn_context`)."""
    from tqdm import tqdm

    from fac_engine.data.dataset import read_dataset
    from fac_engine.encoding.encode import encode_file, file_manifest, fit_context
    from fac_engine.encoding.ray_encode import WorkerStats, encode_dataset_ray

    dataset = dataset if dataset is not None else read_dataset(path, data_cfg)
    fitted = fit_context(cfg, lm)
    if fitted.max_length != cfg.max_length and warn_context:
        print(f"warning: --max-length {cfg.max_length} is above {lm.name}'s context of {fitted.max_length} tokens; "
              f"using {fitted.max_length}", file=sys.stderr)
    started = time.perf_counter()
    bars: list[tqdm[None]] = []  # opened on the first progress call: an early refusal stays one line

    def progress(tokens: int, samples: int) -> None:
        if not bars:
            bars.append(tqdm(total=len(dataset), desc=f"encoding {cfg.name}", unit="sample"))
        bars[0].update(samples - bars[0].n)
        elapsed = time.perf_counter() - started
        bars[0].set_postfix_str(f"{tokens / elapsed:,.0f} tok/s" if elapsed > 0 else "")
        if progress_file is not None:
            progress_file.update(samples, len(dataset), tokens / elapsed if elapsed > 0 else 0.0)

    workers: list[WorkerStats] = []
    try:
        if ray is None:
            summary = encode_file(workspace, path, lm, sae, sae_path, fitted, data_cfg, progress, dataset)
        else:
            base = file_manifest(path, dataset, data_cfg, lm, sae, sae_path, fitted)
            summary, workers = encode_dataset_ray(workspace, dataset.items, dataset.frame, lm, sae, fitted, base=base,
                                                  model=ray[1], ray_cfg=ray[0], progress=progress)
    finally:
        for bar in bars:
            bar.close()
    if progress_file is not None:
        n = summary.manifest.n_samples
        progress_file.update(n, n, summary.tokens_per_second, force=True)
    print(summary_line(workspace, summary))
    for w in workers:
        print(f"  Ray actor {w.worker}{f' ({w.gpus} GPU)' if w.gpus else ''}: {w.shards} shards, {w.tokens:,} tokens, "
              f"{w.tokens_per_second:,.0f} tok/s")
    return summary


def summary_line(workspace: Workspace, summary: EncodeSummary) -> str:
    """What an encode run did, in one line."""
    m = summary.manifest
    if summary.already_complete:
        return f"{m.name} is already encoded in {workspace.root} ({m.n_samples:,} samples); nothing to do."
    if summary.resumed_shards == m.n_shards:  # a run killed after its last shard: only the last step was left
        return (f"finished encoding {m.name} in {workspace.folder(m.name)}: all {m.n_shards} shards were already "
                f"encoded; merged the pooled codes and wrote the feature tables ({m.n_samples:,} samples, "
                f"{m.n_tokens:,} tokens)")
    resumed = f", resumed after {summary.resumed_shards} finished shards" if summary.resumed_shards else ""
    return (f"encoded {m.n_samples:,} samples ({m.n_tokens:,} tokens, {m.truncated_samples:,} truncated at "
            f"{m.max_length}) into {workspace.folder(m.name)} at {summary.tokens_per_second:,.0f} tok/s{resumed}")


def dropped_note(m: Manifest) -> str:
    """One line on whether every active SAE feature reached the store (a warning when some did not)."""
    if not m.dropped_activations:
        return "SAE codes: every active feature of every token is stored (0 dropped)."
    return (f"warning: the SAE's max_active cap ({m.extra.get('sae_max_active')} per token) dropped "
            f"{m.dropped_activations:,} active features; coverage, statistics and the explorer miss them. "
            "Remove max_active from the SAE's cfg.json (or raise it) and encode again with --overwrite.")


def run_datasets(args: argparse.Namespace) -> int:
    """One line per encoded dataset; damaged folders are named on stderr and skipped."""
    from fac_engine.workspace.datasets import Workspace

    workspace = Workspace(workspace_root(args))
    manifests, broken = workspace.scan()
    if not manifests:
        print(f"no encoded datasets in {workspace.root}")
    for m in manifests:
        dropped = f"  warning: {m.dropped_activations:,} active features dropped" if m.dropped_activations else ""
        print(f"{m.name:24s} {m.n_samples:>9,} samples {m.n_tokens:>11,} tokens  model {m.model}  SAE {m.sae}  "
              f"layer {m.layer}{dropped}")
    for entry in broken:
        print(f"warning: skipped {entry.name}: {entry.reason}", file=sys.stderr)
    return 0
