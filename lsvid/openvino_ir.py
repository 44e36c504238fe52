"""Reading an OpenVINO IR that takes one image: what the ``openvino`` detector and embedder share."""
from __future__ import annotations

from pathlib import Path


def read_image_model(core, xml: Path, who: str, error: type[Exception]):
    """``core.read_model(xml)``, or ``error`` naming ``who`` and the file when OpenVINO cannot read it or
    it does not take exactly one input (an image)."""
    try:
        model = core.read_model(str(xml))
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError and its own types
        text = str(e).strip()
        raise error(f"{who}: {xml} is not a loadable OpenVINO model ({text.splitlines()[0] if text else type(e).__name__})") from e
    if len(model.inputs) != 1:
        raise error(f"{who}: {xml} has {len(model.inputs)} inputs; expected one image input")
    return model
