"""Drawing frames, and the visibility of everyone in them.

Per video, the slow parts happen once: the camera's plate, occluder layers and
noise bank (:class:`~lsvid.synth.camera.CameraView`), every person's poses,
boxes and lit colours for all their frames (:class:`~lsvid.synth.motion.Track`),
converted to fixed-point integer coordinates for OpenCV's sub-pixel drawing.
A frame is then: copy the plate, draw people and re-paste occluders from far to
near, soften each person as the camera's optics would, add a noise frame from
the bank.

Visibility is measured on a label map drawn alongside: people are painted
into it with their draw order, occluders as 255, on a canvas padded beyond
the frame so the parts of a person outside the picture are counted too.
A person's visibility is the share of their own pixels, counted right after
they are drawn, that still carry their label inside the frame at the end.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from lsvid_core.errors import ConfigError

from . import body
from .camera import CameraView, apply_light, shadow_offset
from .config import SynthConfig
from .motion import Track, build_track
from .network import Plan, plan_footage

SHIFT = 4
ONE = 1 << SHIFT
OCCLUDER_LABEL = 255
MAX_PEOPLE = 254
LINE, CIRCLE, ELLIPSE, POLY = 0, 1, 2, 3
_KIND = {"line": LINE, "circle": CIRCLE, "ellipse": ELLIPSE, "poly": POLY}

# Row layout of the truth a frame carries (MOT ground-truth columns).
TRUTH_FIELDS = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "class", "visibility")


@dataclass
class RenderedFrame:
    """One frame: ``index`` (0-based; MOT frame ``index + 1``), the BGR ``image``, its truth
    rows (tuples in :data:`TRUTH_FIELDS` order), and, if asked for, ``labels``: person id of
    the visible pixel, -1 for a static occluder, 0 for background."""

    index: int
    image: np.ndarray
    truth: list[tuple]
    labels: np.ndarray | None = None


def _compile(ops: list[body.Op]) -> tuple[list[tuple], list[tuple]]:
    """Operations as flat tuples for the per-frame loop: all of them, and the silhouette's."""
    out = []
    for op in ops:
        out.append((_KIND[op.kind], op.a, op.b, op.size, op.size2, op.colour, op.arc[0], op.arc[1],
                    np.asarray(op.pts, dtype=np.intp), op.mask))
    return out, [o for o in out if o[9]]


def _base_colours(track: Track) -> np.ndarray:
    """The person's colour slots (RGB in [0, 1]), far limbs shaded as they turn from the light."""
    a = track.identity.appearance
    rgb = {
        "skin": a.skin, "hair": a.hair, "top": a.top, "top_alt": a.top_alt, "bottom": a.bottom,
        "leg": a.legwear, "shoes": a.shoes, "hat": a.hat_colour, "bag": a.bag_colour,
    }
    out = np.zeros((len(body.COLOURS), 3))
    for name, i in body.C.items():
        far = name.endswith("_far")
        out[i] = np.asarray(rgb[name[:-4] if far else name], dtype=np.float64) / 255.0 * (0.78 if far else 1.0)
    return out


class _Prepared:
    """A track in the integer form the drawing loop wants."""

    def __init__(self, track: Track, view: CameraView, pad: int):
        spec = view.spec
        self.track = track
        self.person_id = track.identity.person_id
        self.row_of = {int(f): i for i, f in enumerate(track.frames)}
        self.points = np.round((track.points + pad) * ONE).astype(np.int32)
        self.thick = np.maximum(1, np.round(track.sizes)).astype(np.int32)
        self.axes = np.maximum(1, np.round(track.sizes * ONE)).astype(np.int32)
        self.programs = [_compile(p) for p in track.programs]
        self.mot = track.clipped_boxes(spec.width, spec.height)
        # Light each person where they stand: shade and vignetting come from the plate's map.
        fx = np.clip(np.round(track.foot[:, 0]).astype(int), 0, spec.width - 1)
        fy = np.clip(np.round(track.foot[:, 1]).astype(int) - 1, 0, spec.height - 1)
        lit = apply_light(_base_colours(track)[None], view.illumination[fy, fx][:, None], view.lighting, spec.saturation)
        self.colours = np.round(lit[..., ::-1]).astype(np.int32).tolist()
        pbox = track.box + pad
        self.pbox = np.stack([np.floor(pbox[:, 0]) - 1, np.floor(pbox[:, 1]) - 1,
                              np.ceil(pbox[:, 2]) + 1, np.ceil(pbox[:, 3]) + 1], 1).astype(np.int64)
        # The shadow: a contact patch under the feet, stretched towards where the sun throws
        # the head's shadow (the same direction as the occluders' shadows on the plate).
        dx, dz = shadow_offset(view.lighting, track.identity.appearance.height_m)
        z = track.depth
        x = (track.foot[:, 0] - spec.width / 2) * z / spec.focal_px
        tip_u, tip_v = spec.project(x + dx, z + dz)
        du, dv = tip_u - track.foot[:, 0], tip_v - track.foot[:, 1]
        length = np.hypot(du, dv)
        width = track.sizes[:, body.S["shadow_ax"]]
        self.shadow = np.stack([
            track.foot[:, 0] + pad + du / 2, track.foot[:, 1] + pad + dv / 2,
            np.maximum(length / 2 + 0.15 * width, width), np.where(length > 1, 0.35 * width, track.sizes[:, body.S["shadow_ay"]]),
            np.degrees(np.arctan2(dv, du)),
        ], 1)


