"""The command tree: every verb and mode builds, `fac --help` and the table verbs never import torch, and the
old spellings of the modes still work with one deprecation line.

Workspace: tests/app/conftest.py (word-detector anchor with toxic/safe labels, narrower seed) plus one
accepted candidate (tests/unit/report_fixtures.py).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fac_engine.cli import COMMANDS, build_parser, command_path, main
from fac_engine.cli.deprecated import modernise
from fac_engine.errors import FacError
from tests.app.conftest import build_app_workspace
from tests.unit.report_fixtures import accept

ROOT = Path(__file__).resolve().parents[3]

ALL_PATHS = [[verb, *([mode] if mode else [])] for verb, c in COMMANDS.items()
             for mode in ([None] if c.builder else []) + list(c.modes or [])]
"""Every command a user can type: `info`, ..., `relevance contrast`, ..., `match`, `match transfer`, ..."""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = build_app_workspace(tmp_path_factory.mktemp("commands"))
    accept(ws, [("the dog !", 2, 2.0)])
    return ws


@pytest.mark.parametrize("path", ALL_PATHS, ids=" ".join)
def test_every_command_builds_with_help(path: list[str]) -> None:
    parser = build_parser(path)
    assert command_path([*path, "--workspace", "w"]) == path
    with pytest.raises(SystemExit) as done:
        parser.parse_args([*path, "--help"])
    assert done.value.code == 0


def test_top_level_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = [m[1] for m in re.finditer(r"^    (\S+)", capsys.readouterr().out, re.MULTILINE)]
    assert listed == list(COMMANDS)


def test_a_verb_with_modes_needs_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain"]) == 2
    assert capsys.readouterr().err == ("error: the following arguments are required: MODE "
                                       "(see `fac explain --help`)\n")


def test_a_verb_that_also_runs_alone_takes_its_mode_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert command_path(["match", "--from", "a", "--to", "b"]) == ["match"]
    assert main(["match", "--from", "a", "--to", "b", "transfer"]) == 2
    assert capsys.readouterr().err == ("error: Name the mode right after the verb, its flags after it: `fac match "
                                       "transfer ...` (see `fac match transfer --help`).\n")


_SCRIPT = """
import json, sys
from fac_engine.cli import build_parser, main
build_parser()
seen = {"build_parser()": ["torch" in sys.modules, 0]}
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    seen[" ".join(argv[:2])] = ["torch" in sys.modules, code]
print(json.dumps(seen))
"""


def test_help_and_table_verbs_never_import_torch(ws: Path, tmp_path: Path) -> None:
    w = ["--workspace", str(ws)]
    runs = [["coverage", "--anchor", "anchor", "--seed", "seed", *w], ["datasets", *w], ["features", "anchor", *w],
            ["diversity", "anchor", "--no-embeddings", *w],
            ["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--min-samples", "1", *w],
            ["explain", "offline", "anchor", *w], ["review", *w], ["export", str(tmp_path / "a.jsonl"), *w],
            ["report", "--out", str(tmp_path / "r.html"), *w]]
    done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(runs)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {key: [False, 0] for key in ["build_parser()", *(" ".join(r[:2]) for r in runs)]}, done.stderr


@pytest.mark.parametrize(("old", "new", "warning"), [
    (["relevance", "--anchor", "a", "--label", "toxic"], ["relevance", "contrast", "--anchor", "a", "--label", "toxic"],
     "`fac relevance --anchor A --label L` is deprecated and goes in the next release; use "
     "`fac relevance contrast --anchor A --label L`."),
    (["-v", "relevance", "--judge", "--task", "t"], ["-v", "relevance", "judge", "--task", "t"],
     "`fac relevance --judge` is deprecated and goes in the next release; use `fac relevance judge`."),
    (["relevance", "--export-relevant=r.txt", "--sources", "user"],
     ["relevance", "export-relevant", "r.txt", "--sources", "user"], "use `fac relevance export-relevant FILE`."),
    (["explain", "anchor", "--llm", "--features", "1"], ["explain", "llm", "anchor", "--features", "1"],
     "`fac explain NAME --llm` is deprecated and goes in the next release; use `fac explain llm NAME`."),
    (["explain", "anchor"], ["explain", "offline", "anchor"], "use `fac explain offline NAME`."),
])
def test_old_spellings_are_rewritten(old: list[str], new: list[str], warning: str) -> None:
    argv, said = modernise(old)
    assert argv == new and said is not None and said.startswith("warning: ") and said.endswith(warning)


@pytest.mark.parametrize("argv", [["relevance", "contrast", "--anchor", "a"], ["explain", "llm", "x"],
                                  ["relevance"], ["relevance", "--help"], ["coverage", "--anchor", "a"]])
def test_new_spellings_are_left_alone(argv: list[str]) -> None:
    assert modernise(argv) == (argv, None)


@pytest.mark.parametrize(("argv", "message"), [
    (["relevance", "--project", "p"], "Choose one of: --anchor A --label L, --judge --task RUBRIC, or --export-relevant"
                                      " FILE (now `fac relevance contrast | judge | export-relevant`)."),
    (["relevance", "--judge", "--anchor", "a"], "Choose one of"),
    (["explain", "anchor", "--refresh"], "--features, --list and --refresh go with --llm"),
])
def test_old_spellings_that_meant_nothing(argv: list[str], message: str) -> None:
    with pytest.raises(FacError, match="^" + re.escape(message)):
        modernise(argv)


def test_an_old_spelling_runs_like_the_new_one(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ["--workspace", str(ws)]
    assert main(["relevance", "contrast", "--anchor", "anchor", "--label", "toxic", "--min-samples", "1", *w]) == 0
    new = capsys.readouterr()
    assert main(["relevance", "--anchor", "anchor", "--label", "toxic", "--min-samples", "1", *w]) == 0
    old = capsys.readouterr()
    assert old.out == new.out and new.err == ""
    assert old.err.splitlines() == ["warning: `fac relevance --anchor A --label L` is deprecated and goes in the "
                                    "next release; use `fac relevance contrast --anchor A --label L`."]


def test_features_table_reports_the_density_of_the_codes(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # anchor: "the cat sat" 3 features, "hello world" 2, "the dog" 2, "dog dog mat" 2, "<script>... the" 1 -> 10 / 5
    assert main(["features", "anchor", "--top", "1", "--workspace", str(ws)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "7 active features of 8 in anchor (5 samples; 2.0 active per sample on average, 25.00% of the SAE)")


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(ws: Path) -> None:
    # `fac features anchor | head -0`: the pipe's reading end is closed before fac writes, so its first write
    # (the flush of the table) fails with EPIPE, deterministically. Python ignores SIGPIPE, so this is the
    # BrokenPipeError path, which must print no traceback and exit as a SIGPIPE death would (141).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "fac_engine.cli", "features", "anchor", "--workspace", str(ws)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
