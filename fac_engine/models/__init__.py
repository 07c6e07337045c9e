"""Load a causal LM (HF folder, GGUF, embedded default) and capture its residual stream.

`load_model(ModelSpec(...))` gives a `LoadedModel`; `LoadedModel.residuals` reads one layer
with a scoped hook that stops the forward pass there. Import from the submodules; importing
this package itself costs nothing (the CLI's table verbs must not pay for torch).
"""