class VideoRenderer:
    """Renders the frames of one camera in one time slot, with their truth."""

    def __init__(self, view: CameraView, tracks: list[Track], config: SynthConfig):
        spec = view.spec
        self.view, self.config, self.spec = view, config, spec
        self.num_frames = config.num_frames
        self.pad = pad = spec.pad
        H, W = spec.height, spec.width
        self.canvas = np.zeros((H + 2 * pad, W + 2 * pad, 3), np.uint8)
        self.labels = np.zeros((H + 2 * pad, W + 2 * pad), np.uint8)
        self.inner = (slice(pad, pad + H), slice(pad, pad + W))
        self.tracks = tracks
        self.prepared = [_Prepared(t, view, pad) for t in tracks]
        self.by_frame: list[list[int]] = [[] for _ in range(self.num_frames)]
        for k, t in enumerate(tracks):
            for f in t.frames:
                self.by_frame[int(f)].append(k)
        self.layers = sorted(view.layers, key=lambda L: -L.occluder.z_m)
        lt = view.lighting
        self.shadow_level = float(view.ground_level * lt.shadow_strength * 0.7) if config.shadows else 0.0
        self.degrade = spec.resolution < 0.98 or spec.blur_sigma > 0.05

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[RenderedFrame]:
        for f in range(self.num_frames):
            yield self.render(f)

    def _draw(self, img: np.ndarray, ops: list[tuple], pts: list, pts_arr: np.ndarray, thick: list, axes: list,
              colours: list | None, value: int) -> None:
        for kind, a, b, size, size2, colour, arc0, arc1, idx, _ in ops:
            col = colours[colour] if colours is not None else value
            if kind == LINE:
                cv2.line(img, pts[a], pts[b], col, thick[size], cv2.LINE_8, SHIFT)
            elif kind == POLY:
                cv2.fillConvexPoly(img, pts_arr[idx], col, cv2.LINE_8, SHIFT)
            elif kind == ELLIPSE:
                cv2.ellipse(img, pts[a], (axes[size], axes[size2]), 0, arc0, arc1, col, -1, cv2.LINE_8, SHIFT)
            else:
                cv2.circle(img, pts[a], axes[size], col, -1, cv2.LINE_8, SHIFT)

    def _shadow(self, p: _Prepared, row: int) -> None:
        cx, cy, ax, ay, angle = p.shadow[row]
        H, W = self.canvas.shape[:2]
        r = max(ax, ay) + 1
        ix0, iy0, ix1, iy1 = max(int(cx - r), 0), max(int(cy - r), 0), min(int(cx + r) + 2, W), min(int(cy + r) + 2, H)
        if ix1 - ix0 < 2 or iy1 - iy0 < 2:
            return
        m = np.zeros((iy1 - iy0, ix1 - ix0), np.uint8)
        cv2.ellipse(m, (int((cx - ix0) * ONE), int((cy - iy0) * ONE)), (max(1, int(ax * ONE)), max(1, int(ay * ONE))),
                    float(angle), 0, 360, 255, -1, cv2.LINE_8, SHIFT)
        roi = self.canvas[iy0:iy1, ix0:ix1]
        d = self.shadow_level
        cv2.subtract(roi, (d, d, d, 0), dst=roi, mask=m)

    def _soften(self, p: _Prepared, row: int) -> None:
        """The camera's lost resolution and blur, applied around the person (the plate has its own)."""
        pad, spec = self.pad, self.spec
        x0, y0, x1, y1 = p.pbox[row]
        x0, y0 = max(x0 - 2, pad), max(y0 - 2, pad)
        x1, y1 = min(x1 + 2, pad + spec.width), min(y1 + 2, pad + spec.height)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        roi = self.canvas[y0:y1, x0:x1]
        if spec.resolution < 0.98:
            w, h = x1 - x0, y1 - y0
            small = cv2.resize(roi, (max(2, int(w * spec.resolution)), max(2, int(h * spec.resolution))), interpolation=cv2.INTER_AREA)
            cv2.resize(small, (w, h), dst=roi, interpolation=cv2.INTER_LINEAR)
        if spec.blur_sigma > 0.05:
            cv2.GaussianBlur(roi, (0, 0), spec.blur_sigma, dst=roi)

    def render(self, frame: int, *, labels: bool = False) -> RenderedFrame:
        """Frame ``frame`` (0-based) with its truth; ``labels`` adds the person-id map."""
        canvas, lab, pad = self.canvas, self.labels, self.pad
        inner = self.inner
        np.copyto(canvas[inner], self.view.plate)
        lab.fill(0)
        active = sorted(self.by_frame[frame], key=lambda k: -self.prepared[k].track.depth[self.prepared[k].row_of[frame]])
        if len(active) > MAX_PEOPLE:  # pragma: no cover - far beyond any sensible crowd
            raise ValueError(f"frame {frame}: {len(active)} people on screen; at most {MAX_PEOPLE} are supported")
        layers = self.layers
        li = 0
        drawn: list[tuple[int, _Prepared, int, int]] = []  # (label, prepared, row, full pixel count)
        for label, k in enumerate(active, start=1):
            p = self.prepared[k]
            row = p.row_of[frame]
            depth = p.track.depth[row]
            while li < len(layers) and layers[li].occluder.z_m > depth:
                self._paste(layers[li], drawn)
                li += 1
            if self.shadow_level > 0:
                self._shadow(p, row)
            ops, sil = p.programs[int(p.track.views[row])]
            pts_arr = p.points[row]
            pts = pts_arr.tolist()
            thick = p.thick[row].tolist()
            axes = p.axes[row].tolist()
            self._draw(canvas, ops, pts, pts_arr, thick, axes, p.colours[row], 0)
            self._draw(lab, sil, pts, pts_arr, thick, axes, None, label)
            x0, y0, x1, y1 = p.pbox[row]
            drawn.append((label, p, row, int(np.count_nonzero(lab[max(y0, 0):y1, max(x0, 0):x1] == label))))
        while li < len(layers):
            self._paste(layers[li], drawn)
            li += 1
        if self.degrade:
            for _, p, row, _ in drawn:
                self._soften(p, row)
        image = self.view.add_noise(canvas[inner], frame)
        truth = []
        H, W = self.spec.height, self.spec.width
        for label, p, row, full in drawn:
            x0, y0, x1, y1 = p.pbox[row]
            seen = lab[max(y0, pad):min(y1, pad + H), max(x0, pad):min(x1, pad + W)]
            vis = round(int(np.count_nonzero(seen == label)) / full, 3) if full else 0.0
            left, top, w, h = p.mot[row].tolist()
            truth.append((frame + 1, p.person_id, left, top, w, h, 1 if vis > 0 else 0, 1, vis))
        truth.sort(key=lambda r: r[1])
        label_map = None
        if labels:
            lut = np.zeros(256, np.int32)
            lut[OCCLUDER_LABEL] = -1
            for label, p, _, _ in drawn:
                lut[label] = p.person_id
            label_map = lut[lab[inner]]
        return RenderedFrame(frame, image, truth, label_map)

    def _paste(self, layer, drawn: list) -> None:
        """Put an occluder back over whoever was drawn behind it (if anyone overlaps it)."""
        pad = self.pad
        X0, Y0, X1, Y1 = layer.x0 + pad, layer.y0 + pad, layer.x1 + pad, layer.y1 + pad
        for _, p, row, _ in drawn:
            x0, y0, x1, y1 = p.pbox[row]
            if x0 < X1 and x1 > X0 and y0 < Y1 and y1 > Y0:
                break
        else:
            return
        roi = self.canvas[Y0:Y1, X0:X1]
        np.copyto(roi, self.view.plate[layer.y0:layer.y1, layer.x0:layer.x1], where=layer.mask[..., None])
        self.labels[Y0:Y1, X0:X1][layer.mask] = OCCLUDER_LABEL


def open_video(config: SynthConfig, camera: int = 1, slot: int = 1, *, plan: Plan | None = None) -> VideoRenderer:
    """A renderer for camera ``camera`` in time slot ``slot`` (both 1-based) of the footage
    ``config`` describes; pass ``plan`` to reuse (or hand-edit) a schedule."""
    plan = plan if plan is not None else plan_footage(config)
    spec = plan.camera(camera)
    if not 1 <= slot <= config.slots:
        raise ConfigError(f"slot {slot}: the footage has slots 1..{config.slots}")
    view = CameraView.build(config, spec, slot)
    tracks = []
    for v in plan.visits_in(camera, slot):
        tr = build_track(v, plan.person(v.person_id), spec, config.fps, config.num_frames)
        if tr is not None:
            tracks.append(tr)
    return VideoRenderer(view, tracks, config)
