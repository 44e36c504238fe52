"""The camera network's schedule: who walks through which cameras, in which order, and when.

Cameras sit at points of a site map.  Each person is seen in one time slot;
most walk through a random sequence of 2..``max_cameras`` cameras, taking a
transit time between two cameras that grows with their distance on the map
and shrinks with the person's walking speed; distractors are seen by one
camera only.  A person coming from a camera enters from the side of the view
that faces it, and leaves towards the next, so direction is informative as
in real networks.  Twins share their time slot and at least one camera, so
each twin has its look-alike in the gallery.  Some people walk beside a
companion for their whole trip, some stop for a while.

A trip is timed so that its first two visits fall inside the video; later
visits may run past its end and are then cut, as real recordings cut people
off.  A visit that leaves the person in view for less than ``min_visit_s`` is
dropped from the plan, so the plan, the truth files and the pictures agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .camera import CameraSpec, sample_camera
from .config import SynthConfig
from .identity import Identity, sample_identities
from .motion import Track, Visit, build_track
from .seeding import rng_for

WALK_OUT_M = 0.9  # how far beyond the frame edge a walk starts and ends
CLEARANCE_M = 0.45  # how close a path may pass an occluder's footprint
MAP_DIAGONAL = 100 * np.sqrt(2)
Path = tuple[tuple[float, float], ...]  # a walk on the ground: (x, z) points in metres


@dataclass(frozen=True)
class VisitFrames:
    """Frames (0-based, inclusive) in which a planned visit's person is in view."""

    first: int
    last: int
    count: int


@dataclass
class Plan:
    """Everything about a footage set except its pixels."""

    config: SynthConfig
    identities: list[Identity]
    cameras: list[CameraSpec]
    visits: list[Visit]
    frames: list[VisitFrames]
    slot_of: dict[int, int]
    companion_of: dict[int, int]
    planned_cameras: dict[int, tuple[int, ...]]
    _people: dict[int, Identity] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._people = {p.person_id: p for p in self.identities}

    def person(self, person_id: int) -> Identity:
        return self._people[person_id]

    def camera(self, camera_id: int) -> CameraSpec:
        for c in self.cameras:
            if c.camera_id == camera_id:
                return c
        raise KeyError(f"no camera {camera_id}; cameras are {[c.camera_id for c in self.cameras]}")

    def visits_in(self, camera_id: int, slot: int) -> list[Visit]:
        return [v for v in self.visits if v.camera_id == camera_id and v.slot == slot]

    def cameras_of(self, person_id: int) -> list[int]:
        """Cameras the person is seen in, in the order of their trip."""
        out: list[int] = []
        for v in sorted((v for v in self.visits if v.person_id == person_id), key=lambda v: v.order):
            if v.camera_id not in out:
                out.append(v.camera_id)
        return out


def side_towards(cam: CameraSpec, other: CameraSpec) -> str:
    """The side of ``cam``'s view (``left``/``right``) that faces ``other`` on the site map."""
    dx, dy = other.map_xy[0] - cam.map_xy[0], other.map_xy[1] - cam.map_xy[1]
    return "left" if np.sin(np.arctan2(dy, dx) - np.deg2rad(cam.yaw_deg)) > 0 else "right"


def transit_s(a: CameraSpec, b: CameraSpec, speed: float, config: SynthConfig, rng: np.random.Generator) -> float:
    """Seconds to walk from camera ``a``'s view to camera ``b``'s."""
    lo, hi = config.transit_s
    d = np.hypot(a.map_xy[0] - b.map_xy[0], a.map_xy[1] - b.map_xy[1]) / MAP_DIAGONAL
    t = (lo + (hi - lo) * d) * (1.4 / speed) * rng.uniform(0.85, 1.15)
    return float(np.clip(t, lo * 0.5, hi * 1.5))


def path_is_clear(spec: CameraSpec, path: list[tuple[float, float]]) -> bool:
    """True when the walk keeps clear of every occluder's footprint."""
    if not spec.occluders:
        return True
    p = np.asarray(path)
    samples = [p[i] + (p[i + 1] - p[i]) * t[:, None]
               for i in range(len(p) - 1)
               for t in [np.linspace(0, 1, max(2, int(np.linalg.norm(p[i + 1] - p[i]) / 0.2)))]]
    xz = np.concatenate(samples)
    for o in spec.occluders:
        x0, x1, z0, z1 = o.footprint(CLEARANCE_M)
        if np.any((xz[:, 0] > x0) & (xz[:, 0] < x1) & (xz[:, 1] > z0) & (xz[:, 1] < z1)):
            return False
    return True


