"""One loader per SAE file format, each producing the internal SparseAutoencoder.

Use `fac_engine.sae.load.load_sae` to detect the format and load; the modules here are the
per-format readers (docs/SAE_FORMATS.md) plus shared helpers: `common` (JSON / safetensors readers
that raise FacError naming the file) and `hooks` (hook names -> hidden_states index).
"""
