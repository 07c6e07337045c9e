"""The shape every CLI user error has: exit code 2 and one `error: ...` line on stderr, nothing else."""

import pytest


def assert_user_error(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> str:
    """Exit code 2 and exactly one stderr line, `error: ...` holding each fragment; returns it."""
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {err!r}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err and out == ""
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]