def sample_path(spec: CameraSpec, enter: str, leave: str, rng: np.random.Generator) -> Path:
    """A walk from one side of the view to another: straight or bending once, clear of obstacles."""
    v_far = float(spec.project(0, spec.z_far)[1])
    v_near = float(spec.project(0, spec.z_near)[1])

    def depth() -> float:
        # Uniform in image rows, so near and far parts of the view are used alike.
        return float(spec.depth_at_row(rng.uniform(v_far, v_near)))

    def edge(side: str, z: float) -> tuple[float, float]:
        x = float(spec.half_width_m(z)) + WALK_OUT_M
        return (-x if side == "left" else x, z)

    path: list[tuple[float, float]] = []
    for _ in range(40):
        path = [edge(enter, depth())]
        if enter == leave or rng.random() < 0.5:
            zw = depth()
            path.append((float(rng.uniform(-0.6, 0.6) * spec.half_width_m(zw)), zw))
        path.append(edge(leave, depth()))
        if path_is_clear(spec, path):
            break
    return tuple((round(x, 4), round(z, 4)) for x, z in path)


def companion_path(spec: CameraSpec, path: Path, rng: np.random.Generator) -> Path:
    """A path beside ``path``, about a shoulder's width away and half a step behind."""
    p = np.asarray(path)
    d = p[-1] - p[0]
    d = d / max(np.linalg.norm(d), 1e-9)
    normal = np.array([-d[1], d[0]])
    out = p
    for side in (1.0, -1.0) if rng.random() < 0.5 else (-1.0, 1.0):
        out = p + normal * side * 0.6 - d * 0.3
        if path_is_clear(spec, [tuple(q) for q in out]):
            break
    return tuple((round(float(x), 4), round(float(z), 4)) for x, z in out)


def _pick_cameras(config: SynthConfig, cam_ids: list[int], rng: np.random.Generator, distractor: bool,
                  share: tuple[int, ...]) -> list[int]:
    """Camera ids in the order a person walks through them."""
    C = len(cam_ids)
    kmax = min(C, config.max_cameras)
    if distractor or kmax < 2:
        k = 1
    else:
        k = 2 + int(rng.binomial(kmax - 2, 0.35)) if kmax > 2 else 2
    chosen = [cam_ids[int(c)] for c in rng.choice(C, size=k, replace=False)]
    if share and not set(chosen) & set(share):
        chosen[int(rng.integers(k))] = int(share[int(rng.integers(len(share)))])
        chosen = list(dict.fromkeys(chosen))
    return [chosen[i] for i in rng.permutation(len(chosen))]


def _trip(config: SynthConfig, pid: int, person: Identity, cams: dict[int, CameraSpec], order: list[int], slot: int,
          rng: np.random.Generator) -> list[Visit]:
    """The visits of one person's trip, timed within the slot."""
    visits: list[Visit] = []
    rel = 0.0
    for i, cid in enumerate(order):
        cam = cams[cid]
        enter = side_towards(cam, cams[order[i - 1]]) if i > 0 else ("left", "right")[int(rng.integers(2))]
        leave = side_towards(cam, cams[order[i + 1]]) if i + 1 < len(order) else ("left", "right")[int(rng.integers(2))]
        path = sample_path(cam, enter, leave, rng)
        step_hz = round(person.gait.step_hz * float(rng.uniform(0.97, 1.03)), 4)
        pause = rng.random() < config.pauses
        v = Visit(
            person_id=pid, camera_id=cid, slot=slot, order=i, t_start=rel, path=path, step_hz=step_hz,
            step_length_m=person.gait.step_length_m,
            pause_at=round(float(rng.uniform(0.3, 0.7)), 3) if pause else -1.0,
            pause_s=round(float(rng.uniform(1.0, 4.0)), 3) if pause else 0.0,
            phase0=round(float(rng.uniform(0, 1)), 4), enter=enter, exit=leave,
        )
        visits.append(v)
        if i + 1 < len(order):
            rel += v.duration_s + transit_s(cam, cams[order[i + 1]], v.speed_mps, config, rng)
    d0 = visits[0].duration_s
    last = visits[min(1, len(visits) - 1)]
    lo = -0.3 * d0
    hi = max(lo, config.seconds - (last.t_start + last.duration_s) + 0.3 * last.duration_s)
    t0 = float(rng.uniform(lo, hi))
    return [_shift(v, t0) for v in visits]


def _shift(v: Visit, dt: float) -> Visit:
    return replace(v, t_start=round(v.t_start + dt, 4))


def _companion_visits(leader: list[Visit], follower: Identity, cams: dict[int, CameraSpec], rng: np.random.Generator) -> list[Visit]:
    """The companion walks beside the leader, matching their speed with their own step."""
    out = []
    for v in leader:
        speed = v.speed_mps
        step_len = follower.gait.step_length_m
        hz = float(np.clip(speed / step_len, 1.3, 2.5))
        out.append(replace(v, person_id=follower.person_id, path=companion_path(cams[v.camera_id], v.path, rng),
                           step_hz=round(hz, 4), step_length_m=round(speed / hz, 4),
                           phase0=round(float(rng.uniform(0, 1)), 4), pair_with=v.person_id))
    return out


