"""Files shipped with FAC Studio in the repository's `assets/` folder."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
"""The repository's assets folder (the engine is installed editable from the clone)."""

EMBEDDED_SAE_DIR = ASSETS_DIR / "sae" / "smollm2-135m-instruct-l15-16k-v3"
"""The embedded TopK SAE for SmolLM2-135M-Instruct, layer 15, 16,384 tied latents trained with dead-latent
resampling on a 50,000-token window, in FAC Studio's own format (docs/EMBEDDED_SAE.md); the default of every verb
and of the demo. The earlier SAEs stay for comparison (`--sae` their folder): `smollm2-135m-instruct-l15-16k-v2/`
(resampling on a 200,000-token window, the default of session 10), `smollm2-135m-instruct-l15-16k/` (no
resampling, sessions 8-9) and `smollm2-135m-instruct-l15/` (4,608 latents)."""


def embedded_sae_available() -> bool:
    """Whether the embedded SAE's files are present (cfg.json and weights)."""
    return (EMBEDDED_SAE_DIR / "cfg.json").is_file() and (EMBEDDED_SAE_DIR / "sae.safetensors").is_file()
