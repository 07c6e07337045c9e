"""Files shipped with FAC Studio in the repository's `assets/` folder."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
"""The repository's assets folder (the engine is installed editable from the clone)."""

EMBEDDED_SAE_DIR = ASSETS_DIR / "sae" / "smollm2-135m-instruct-l15"
"""The embedded TopK SAE for SmolLM2-135M-Instruct, layer 15, in FAC Studio's own format."""


def embedded_sae_available() -> bool:
    """Whether the embedded SAE's files are present (cfg.json and weights)."""
    return (EMBEDDED_SAE_DIR / "cfg.json").is_file() and (EMBEDDED_SAE_DIR / "sae.safetensors").is_file()
