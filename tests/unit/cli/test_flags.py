"""Flags generated from a config dataclass: names, types, choices, defaults and help from the field
docstrings; the config's own checks judge the parsed values."""

import argparse
from dataclasses import dataclass
from typing import Literal

import pytest

from fac_engine.cli import Parser
from fac_engine.cli.flags import ConfigFlags, count, field_docs, finite_float, non_negative_float, positive
from fac_engine.errors import FacError


@dataclass(frozen=True)
class _Toy:
    """A config with one field of each kind."""

    name: str
    """What it is called."""
    size: int = 3
    """How many; at least 1."""
    rate: float = 0.5
    """A share, 50% by default."""
    mode: Literal["fast", "slow"] = "fast"
    """How it runs."""
    limit: int | None = None
    """Cap; None: none."""
    chat: bool = True
    """Wrap in the template."""
    force: bool = False
    """Redo it."""
    cache: bool = True
    """Reuse what is there."""
    tags: tuple[str, ...] = ()
    """Not a flag: no flag type for tuples."""

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be at least 1, not {self.size}.")


FLAGS = ConfigFlags(_Toy, names={"chat": "plain", "rate": "share"})


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="toy")
    FLAGS.add(parser)
    return parser


def test_docstrings_under_fields() -> None:
    assert field_docs(_Toy) == {"name": "What it is called.", "size": "How many; at least 1.",
                                "rate": "A share, 50% by default.", "mode": "How it runs.",
                                "limit": "Cap; None: none.", "chat": "Wrap in the template.", "force": "Redo it.",
                                "cache": "Reuse what is there.",
                                "tags": "Not a flag: no flag type for tuples."}


def test_defaults_come_from_the_config() -> None:
    args = _parser().parse_args(["--name", "x"])
    assert FLAGS.values(args) == {"name": "x", "size": 3, "rate": 0.5, "mode": "fast", "limit": None, "chat": True,
                                  "force": False, "cache": True}
    assert FLAGS.build(args) == _Toy(name="x")


def test_every_kind_of_flag() -> None:
    args = _parser().parse_args(["--name", "x", "--size", "7", "--share", "0.25", "--mode", "slow", "--limit", "9",
                                 "--plain", "--force", "--no-cache"])
    assert FLAGS.build(args, tags=("a",)) == _Toy("x", 7, 0.25, "slow", 9, False, True, False, ("a",))


def test_help_is_the_docstring_with_the_default() -> None:
    text = _parser().format_help()
    assert "A share, 50% by default. (default: 0.5)" in " ".join(text.split())
    assert "{fast,slow}" in text and "--tags" not in text


@pytest.mark.parametrize(("argv", "fragment"), [
    ([], "the following arguments are required: --name"),
    (["--name", "x", "--mode", "medium"], "argument --mode: invalid choice: 'medium'"),
    (["--name", "x", "--share", "nan"], "argument --share: 'nan' is not a finite number"),
    (["--name", "x", "--size", "2.5"], "argument --size: '2.5' is not a whole number"),
])
def test_bad_flags_are_one_line_errors(argv: list[str], fragment: str) -> None:
    with pytest.raises(FacError, match="^" + fragment.replace("(", r"\(")) as caught:
        _parser().parse_args(argv)
    assert str(caught.value).endswith("(see `toy --help`)")


def test_the_config_judges_the_values() -> None:
    args = _parser().parse_args(["--name", "x", "--size", "0"])
    with pytest.raises(FacError, match=r"^size must be at least 1, not 0\.$"):
        FLAGS.build(args)


@pytest.mark.parametrize(("parse", "text", "value"), [
    (finite_float, "-1.5", -1.5), (non_negative_float, "0", 0.0), (count, "0", 0), (positive, "1", 1)])
def test_value_types_accept(parse: object, text: str, value: float) -> None:
    assert parse(text) == value  # type: ignore[operator]


@pytest.mark.parametrize(("parse", "text", "message"), [
    (finite_float, "inf", "'inf' is not a finite number"),
    (non_negative_float, "-0.1", "must be a number >= 0, not -0.1"),
    (count, "-3", "must be 0 or more, not -3"),
    (positive, "0", "must be at least 1, not 0"),
    (positive, "x", "'x' is not a whole number"),
])
def test_value_types_refuse(parse: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)  # type: ignore[operator]
    assert str(caught.value) == message
