"""Library logging: the engine logs, the CLI and the app decide what to show."""

import logging


def get_logger(name: str) -> logging.Logger:
    """A logger under the `fac` namespace (e.g. `fac.encode`)."""
    return logging.getLogger(f"fac.{name.removeprefix('fac_engine.')}")
