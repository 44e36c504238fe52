"""How the bundled people SVM of the ``hog`` detector was made, and how to make it again.

Dalal & Triggs' recipe on synthetic footage rendered in memory by
:mod:`lsvid.synth` (seeds unrelated to the tests'): positives are the
windows of the detector's own pyramid that best frame each clearly visible
person (the nearest grid window on the two levels closest to a 96-pixel
person), negatives random windows away from everyone, then rounds of hard
negatives (false detections of the model so far); a class-balanced linear
SVM (squared hinge, L2) is fitted with L-BFGS after each round.

    python -m lsvid.detect.hog_train            # rewrites lsvid/detect/hog_people.py (a few minutes)
"""
from __future__ import annotations

import argparse
import base64
import textwrap
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from lsvid.boxes import iou_matrix
from lsvid.synth import SynthConfig, open_video, plan_footage

from .hog import PERSON_H, HogDetector, pyramid, window_boxes
from .hogfeat import BLOCKS_X, BLOCKS_Y, CELL, DESCRIPTOR_LEN, WIN_H, WIN_W, window_descriptors


@dataclass(frozen=True)
class HogTrainConfig:
    synth: SynthConfig = field(default_factory=lambda: SynthConfig(cameras=6, identities=48, seconds=20, seed=9100))
    frame_step: int = 10  # every 10th frame: people move between samples
    min_visibility: float = 0.8  # positives: people nearly all visible
    negatives_per_frame: int = 24
    hard_rounds: int = 2
    hard_per_frame: int = 12
    hard_min_score: float = -1.0
    negative_max_iou: float = 0.2  # a negative's person box overlaps every truth box less than this
    hard_max_iou: float = 0.3  # a hard negative's: less than this (0.3..0.5 is neither good nor wrong)
    l2: float = 1e-3
    upscale: float = 1.6
    scale_step: float = 1.1
    max_height: float = 200.0
    seed: int = 0


def training_frames(config: HogTrainConfig):
    """``(image, truth boxes (N, 4), visibility (N,))`` of every ``frame_step``-th frame of every video."""
    plan = plan_footage(config.synth)
    for cam in range(1, config.synth.cameras + 1):
        for slot in range(1, config.synth.slots + 1):
            video = open_video(config.synth, cam, slot, plan=plan)
            for f in range(0, video.num_frames, config.frame_step):
                fr = video.render(f)
                rows = np.array([r[2:6] for r in fr.truth], np.float64).reshape(-1, 4)
                vis = np.array([r[8] for r in fr.truth], np.float64)
                yield fr.image, rows, vis


def _descriptors(levels: list, picks: list[list]) -> np.ndarray:
    """Descriptors of the windows ``picks[k]`` (block row, column) of each pyramid level ``(scale, blocks)``."""
    parts = [window_descriptors(blocks, np.array(p, np.int64).reshape(-1, 2)) for (_, blocks), p in zip(levels, picks)]
    return np.concatenate(parts) if parts else np.zeros((0, DESCRIPTOR_LEN), np.float32)


def _window_grid(blocks: np.ndarray) -> tuple[int, int]:
    """How many window positions a level has, down and across."""
    return blocks.shape[0] - BLOCKS_Y + 1, blocks.shape[1] - BLOCKS_X + 1


def positives(levels: list, truth: np.ndarray, vis: np.ndarray, config: HogTrainConfig) -> np.ndarray:
    """For each clearly visible person, the grid window nearest to framing them on the two levels
    where they are closest to 96 pixels tall."""
    picks: list[list] = [[] for _ in levels]
    scales = np.array([s for s, _ in levels])
    good = (vis >= config.min_visibility) & (truth[:, 3] * config.upscale >= PERSON_H * 0.9)
    for x, y, w, h in truth[good]:
        for k in np.argsort(np.abs(np.log(h * scales / PERSON_H)))[:2]:
            s, blocks = levels[k]
            r = int(round(((y + h / 2) * s - WIN_H / 2) / CELL))
            c = int(round(((x + w / 2) * s - WIN_W / 2) / CELL))
            rows, cols = _window_grid(blocks)
            if 0 <= r < rows and 0 <= c < cols:
                picks[k].append((r, c))
    return _descriptors(levels, picks)


