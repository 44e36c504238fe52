from __future__ import annotations

import pytest

from lsvid.synth import SynthConfig
from lsvid.synth.config import parse_size


def test_defaults_are_the_issue_cli_defaults():
    c = SynthConfig()
    assert (c.cameras, c.slots, c.identities, c.seconds, c.fps, c.size, c.twins, c.seed) == (4, 1, 60, 60.0, 25, (640, 360), 0.3, 0)
    assert c.num_frames == 1500


def test_round_trips_through_a_dict():
    c = SynthConfig(cameras=2, size=(320, 240), transit_s=(1.0, 3.0), seed=9)
    assert SynthConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kw, word", [
    ({"size": (321, 240)}, "even"),
    ({"twins": 1.5}, "twins"),
    ({"cameras": 0}, "cameras"),
    ({"seed": -1}, "seed"),
    ({"transit_s": (5.0, 1.0)}, "transit_s"),
])
def test_rejects_bad_settings_naming_them(kw, word):
    with pytest.raises(ValueError, match=word):
        SynthConfig(**kw)


def test_parse_size():
    assert parse_size("640x360") == (640, 360)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("640")
