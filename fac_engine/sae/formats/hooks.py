"""Hook-point names of every format, mapped onto FAC Studio's layer convention.

SaeConfig.hook_layer indexes transformers' `hidden_states`: 0 is the embeddings, L is the
output of block L counted from 1, i.e. of the 0-based block L-1. So TransformerLens'
`blocks.L.hook_resid_post` (output of 0-based block L) is L+1 and `blocks.L.hook_resid_pre`
(its input) is L; a transformers module name `model.layers.L` (sparsify's `layers.L`, Gemma
Scope 2's `model.layers.L.output`) is the output of 0-based block L, so L+1 as well.
"""

import re
from pathlib import Path

from fac_engine.errors import FacError

_RESID_POST = re.compile(r"^blocks\.(\d+)\.hook_resid_post$")
_RESID_PRE = re.compile(r"^blocks\.(\d+)\.hook_resid_pre$")
_BLOCK_OUTPUT = re.compile(r"^(?:[A-Za-z_][\w]*\.)*(?:layers|h)\.(\d+)(?:\.output)?$")
# Anything that names a sub-module or a hook inside a block reads some other stream than the
# residual one FAC Studio captures (attention / MLP outputs, hook_z, transcoder inputs, ...).
_INSIDE_BLOCK = re.compile(r"^(?:blocks\.\d+\.|(?:[A-Za-z_][\w]*\.)*(?:layers|h)\.\d+\.)")

HOOK_LAYER_HINT = "pass hook_layer (the index into hidden_states: 0 = embeddings, L = output of block L)"


def hidden_state_index(hook_name: str) -> int | None:
    """The hidden_states index a hook-point name reads, or None if the name is not recognised.

    Raises FacError when the name is recognised but is not the residual stream between blocks
    (e.g. `blocks.3.hook_mlp_out`, `layers.5.mlp`): such an SAE cannot read FAC Studio's codes.
    """
    name = hook_name.strip()
    if match := _RESID_POST.match(name):
        return int(match.group(1)) + 1
    if match := _RESID_PRE.match(name):
        return int(match.group(1))
    if match := _BLOCK_OUTPUT.match(name):
        return int(match.group(1)) + 1
    if _INSIDE_BLOCK.match(name):
        raise FacError(
            f"The SAE reads {hook_name!r}, which is not the residual stream between blocks; "
            "FAC Studio captures only the residual stream (e.g. blocks.L.hook_resid_post)."
        )
    return None


def choose_hook_layer(hook_name: str | None, override: int | None, source: Path) -> int:
    """The layer an SAE reads: `override` if given, else the one its hook name implies.

    A non-residual hook name is refused even with an override, because the SAE was trained on
    another stream; an unknown or absent name needs the override.
    """
    implied = hidden_state_index(hook_name) if hook_name else None
    if override is not None:
        if override < 0:
            raise FacError(f"hook_layer must be >= 0 (0 is the embeddings), got {override}.")
        return override
    if implied is None:
        said = (
            f"reads {hook_name!r}, a hook point FAC Studio does not recognise"
            if hook_name
            else ("does not say which layer it reads")
        )
        raise FacError(f"The SAE at {source} {said}; {HOOK_LAYER_HINT}.")
    return implied
