"""`fac encode DATA --name NAME`: a dataset through the LM and the SAE into the workspace; `fac datasets`."""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fac_engine.cli.common import add_model_options, add_sae_options, add_workspace_option, workspace_root

if TYPE_CHECKING:
    from fac_engine.workspace.datasets import Manifest


def register(sub: Any) -> None:
    """Add the `encode` and `datasets` verbs."""
    p = sub.add_parser("encode", help="encode a dataset through the model and the SAE into the workspace")
    p.add_argument("data", type=Path, help="a .jsonl / .csv / .parquet file or a saved Hugging Face dataset folder")
    p.add_argument("--name", required=True, help="name of the encoded dataset in the workspace")
    p.add_argument("--text-field", default=None, help="column holding the text (default: detected)")
    p.add_argument("--schema", default="auto", choices=["auto", "text", "chat", "instruction", "preference"],
                   help="how rows become samples (default: detected from the columns)")
    p.add_argument("--messages-field", default=None, help="column of chat messages (default: detected)")
    p.add_argument("--label-field", default=None, help="label column kept with each sample")
    p.add_argument("--preference-side", default="chosen", choices=["chosen", "rejected"],
                   help="which answer of prompt/chosen/rejected rows is encoded")
    p.add_argument("--limit", type=int, default=None, help="encode only the first N rows")
    p.add_argument("--plain", action="store_true", help="do not wrap samples in the chat template (t0 = 0)")
    p.add_argument("--max-length", type=int, default=512, help="context limit in tokens (longer samples are cut)")
    p.add_argument("--shard-samples", type=int, default=1024, help="samples per shard (the unit of resumption)")
    p.add_argument("--token-budget", type=int, default=None, help="padded tokens per forward pass")
    p.add_argument("--top-n", type=int, default=50, help="top samples kept per feature")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of this name made from other inputs")
    p.add_argument("--progress-file", type=Path, default=None, help=argparse.SUPPRESS)  # the dashboard's jobs
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="encode on Ray: alone it starts a local Ray; 'auto' or ray://HOST:PORT joins a running cluster")
    p.add_argument("--ray-actors", type=int, default=1,
                   help="with --ray: model + SAE actors (one GPU each where the cluster has GPUs)")
    add_model_options(p)
    add_sae_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)
    q = sub.add_parser("datasets", help="list the encoded datasets of the workspace")
    add_workspace_option(q)
    q.set_defaults(run=run_datasets)


def run(args: argparse.Namespace) -> int:
    """Read, encode (resuming finished shards) and print a summary."""
    from tqdm import tqdm

    from fac_engine.cli.common import load_model_and_sae, load_spec_and_sae, model_spec
    from fac_engine.data.dataset import DatasetConfig, read_dataset
    from fac_engine.encoding.encode import EncodeConfig, encode_dataset, new_manifest
    from fac_engine.encoding.ray_encode import RayConfig, WorkerStats, encode_dataset_ray
    from fac_engine.errors import FacError
    from fac_engine.workspace.datasets import Workspace, check_name
    from fac_engine.workspace.jobs import ProgressFile

    check_name(args.name)
    try:
        data_cfg = DatasetConfig(text_field=args.text_field, schema=args.schema, label_field=args.label_field,
                                 messages_field=args.messages_field,
                                 preference_side=args.preference_side, limit=args.limit)
        cfg = EncodeConfig(name=args.name, chat=not args.plain, max_length=args.max_length,
                           shard_samples=args.shard_samples, token_budget=args.token_budget, top_n=args.top_n,
                           overwrite=args.overwrite)
        if args.ray is None and args.ray_actors != 1:
            raise ValueError("--ray-actors needs --ray.")
        ray_cfg = None if args.ray is None else RayConfig(address=args.ray or None, actors=args.ray_actors)
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    dataset = read_dataset(args.data, data_cfg)
    # With --ray the actors hold the model; the driver's copy (tokenizer, identity) stays off the GPUs.
    lm, sae = load_model_and_sae(args) if ray_cfg is None else \
        load_spec_and_sae(replace(model_spec(args), device="cpu"), args.sae, args.layer)
    workspace = Workspace(workspace_root(args))
    base = new_manifest(args.name, lm, sae, args.sae, args.data, repr(data_cfg), len(dataset.items), cfg,
                        dataset.schema, dataset.label_field)
    started = time.perf_counter()
    progress_file = None if args.progress_file is None else ProgressFile(args.progress_file, "samples", "tokens/s")
    with tqdm(total=len(dataset.items), desc=f"encoding {args.name}", unit="sample") as bar:

        def progress(tokens: int, samples: int) -> None:
            bar.update(samples - bar.n)
            elapsed = time.perf_counter() - started
            rate = tokens / elapsed if elapsed > 0 else 0.0
            bar.set_postfix_str(f"{rate:,.0f} tok/s" if elapsed > 0 else "")
            if progress_file is not None:
                progress_file.update(samples, len(dataset.items), rate)

        workers: list[WorkerStats] = []
        if ray_cfg is None:
            summary = encode_dataset(workspace, dataset.items, dataset.frame, lm, sae, cfg, base=base,
                                     progress=progress)
        else:
            summary, workers = encode_dataset_ray(workspace, dataset.items, dataset.frame, lm, sae, cfg, base=base,
                                                  model=model_spec(args), ray_cfg=ray_cfg, progress=progress)
    m = summary.manifest
    if progress_file is not None:
        progress_file.update(m.n_samples, m.n_samples, summary.tokens_per_second, force=True)
    if summary.tokens_encoded == 0 and summary.resumed_shards == m.n_shards:
        print(f"{args.name} is already encoded in {workspace.root} ({m.n_samples:,} samples); nothing to do.")
        return 0
    resumed = f", resumed after {summary.resumed_shards} finished shards" if summary.resumed_shards else ""
    print(f"encoded {m.n_samples:,} samples ({m.n_tokens:,} tokens, {m.truncated_samples:,} truncated at "
          f"{m.max_length}) into {workspace.folder(args.name)} at {summary.tokens_per_second:,.0f} tok/s{resumed}")
    for w in workers:
        print(f"  Ray actor {w.worker}{f' ({w.gpus} GPU)' if w.gpus else ''}: {w.shards} shards, {w.tokens:,} tokens, "
              f"{w.tokens_per_second:,.0f} tok/s")
    print(dropped_note(m), file=sys.stderr if m.dropped_activations else sys.stdout)
    return 0


def dropped_note(m: "Manifest") -> str:
    """One line on whether every active SAE feature reached the store (a warning when some did not)."""
    if not m.dropped_activations:
        return "SAE codes: every active feature of every token is stored (0 dropped)."
    return (f"warning: the SAE's max_active cap ({m.extra.get('sae_max_active')} per token) dropped "
            f"{m.dropped_activations:,} active features; coverage, statistics and the explorer miss them. "
            "Remove max_active from the SAE's cfg.json (or raise it) and encode again with --overwrite.")


def run_datasets(args: argparse.Namespace) -> int:
    """One line per encoded dataset."""
    from fac_engine.workspace.datasets import Workspace

    workspace = Workspace(workspace_root(args))
    names = workspace.names()
    if not names:
        print(f"no encoded datasets in {workspace.root}")
    for name in names:
        m = workspace.manifest(name)
        assert m is not None
        dropped = f"  warning: {m.dropped_activations:,} active features dropped" if m.dropped_activations else ""
        print(f"{name:24s} {m.n_samples:>9,} samples {m.n_tokens:>11,} tokens  model {m.model}  SAE {m.sae}  "
              f"layer {m.layer}{dropped}")
    return 0
