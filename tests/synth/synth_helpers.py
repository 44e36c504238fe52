"""Helpers of the synth tests: small configs and hand-built scenes."""
from __future__ import annotations

from dataclasses import replace

from lsvid.synth import CameraSpec, Occluder, SynthConfig, Visit, sample_camera

SMALL = SynthConfig(cameras=3, identities=12, seconds=12, fps=10, size=(320, 180), twins=0.34, pairs=0.2, seed=3)
# No noise, blur, compression or shadows: pictures exact enough to compare pixel by pixel.
CLEAN = replace(SMALL, noise=0.0, blur=0.0, compression=0.0, shadows=False)


def bare_camera(config: SynthConfig, occluders: tuple[Occluder, ...] = ()) -> CameraSpec:
    """Camera 1 of ``config`` with only the given occluders."""
    return replace(sample_camera(config, 1), occluders=occluders)


def crossing(spec: CameraSpec, person_id: int, z: float, *, leftwards: bool = False, t_start: float = 0.0,
             step_hz: float = 1.8, step_length_m: float = 0.7) -> Visit:
    """A straight walk across the whole view at depth ``z``."""
    x = float(spec.half_width_m(z)) + 0.9
    path = ((x, z), (-x, z)) if leftwards else ((-x, z), (x, z))
    return Visit(person_id=person_id, camera_id=spec.camera_id, slot=1, order=0, t_start=t_start, path=path,
                 step_hz=step_hz, step_length_m=step_length_m)
