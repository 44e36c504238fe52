"""One config mechanism: typed dataclasses read from JSON, refusing what they do not know.

:func:`from_dict` builds a dataclass from a JSON-like dict, checking every
value against its field's annotation (``int``, ``float | None``,
``tuple[int, int]``, ``dict[str, Any]``, nested dataclasses, ...), refusing
unknown keys with a suggestion, and naming the field in every message
(``config.agg.epochs: expected int, got "10"``).  Range checks live in each
dataclass's ``__post_init__`` through :func:`check`, which raises
:class:`~lsvid_core.errors.ConfigError` naming the field;
:func:`from_dict` prefixes it with where the dataclass sits.
:func:`read_json` reads a config file, naming it (and the line) when it is
not valid JSON.  :func:`override` applies command-line options on top of a
config, only those the user actually gave.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError, MissingInputError

T = TypeVar("T")


def check(ok: bool, field: str, message: str) -> None:
    """Raise :class:`ConfigError` ``"field: message"`` unless ``ok`` (for ``__post_init__`` range checks)."""
    if not ok:
        raise ConfigError(f"{field}: {message}")


def at_least(obj: Any, names: tuple[str, ...], low: float) -> None:
    """Each named field of ``obj`` (skipping ``None``) must be ``>= low``."""
    for name in names:
        v = getattr(obj, name)
        check(v is None or v >= low, name, f"must be at least {low}, got {v!r}")


def positive(obj: Any, names: tuple[str, ...]) -> None:
    """Each named field of ``obj`` (skipping ``None``) must be ``> 0``."""
    for name in names:
        v = getattr(obj, name)
        check(v is None or v > 0, name, f"must be positive, got {v!r}")


def fraction(obj: Any, names: tuple[str, ...], *, open_low: bool = False) -> None:
    """Each named field of ``obj`` must lie in [0, 1] (or (0, 1] with ``open_low``)."""
    for name in names:
        v = getattr(obj, name)
        ok = (0.0 < v <= 1.0) if open_low else (0.0 <= v <= 1.0)
        check(ok, name, f"must be in {'(0' if open_low else '[0'}, 1], got {v!r}")


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _fail(value: Any, tp: Any, where: str) -> ConfigError:
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return ConfigError(f"{where}: expected {_type_name(tp)}, got {shown}")


def _check_scalar(value: Any, tp: type, where: str) -> Any:
    # JSON true/false are Python bools, which are also ints: only a bool field takes them
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is type(None):
        if value is None:
            return None
    elif isinstance(value, tp):
        return value
    raise _fail(value, tp, where)


def _check_container(value: Any, tp: Any, origin: Any, where: str) -> Any:
    args = get_args(tp)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(value, tp, where)
        kt, vt = args or (Any, Any)
        return {coerce(k, kt, f"{where} key"): coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise _fail(value, tp, where)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values ({_type_name(tp)}), got {json.dumps(list(value))}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    item = args[0] if args else Any
    items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against the annotation ``tp`` (ints widen to float; lists become tuples)."""
    if tp is Any or tp is object:
        return value
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        for arg in get_args(tp):
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise _fail(value, tp, where)
    if origin is typing.Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}: {json.dumps(value)} is not one of {', '.join(map(json.dumps, get_args(tp)))}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _fail(value, tp, where)
        return from_dict(tp, value, where)
    if origin in (dict, list, tuple):
        return _check_container(value, tp, origin, where)
    return _check_scalar(value, tp, where)


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build the dataclass ``cls`` from ``data``; every problem is a :class:`ConfigError` naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of {cls.__name__} fields, got {json.dumps(data) if _jsonable(data) else type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}{_suggest(unknown, known)}; known: {sorted(known)}")
    required = [n for n, f in known.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in data]
    if missing:
        raise ConfigError(f"{where}: required field(s) {missing} missing")
    hints = get_type_hints(cls)
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}.{e}") from None


def _jsonable(x: Any) -> bool:
    try:
        json.dumps(x)
        return True
    except (TypeError, ValueError):
        return False


def _suggest(unknown: list[str], known: dict[str, Any]) -> str:
    tips = []
    for k in unknown:
        close = difflib.get_close_matches(str(k), list(known), n=1)
        if close:
            tips.append(f"{k!r} -> {close[0]!r}")
    return f" (did you mean {', '.join(tips)}?)" if tips else ""


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready data (tuples become lists); :func:`from_dict` reads it back."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def read_json(path: str | Path, what: str = "config file") -> Any:
    """The JSON content of ``path``; a missing, unreadable or invalid file is an error naming it."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"{p}: {what} does not exist")
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; expected a JSON {what}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a text file ({e}); expected a JSON {what}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); expected a JSON {what}") from None


def from_file(cls: type[T], path: str | Path, what: str = "config file") -> T:
    """:func:`from_dict` of a JSON file; messages start with the file's path."""
    data = read_json(path, what)
    try:
        return from_dict(cls, data, "config")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def override(cfg: T, given: dict[str, Any], where: str = "option") -> T:
    """``cfg`` with the dotted fields in ``given`` replaced (``{"filters.min_length": 8}``),
    each value checked as a config file's would be; ``None`` values are skipped."""
    data = to_dict(cfg)
    for dotted, value in given.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return from_dict(type(cfg), data, where)


__all__ = ["at_least", "check", "coerce", "fraction", "from_dict", "from_file", "override", "positive", "read_json", "to_dict"]
