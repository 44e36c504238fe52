"""The one config mechanism: every field checked against its annotation, unknown keys refused."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from lsvid_core.config import at_least, check, from_dict, from_file, override, read_json, to_dict
from lsvid_core.errors import ConfigError, LsvidError, MissingInputError


@dataclass
class Inner:
    steps: int = 3
    rate: float = 0.5

    def __post_init__(self) -> None:
        at_least(self, ("steps",), 1)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    size: tuple[int, int] = (4, 2)
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    flag: bool = False

    def __post_init__(self) -> None:
        check(self.size[0] >= self.size[1], "size", f"width must be at least the height, got {list(self.size)}")


def test_a_round_trip_through_json_gives_the_same_config():
    c = Outer(name="y", size=(8, 3), limit=5, options={"a": [1, 2]}, inner=Inner(4, 0.25), flag=True)
    assert from_dict(Outer, json.loads(json.dumps(to_dict(c)))) == c


@pytest.mark.parametrize(("data", "message"), [
    ({"limit": "5"}, 'config.limit: expected int | None, got "5"'),
    ({"limit": 5.0}, "config.limit: expected int | None, got 5.0"),
    ({"flag": 1}, "config.flag: expected bool, got 1"),
    ({"inner": {"steps": True}}, "config.inner.steps: expected int, got true"),
    ({"inner": {"rate": "fast"}}, 'config.inner.rate: expected float, got "fast"'),
    ({"size": [1, 2, 3]}, "config.size: expected 2 values"),
    ({"size": "4x2"}, "config.size: expected tuple[int, int]"),
    ({"options": [1]}, "config.options: expected dict[str, Any]"),
    ({"inner": 3}, "config.inner: expected Inner"),
    ({"nmae": "z"}, "config: unknown field(s) ['nmae'] (did you mean 'nmae' -> 'name'?)"),
    ({"inner": {"stpes": 2}}, "config.inner: unknown field(s) ['stpes']"),
    ({"inner": {"steps": 0}}, "config.inner.steps: must be at least 1, got 0"),
    ({"size": [1, 2]}, "config.size: width must be at least the height, got [1, 2]"),
])
def test_every_problem_names_its_field(data, message):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data)
    assert message in str(e.value)
    assert isinstance(e.value, LsvidError) and isinstance(e.value, ValueError)


def test_ints_widen_to_float_and_lists_become_tuples():
    c = from_dict(Outer, {"inner": {"rate": 1}, "size": [6, 5]})
    assert c.inner.rate == 1.0 and isinstance(c.inner.rate, float) and c.size == (6, 5)


def test_a_file_names_itself_and_the_line(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{\n  "name": "a",\n  "limit": 3,\n}\n')
    with pytest.raises(ConfigError, match=r"c\.json: not valid JSON \(line 4"):
        from_file(Outer, f)
    f.write_text('{"limit": "x"}')
    with pytest.raises(ConfigError, match=r"c\.json: config\.limit: expected"):
        from_file(Outer, f)
    with pytest.raises(MissingInputError, match="gone.json"):
        read_json(tmp_path / "gone.json")


def test_override_applies_dotted_fields_and_checks_them():
    c = override(Outer(), {"inner.steps": 7, "name": "n", "limit": None})
    assert (c.inner.steps, c.name, c.limit) == (7, "n", None)
    with pytest.raises(ConfigError, match="options.inner.steps: must be at least 1"):
        override(Outer(), {"inner.steps": 0}, "options")
