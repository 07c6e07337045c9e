"""Flags generated from the config dataclasses, and the value types every hand-written flag uses.

`ConfigFlags(EncodeConfig, ...).add(parser)` turns each field of a frozen config into a flag: the
name from the field (`max_length` -> `--max-length`), the type, choices (a Literal) and default
from its annotation and value, the help from the docstring under the field. `.build(args)` makes
the config back from the parsed flags, so the config's own checks (`__post_init__`) judge every
value and a bad one is one `error:` line. Defaults are never retyped in the CLI.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from fac_engine.errors import FacError

C = TypeVar("C")


def finite_float(text: str) -> float:
    """A float flag's value; NaN and infinities are refused here, ranges by the config."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def non_negative_float(text: str) -> float:
    """A threshold: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _whole_at_least(text: str, low: int) -> int:
    value = _whole(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more, not {value}" if low == 0 else
                                         f"must be at least {low}, not {value}")
    return value


def count(text: str) -> int:
    """A count that may be zero."""
    return _whole_at_least(text, 0)


def positive(text: str) -> int:
    """A count of at least one."""
    return _whole_at_least(text, 1)


def floats(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers (`0.25,0.5,1`); ranges, NaN included, are the config's to judge."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from exc


def ints(text: str) -> tuple[int, ...]:
    """A comma-separated list of whole numbers (`25,50`)."""
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from exc


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, whitespace collapsed."""
    tree = ast.parse(inspect.getsource(cls).strip())
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for stmt, after in itertools.pairwise(body):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(after, ast.Expr) \
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(the type without `| None`, whether None is allowed)."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return annotation, False


def _value_options(annotation: Any) -> dict[str, Any]:
    """argparse `type` / `choices` for one field type."""
    base, _ = _base_type(annotation)
    if get_origin(base) is Literal:
        choices = list(get_args(base))
        return {"choices": choices, "type": type(choices[0])}
    parse = {int: _whole, float: finite_float, str: str, Path: Path}.get(base)
    if parse is None:
        raise TypeError(f"No flag type for {annotation!r}; leave the field out of the flags.")
    return {"type": parse}


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@dataclass(frozen=True)
class ConfigFlags(Generic[C]):
    """The flags of one config dataclass (every field with a plain type, or only `only`)."""

    cls: type[C]
    only: Sequence[str] | None = None
    """Fields that get a flag (default: every field whose type has a flag type)."""
    skip: Sequence[str] = ()
    """Fields that get no flag (filled by the verb, or meaningless on the command line)."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Field -> flag name without `--`, where it is not the field name (`timeout_s` -> `timeout`). A bool
    field that defaults to True gets a flag that switches it off: the name given here (`chat` -> `plain`),
    else `--no-<field>`."""
    helps: Mapping[str, str] = field(default_factory=dict)
    """Field -> help, where the docstring does not read well on the command line."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Field -> the flag's default where it differs from the field's (e.g. None: "from the project")."""
    title: str | None = None
    """Argument group the flags are listed under in --help."""

    def _fields(self) -> list[Any]:
        hints = get_type_hints(self.cls)
        chosen = [f for f in fields(self.cls)  # type: ignore[arg-type]
                  if (self.only is None or f.name in self.only) and f.name not in self.skip]
        if self.only is None:
            chosen = [f for f in chosen if _flaggable(hints[f.name])]
        return chosen

    def _dest(self, f: Any) -> str:
        # A flag that switches a True field off keeps the field's name, so `args.chat` means chat.
        if _default(f) is True:
            return str(f.name)
        return self.names.get(f.name, f.name).replace("-", "_")

    def add(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Add one flag per chosen field (to `parser`, which may be a group of hand-written flags to join)."""
        target: Any = parser.add_argument_group(self.title) if self.title else parser
        hints, docs = get_type_hints(self.cls), field_docs(self.cls)  # type: ignore[arg-type]  # classes hash
        for f in self._fields():
            default = self.defaults.get(f.name, _default(f))
            unnamed_switch_off = hints[f.name] is bool and default is True and f.name not in self.names
            flag = "--" + ("no-" if unnamed_switch_off else "") + self.names.get(f.name, f.name.replace("_", "-"))
            text = self.helps.get(f.name, docs.get(f.name, "")).replace("%", "%%")
            if hints[f.name] is bool:
                action = "store_false" if default is True else "store_true"
                target.add_argument(flag, dest=self._dest(f), action=action, default=default, help=text)
                continue
            shown = "" if default in (MISSING, None, "") else f" (default: {default})"
            options = _value_options(hints[f.name])
            if default is MISSING:
                target.add_argument(flag, dest=self._dest(f), required=True, help=text, **options)
            else:
                target.add_argument(flag, dest=self._dest(f), default=default, help=text + shown, **options)

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """The parsed value of each flag, by field name."""
        return {f.name: getattr(args, self._dest(f)) for f in self._fields()}

    def build(self, args: argparse.Namespace, **fixed: Any) -> C:
        """The config from the parsed flags (and `fixed` values); its checks fail as FacError."""
        try:
            return self.cls(**{**self.values(args), **fixed})
        except ValueError as exc:
            raise FacError(str(exc)) from exc


def _flaggable(annotation: Any) -> bool:
    try:
        return annotation is bool or bool(_value_options(annotation))
    except TypeError:
        return False
