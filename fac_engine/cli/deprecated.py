"""Old spellings of verbs whose modes became subcommands; they keep working for one release.

`fac relevance --anchor A --label L | --judge | --export-relevant FILE` is now `fac relevance
contrast | judge | export-relevant FILE`, and `fac explain NAME [--llm]` is `fac explain offline |
llm NAME`. `modernise` rewrites the old argv into the new one and returns the deprecation line the
CLI prints (after the command, so an error stays the first line of stderr). Delete this module and
its call in `main` in the release after 0.1.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

from fac_engine.errors import FacError

RELEVANCE_MODES = "--anchor A --label L, --judge --task RUBRIC, or --export-relevant FILE"
"""The old modes of `fac relevance`, as the error for none or several of them names them."""


class Modernised(NamedTuple):
    """The argv to parse, and the deprecation warning when it was rewritten."""

    argv: list[str]
    warning: str | None


def _has(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(f"{flag}=") for a in args)


def _take(args: list[str], flag: str) -> str | None:
    """Remove `flag` (and its value, `--flag V` or `--flag=V`) from args; returns the value."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            del args[i]
            return arg.split("=", 1)[1]
        if arg == flag:
            value = args[i + 1] if i + 1 < len(args) else None
            del args[i : i + 2]
            return value
    return None


def _relevance(rest: list[str]) -> tuple[list[str], str, str]:
    chosen = [_has(rest, "--anchor") or _has(rest, "--label"), "--judge" in rest, _has(rest, "--export-relevant")]
    if sum(chosen) != 1:
        raise FacError(f"Choose one of: {RELEVANCE_MODES} (now `fac relevance contrast | judge | export-relevant`).")
    if chosen[1]:
        rest.remove("--judge")
        return ["judge", *rest], "--judge", "judge"
    if chosen[2]:
        path = _take(rest, "--export-relevant")
        if path is None:
            raise FacError("--export-relevant needs a FILE (now `fac relevance export-relevant FILE`).")
        return ["export-relevant", path, *rest], "--export-relevant FILE", "export-relevant FILE"
    return ["contrast", *rest], "--anchor A --label L", "contrast --anchor A --label L"


def _explain(rest: list[str]) -> tuple[list[str], str, str]:
    if "--llm" in rest:
        rest.remove("--llm")
        return ["llm", *rest], "NAME --llm", "llm NAME"
    if any(_has(rest, flag) for flag in ("--features", "--list", "--refresh")):
        raise FacError("--features, --list and --refresh go with --llm (now `fac explain llm NAME`); offline "
                       "explanations cover every feature.")
    return ["offline", *rest], "NAME", "offline NAME"


_REWRITES: dict[str, tuple[tuple[str, ...], Callable[[list[str]], tuple[list[str], str, str]]]] = {
    "relevance": (("contrast", "judge", "export-relevant"), _relevance),
    "explain": (("offline", "llm"), _explain),
}
"""Verb -> (its modes, the rewrite of its old spelling)."""


def modernise(argv: Sequence[str]) -> Modernised:
    """argv with an old spelling rewritten into the verb's mode, and the warning to print."""
    argv = list(argv)
    verb_at = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)
    if verb_at is None or argv[verb_at] not in _REWRITES:
        return Modernised(argv, None)
    verb, rest = argv[verb_at], argv[verb_at + 1 :]
    modes, rewrite = _REWRITES[verb]
    if not rest or rest[0] in modes or rest[0] in ("-h", "--help"):
        return Modernised(argv, None)
    new_rest, old, new = rewrite(rest)
    warning = f"warning: `fac {verb} {old}` is deprecated and goes in the next release; use `fac {verb} {new}`."
    return Modernised([*argv[: verb_at + 1], *new_rest], warning)
