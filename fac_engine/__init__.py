"""FAC Studio engine: datasets -> LM residual stream -> SAE features -> coverage.

The engine never imports streamlit; the dashboard, the CLI, notebooks and the GPU box
all use it the same way.
"""

__version__ = "0.1.0"
