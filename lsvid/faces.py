"""Face blurring of saved person crops (``lsvid curate --blur-faces``).

Faces are looked for in the upper half of a crop by OpenCV's bundled Haar
cascades (OpenCV 4.x; 5.x dropped them): the frontal ``frontalface_alt2``
(which also finds faces turned part way: on ``zidane.jpg`` it finds both
faces where ``frontalface_default`` finds one, and a false one in the crowd)
and the profile one on the crop and its mirror, over the
histogram-equalised grey image.  Each face found is blurred.

The cascades cannot see small faces: their detection windows are 20 pixels,
and a standing person's face is about an eighth of the box.  Measured here:
on the two pedestrians of ultralytics' ``bus.jpg`` who face the camera,
resized to a given crop height, they found the faces in most crops 200-400 px
tall and never at 160 px or below (the third, head turned, at no size); on the 337
truth boxes of PETS 2009 S2.L1 frames 1-69 (people 68-116 px tall) they found
a face in none.  So on a crop less than :data:`SMALL_CROP` pixels tall, the
head region (the top :data:`HEAD_FRACTION` of the crop, its full width) is
blurred hard whenever no face was found in it: the fallback.  A taller crop in
which no face is found (a face turned away or sideways) is left as it is.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from lsvid_core.errors import MissingDependencyError

#: the bundled cascades used, frontal first; the profile one also runs on the mirrored image
CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
#: crops shorter than this (pixels) get their head region blurred when no face is found in it
SMALL_CROP = 300
#: the head region of a crop: this fraction of its height, from the top (a tight box's head is the top 1/7-1/8)
HEAD_FRACTION = 0.2
#: the searched region is shrunk to at most this many pixels a side (faces are large there; time stays bounded)
SEARCH_SIDE = 640


class FaceCascades:
    """Several Haar cascades behind the one call of a ``cv2.CascadeClassifier``: :meth:`detectMultiScale`
    returns the union of their ``x, y, w, h`` faces (a profile cascade also runs on the mirror image)."""

    def __init__(self, cascades: list[tuple[str, cv2.CascadeClassifier]]) -> None:
        self.cascades = cascades

    def detectMultiScale(self, gray: np.ndarray, scaleFactor: float = 1.1, minNeighbors: int = 3,  # noqa: N802,N803 - OpenCV's names
                         minSize: tuple[int, int] = (20, 20)) -> np.ndarray:  # noqa: N803
        found = []
        for name, c in self.cascades:
            f = np.asarray(c.detectMultiScale(gray, scaleFactor=scaleFactor, minNeighbors=minNeighbors, minSize=minSize)).reshape(-1, 4)
            found.append(f)
            if "profile" in name:
                m = np.asarray(c.detectMultiScale(cv2.flip(gray, 1), scaleFactor=scaleFactor, minNeighbors=minNeighbors,
                                                  minSize=minSize)).reshape(-1, 4)
                if len(m):
                    m[:, 0] = gray.shape[1] - m[:, 0] - m[:, 2]
                found.append(m)
        return np.concatenate(found).astype(np.int64) if found else np.zeros((0, 4), np.int64)


def load_face_cascades(names: tuple[str, ...] = CASCADES) -> FaceCascades:
    """OpenCV's bundled face cascades, or :class:`MissingDependencyError` naming what is missing."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        # OpenCV 5 dropped the Haar cascades and their bundled files
        raise MissingDependencyError(
            f"--blur-faces needs OpenCV's bundled face cascades, which OpenCV {cv2.__version__} lacks; "
            "install opencv-python 4.x (pip install 'opencv-python<5')"
        )
    out = []
    for name in names:
        path = os.path.join(cv2.data.haarcascades, name)
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise MissingDependencyError(f"{path}: OpenCV's bundled face cascade could not be loaded")
        out.append((name, c))
    return FaceCascades(out)


def find_faces(crop: np.ndarray, cascade, *, upper: float = 0.5) -> np.ndarray:
    """``(N, 4)`` ``x, y, w, h`` faces in the top ``upper`` fraction of a BGR person crop (``cascade``: any
    object with OpenCV's ``detectMultiScale``); that part is shrunk to :data:`SEARCH_SIDE` pixels a side at most."""
    top = crop[: max(int(crop.shape[0] * upper), 1)]
    if min(top.shape[:2]) < 20:
        return np.zeros((0, 4), np.int64)  # smaller than any cascade's window
    f = SEARCH_SIDE / max(top.shape[:2])
    if f < 1:
        top = cv2.resize(top, (max(int(round(top.shape[1] * f)), 1), max(int(round(top.shape[0] * f)), 1)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(cv2.cvtColor(top, cv2.COLOR_BGR2GRAY))
    faces = np.asarray(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(20, 20))).reshape(-1, 4)
    return np.round(faces / min(f, 1.0)).astype(np.int64)


def _blur(region: np.ndarray, frac: float = 0.5) -> np.ndarray:
    """Gaussian blur with a kernel ``frac`` of the region's shorter side (odd, at least 3; OpenCV's sigma for it)."""
    k = max(3, int(min(region.shape[:2]) * frac) | 1)
    return cv2.GaussianBlur(region, (k, k), 0)


def blur_faces(crop: np.ndarray, cascade, *, small: int = SMALL_CROP, head: float = HEAD_FRACTION, upper: float = 0.5) -> np.ndarray:
    """A copy of a BGR person crop with every face :func:`find_faces` finds (in its top ``upper``
    fraction) Gaussian-blurred; on a crop shorter than ``small`` pixels in whose top ``head`` fraction
    no face was found, that head region is blurred instead (the cascades cannot find faces that small)."""
    out = crop.copy()
    h, w = crop.shape[:2]
    faces = find_faces(crop, cascade, upper=upper)
    for x, y, fw, fh in faces.tolist():
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + fw, w), min(y + fh, h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = _blur(out[y0:y1, x0:x1])
    hy = max(int(round(h * head)), 1)
    if h < small and not (len(faces) and (faces[:, 1] < hy).any()):
        out[:hy] = _blur(out[:hy], 1.0)  # a face there is a few pixels: blur the whole band hard
    return out


__all__ = ["CASCADES", "HEAD_FRACTION", "SMALL_CROP", "FaceCascades", "blur_faces", "find_faces", "load_face_cascades"]