def random_negatives(levels: list, truth: np.ndarray, config: HogTrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Random windows of random levels whose person box overlaps nobody."""
    picks: list[list] = [[] for _ in levels]
    for _ in range(config.negatives_per_frame):
        k = int(rng.integers(len(levels)))
        s, blocks = levels[k]
        rows, cols = _window_grid(blocks)
        if rows < 1 or cols < 1:
            continue
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        box = window_boxes(np.array([r]), np.array([c]), s)
        if not len(truth) or iou_matrix(box, truth).max() < config.negative_max_iou:
            picks[k].append((r, c))
    return _descriptors(levels, picks)


def hard_negatives(image: np.ndarray, truth: np.ndarray, config: HogTrainConfig, model: HogDetector) -> np.ndarray:
    """The best-scoring windows of ``model`` on ``image`` that frame nobody."""
    boxes, scores, found = model.candidates(image, threshold=config.hard_min_score)
    if not found:
        return np.zeros((0, DESCRIPTOR_LEN), np.float32)
    wrong = np.flatnonzero(iou_matrix(boxes, truth).max(axis=1) < config.hard_max_iou if len(truth) else np.ones(len(boxes), bool))
    worst = wrong[np.argsort(-scores[wrong], kind="stable")][: config.hard_per_frame]
    level_of = np.concatenate([np.full(len(r), k) for k, (_, _, r, _) in enumerate(found)]).astype(int)
    rc = np.concatenate([np.stack([r, c], axis=1) for _, _, r, c in found])
    picks: list[list] = [[] for _ in found]
    for i in worst:
        picks[level_of[i]].append(tuple(rc[i]))
    return _descriptors([(s, b) for s, b, _, _ in found], picks)


def fit_linear_svm(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """``(D + 1,)`` weights and bias minimising the class-balanced mean squared hinge loss plus
    ``l2 / 2 * |w|^2`` (L-BFGS, deterministic)."""
    x = np.asarray(x, np.float64)
    y = np.where(np.asarray(y) > 0, 1.0, -1.0)
    c = np.where(y > 0, 0.5 / max((y > 0).sum(), 1), 0.5 / max((y < 0).sum(), 1))

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = p[:-1], p[-1]
        m = np.maximum(0.0, 1.0 - y * (x @ w + b))
        g = -2.0 * c * m * y
        return float(c @ (m * m) + 0.5 * l2 * w @ w), np.append(x.T @ g + l2 * w, g.sum())

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x.astype(np.float32)


def train_people_svm(config: HogTrainConfig = HogTrainConfig(), log=print) -> np.ndarray:
    """The ``(3781,)`` people SVM (3,780 weights, bias last) trained as the module docstring says."""
    rng = np.random.default_rng(config.seed)
    frames = list(training_frames(config))
    pos, neg = [], []
    for img, truth, vis in frames:
        levels = list(pyramid(img, config.upscale, config.scale_step, config.max_height))
        pos.append(positives(levels, truth, vis, config))
        neg.append(random_negatives(levels, truth, config, rng))
    pos_x, neg_x = np.concatenate(pos), np.concatenate(neg)

    def fit() -> np.ndarray:
        return fit_linear_svm(np.vstack([pos_x, neg_x]), np.r_[np.ones(len(pos_x)), -np.ones(len(neg_x))], config.l2)

    svm = fit()
    log(f"round 0: {len(pos_x)} positives, {len(neg_x)} random negatives from {len(frames)} frames")
    model = HogDetector(upscale=config.upscale, scale_step=config.scale_step, max_height=config.max_height)
    for r in range(config.hard_rounds):
        model.weights, model.bias = svm[:-1], float(svm[-1])
        hard = np.concatenate([hard_negatives(img, truth, config, model) for img, truth, _ in frames])
        neg_x = np.vstack([neg_x, hard])
        svm = fit()
        log(f"round {r + 1}: +{len(hard)} hard negatives ({len(neg_x)} in all)")
    return svm


def write_module(svm: np.ndarray, path: Path, config: HogTrainConfig) -> None:
    """Write ``svm`` as the Python module :mod:`lsvid.detect.hog_people` (a module, not a data
    file, so that it ships in any wheel without package-data settings)."""
    blob = base64.b64encode(zlib.compress(np.asarray(svm, "<f4").tobytes(), 9)).decode()
    lines = "\n".join(blob[i:i + 100] for i in range(0, len(blob), 100))
    settings = {k: v for k, v in asdict(config).items() if k != "synth"}
    made = textwrap.fill(f"Trained on synthetic footage SynthConfig(**{config.synth.to_dict()}) with {settings}.", 100)
    path.write_text(
        '"""The ``hog`` detector\'s bundled people SVM: 3,780 weights in OpenCV\'s HOG layout, bias last.\n\n'
        f"Generated by ``python -m lsvid.detect.hog_train``; do not edit.\n{made}\n"
        '"""\nfrom __future__ import annotations\n\nimport base64\nimport zlib\n\nimport numpy as np\n\n'
        f'_SVM = """\n{lines}\n"""\n\n\n'
        "def people_svm() -> np.ndarray:\n"
        '    """The (3781,) float32 vector."""\n'
        '    return np.frombuffer(zlib.decompress(base64.b64decode("".join(_SVM.split()))), "<f4").astype(np.float32)\n'
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("hog_people.py"))
    args = ap.parse_args(argv)
    t = time.perf_counter()
    config = HogTrainConfig()
    svm = train_people_svm(config)
    write_module(svm, args.out, config)
    print(f"wrote {args.out} in {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
