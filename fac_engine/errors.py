"""The one exception type for errors a user can cause (bad files, wrong shapes, bad options)."""


class FacError(Exception):
    """An error caused by user input, with a message a person can act on.

    The CLI prints the message on one line and exits with code 2; the app shows it in an
    error box. Programming errors stay ordinary exceptions with tracebacks.
    """
