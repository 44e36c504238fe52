"""Reading and compiling an OpenVINO IR that takes one image: what the ``openvino`` detector and embedder share."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lsvid_core.errors import first_line


def read_image_model(core, xml: Path, who: str, error: type[Exception]):
    """``core.read_model(xml)``, or ``error`` naming ``who`` and the file when OpenVINO cannot read it or
    it does not take exactly one input (an image)."""
    try:
        model = core.read_model(str(xml))
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError and its own types
        raise error(f"{who}: {xml} is not a loadable OpenVINO model ({first_line(e)})") from e
    if len(model.inputs) != 1:
        raise error(f"{who}: {xml} has {len(model.inputs)} inputs; expected one image input")
    return model


def compile_model(core, model, xml: Path, device: str, config: dict[str, Any], who: str, error: type[Exception]):
    """The compiled model on ``device`` and an inference request of it, or ``error`` naming the file
    and the device when OpenVINO cannot compile it there."""
    try:
        compiled = core.compile_model(model, device, config)
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError and its own types
        raise error(f"{who}: {xml} does not compile for OpenVINO device {device} ({first_line(e)})") from e
    return compiled, compiled.create_infer_request()