def plan_footage(config: SynthConfig, *, cameras: list[CameraSpec] | None = None) -> Plan:
    """The whole schedule of a footage set, deterministic for ``config`` (``cameras``
    replaces the sampled cameras, e.g. to place occluders by hand)."""
    people = sample_identities(config)
    by_id = {p.person_id: p for p in people}
    cam_list = cameras if cameras is not None else [sample_camera(config, c) for c in range(1, config.cameras + 1)]
    cams = {c.camera_id: c for c in cam_list}
    rng = rng_for(config.seed, "network")
    pids = [p.person_id for p in people]
    twin_ids = {p.person_id for p in people if p.twin_of >= 0}
    slot_of = {pid: int(rng.integers(1, config.slots + 1)) for pid in pids}
    for p in people:
        if p.twin_of >= 0 and p.twin_of < p.person_id:
            slot_of[p.person_id] = slot_of[p.twin_of]
    distractor = {pid: bool(rng.random() < config.distractors) and pid not in twin_ids for pid in pids}
    if len(cams) < 2:
        distractor = {pid: True for pid in pids}

    # Companions: pairs of people (never twins, to keep the twin benchmark clean) in one slot.
    companion_of: dict[int, int] = {}
    leader_of: dict[int, int] = {}
    waiting: dict[int, int] = {}
    n_pairs = int(round(config.pairs * config.identities / 2))
    for pid in (int(p) for p in rng.permutation(pids)):
        if len(leader_of) >= n_pairs:
            break
        if pid in twin_ids:
            continue
        s = slot_of[pid]
        if s in waiting:
            lead = waiting.pop(s)
            leader_of[pid] = lead
            companion_of[pid], companion_of[lead] = lead, pid
            distractor[pid] = distractor[lead]
        else:
            waiting[s] = pid

    cam_ids = sorted(cams)
    planned: dict[int, tuple[int, ...]] = {}
    trips: dict[int, list[Visit]] = {}
    for pid in pids:
        if pid in leader_of:
            continue
        trng = rng_for(config.seed, "trip", pid)
        twin = by_id[pid].twin_of
        share = planned.get(twin, ()) if twin >= 0 else ()
        order = _pick_cameras(config, cam_ids, trng, distractor[pid], share)
        planned[pid] = tuple(order)
        trips[pid] = _trip(config, pid, by_id[pid], cams, order, slot_of[pid], trng)
    for pid, lead in leader_of.items():
        planned[pid] = planned[lead]
        trips[pid] = _companion_visits(trips[lead], by_id[pid], cams, rng_for(config.seed, "companion", pid))

    visits, frames = _keep_in_view(config, by_id, cams, trips)
    order_key = sorted(range(len(visits)), key=lambda i: (visits[i].slot, visits[i].camera_id, visits[i].t_start, visits[i].person_id))
    return Plan(config, people, cam_list, [visits[i] for i in order_key], [frames[i] for i in order_key],
                slot_of, companion_of, planned)


def _keep_in_view(config: SynthConfig, people: dict[int, Identity], cams: dict[int, CameraSpec],
                  trips: dict[int, list[Visit]]) -> tuple[list[Visit], list[VisitFrames]]:
    """Drop visits that leave a person in view too briefly; retime trips that lost every visit."""
    min_frames = max(2, int(round(config.min_visit_s * config.fps)))
    n = config.num_frames

    def kept(trip: list[Visit]) -> list[tuple[Visit, Track]]:
        out = []
        for v in trip:
            tr = build_track(v, people[v.person_id], cams[v.camera_id], config.fps, n)
            if tr is not None and len(tr) >= min_frames:
                out.append((v, tr))
        return out

    visits: list[Visit] = []
    frames: list[VisitFrames] = []
    for pid in sorted(trips):
        got = kept(trips[pid])
        if not got and trips[pid]:
            # A trip cut off entirely by the slot's ends: start it with the video instead.
            got = kept([_shift(v, -trips[pid][0].t_start) for v in trips[pid]])
        for v, tr in got:
            visits.append(v)
            frames.append(VisitFrames(int(tr.frames[0]), int(tr.frames[-1]), len(tr)))
    return visits, frames


def make_plan(config: SynthConfig, cameras: list[CameraSpec], visits: list[Visit],
              people: list[Identity] | None = None) -> Plan:
    """A plan built by hand: these cameras and visits (people default to the config's),
    with the in-view frames worked out as :func:`plan_footage` does.  For controlled
    scenes, e.g. one person walking behind one occluder."""
    people = people if people is not None else sample_identities(config)
    by_id = {p.person_id: p for p in people}
    cams = {c.camera_id: c for c in cameras}
    trips: dict[int, list[Visit]] = {}
    for v in visits:
        trips.setdefault(v.person_id, []).append(v)
    kept, frames = _keep_in_view(config, by_id, cams, trips)
    slot_of = {p.person_id: 1 for p in people} | {v.person_id: v.slot for v in visits}
    companion = {v.person_id: v.pair_with for v in visits if v.pair_with >= 0}
    planned = {pid: tuple(dict.fromkeys(v.camera_id for v in trip)) for pid, trip in trips.items()}
    return Plan(config, people, list(cameras), kept, frames, slot_of, companion, planned)
