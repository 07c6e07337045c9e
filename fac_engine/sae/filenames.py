"""File names of every SAE format FAC Studio reads or writes, in one place (docs/SAE_FORMATS.md)."""

# FAC Studio's own folder format.
FAC_CFG = "cfg.json"
FAC_WEIGHTS = "sae.safetensors"

# SAELens (sae_lens/constants.py).
SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"
SAELENS_ACTIVATION_SCALER = "activation_scaler.json"
"""Written next to SAELens training checkpoints; holds the not-yet-folded input scaling factor."""

# EleutherAI sparsify: one folder per hookpoint (`layers.N/`).
SPARSIFY_CFG = "cfg.json"
SPARSIFY_WEIGHTS = "sae.safetensors"

# OpenMOSS Llama Scope (lm-saes).
LLAMA_SCOPE_HYPERPARAMS = "hyperparams.json"
LLAMA_SCOPE_WEIGHTS = "checkpoints/final.safetensors"

# Google DeepMind Gemma Scope (v1: npz, Gemma Scope 2: safetensors plus an optional config.json).
GEMMA_SCOPE_NPZ = "params.npz"
GEMMA_SCOPE_SAFETENSORS = "params.safetensors"
GEMMA_SCOPE_CFG = "config.json"

# FAC-Synthesis paper checkpoints (torch.save of a dict of tensors).
FAC_SYNTHESIS_SUFFIXES = (".pth", ".pt")
