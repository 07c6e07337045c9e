"""`fac probe TEXT`: the features that fire on a text, strongest first."""

import argparse
import json
from typing import Any

from fac_engine.cli.common import add_model_options, add_sae_options, load_model_and_sae


def register(sub: Any) -> None:
    """Add the `probe` verb."""
    p = sub.add_parser("probe", help="which SAE features fire on a text")
    p.add_argument("text", help="the text to encode")
    p.add_argument("--top", type=int, default=10, help="how many features to show")
    p.add_argument("--plain", action="store_true", help="do not wrap the text in the chat template")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_model_options(p)
    add_sae_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the top features of the text with the token where each peaks."""
    from fac_engine.encoding.text_probe import probe_text

    lm, sae = load_model_and_sae(args)
    result = probe_text(lm, sae, args.text, chat=not args.plain)
    pooled = result.pooled
    rows = [
        {
            "feature": int(pooled.features[i]),
            "max": round(float(pooled.max_values[i]), 4),
            "token": result.tokens[int(pooled.argmax[i])],
            "position": int(pooled.argmax[i]),
            "tokens_active": int(pooled.counts[i]),
        }
        for i in range(min(args.top, pooled.features.numel()))
    ]
    if args.json:
        print(json.dumps({"content_start": result.content_start, "tokens": result.tokens, "features": rows}))
        return 0
    print(f"{len(result.tokens) - result.content_start} content tokens, {pooled.features.numel()} features active")
    print(f"{'feature':>8} {'max':>8} {'tokens':>6}  peak token")
    for row in rows:
        print(f"{row['feature']:>8} {row['max']:>8.3f} {row['tokens_active']:>6}  {row['token']!r}")
    return 0
