"""The one exception type for errors a user can cause (bad files, wrong shapes, bad options), and the
threshold check every config shares."""

import math


class FacError(Exception):
    """An error caused by user input, with a message a person can act on.

    The CLI prints the message on one line and exits with code 2; the app shows it in an
    error box. Programming errors stay ordinary exceptions with tracebacks.
    """


def check_threshold(value: float, what: str) -> None:
    """ValueError unless `value` is a finite number >= 0: a NaN threshold compares False with every
    activation and would silently select nothing, a negative one would count the zeros never stored."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be >= 0 and finite, not {value}.")
