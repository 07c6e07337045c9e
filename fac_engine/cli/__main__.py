"""`python -m fac_engine.cli` = `fac` (background jobs use it: it needs no installed entry point)."""

import sys

from fac_engine.cli import main

sys.exit(main())
