"""`fac baseline`: the feature-agnostic baseline set (plain prompting), optionally encoded into the workspace."""

import argparse
from pathlib import Path
from typing import Any

from fac_engine.cli.common import (
    add_generator_options,
    add_model_options,
    add_sae_options,
    add_sampling_options,
    add_workspace_option,
    workspace_root,
)
from fac_engine.errors import FacError


def register(sub: Any) -> None:
    """Add the `baseline` verb."""
    p = sub.add_parser("baseline", help="generate the feature-agnostic baseline set by plain prompting")
    p.add_argument("--n-toxic", type=int, default=200, help="toxic queries to generate")
    p.add_argument("--n-safe", type=int, default=1000, help="safe queries to generate")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write (text, label, provenance)")
    p.add_argument("--encode-as", default=None, metavar="NAME",
                   help="also encode the file into the workspace as dataset NAME (as `fac encode` does)")
    add_sampling_options(p, max_new_tokens=64, batch_size=8)
    p.add_argument("--max-rounds", type=int, default=5, help="rounds per label at most (refills of dropped outputs)")
    add_model_options(p)
    add_sae_options(p)
    add_generator_options(p)
    add_workspace_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate, write the JSONL, print a summary; then encode it when --encode-as is given."""
    from tqdm import tqdm

    from fac_engine.cli.common import generation_config, load_generator
    from fac_engine.synthesis.baseline import BaselineConfig, generate_baseline, write_jsonl
    from fac_engine.workspace.datasets import check_name

    if args.encode_as is not None:
        check_name(args.encode_as)
    try:
        cfg = BaselineConfig(counts={"toxic": args.n_toxic, "safe": args.n_safe}, max_rounds=args.max_rounds,
                             generation=generation_config(args))
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    generator = load_generator(args, None)
    with tqdm(total=sum(cfg.counts.values()), desc="baseline", unit="query") as bar:
        result = generate_baseline(generator, cfg, progress=lambda kept, _: bar.update(kept - bar.n))
    if result.frame.empty:
        raise FacError("The generator returned no usable output; check the model or raise --max-new-tokens.")
    write_jsonl(result.frame, args.out)
    per_label = ", ".join(f"{n:,} {label}" for label, n in result.frame["label"].value_counts().items())
    print(f"wrote {len(result.frame):,} queries ({per_label}) to {args.out}; dropped {result.empty:,} empty and "
          f"{result.duplicates:,} repeated outputs")
    for label, missing in result.short.items():
        print(f"warning: {missing:,} {label} queries short after {args.max_rounds} rounds")
    if args.encode_as is not None:
        del generator  # frees the generating model before `fac encode` loads its own copy
        return encode_file(args, args.out, args.encode_as)
    return 0


def encode_file(args: argparse.Namespace, path: Path, name: str) -> int:
    """Run `fac encode PATH --name NAME --label-field label` with this command's model, SAE and workspace."""
    from fac_engine.cli import build_parser
    from fac_engine.cli.encode import run as run_encode

    argv = ["encode", str(path), "--name", name, "--label-field", "label", "--model", args.model, "--device",
            args.device, "--dtype", args.dtype, "--sae", args.sae, "--workspace", str(workspace_root(args))]
    if args.layer is not None:
        argv += ["--layer", str(args.layer)]
    return run_encode(build_parser("encode").parse_args(argv))
