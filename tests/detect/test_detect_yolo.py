"""``yolo`` and ``lsvid train-detector``: offline from end to end."""
from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest
from click.testing import CliRunner
from detect_helpers import assert_well_formed

from lsvid.cli import main
from lsvid.detect import DetectorError, create_detector
from lsvid.detect.yolo import export_formats, find_person_class, weights_format
from lsvid.footage import find_videos, read_frames
from lsvid_core.errors import MissingDependencyError


def _frames(video, n: int) -> list[np.ndarray]:
    return [f for i, f in read_frames(video) if i < n]


def test_missing_weights_name_the_file_and_the_offline_alternatives(tmp_path):
    missing = tmp_path / "yolo.pt"
    with pytest.raises(DetectorError) as e:
        create_detector("yolo", weights=str(missing))
    msg = str(e.value)
    assert str(missing) in msg
    for alternative in ("hog", "motion", "truth", "lsvid train-detector"):
        assert alternative in msg
    with pytest.raises(DetectorError, match="needs weights=PATH.*train-detector"):
        create_detector("yolo")
    with pytest.raises(DetectorError, match="yolov8n.pt does not exist"):
        create_detector("yolo", weights="yolov8n.pt")  # a hub name is not fetched


def _without(monkeypatch, *missing: str, present: tuple[str, ...] = ()) -> None:
    """Make ``importlib.util.find_spec`` say the ``missing`` modules are not installed (and ``present`` ones are)."""
    import importlib.util

    from lsvid.detect import yolo

    real = importlib.util.find_spec

    def find_spec(name, *a):
        if name in missing:
            return None
        return object() if name in present else real(name, *a)

    monkeypatch.setattr(yolo.importlib.util, "find_spec", find_spec)


def test_onnx_without_onnxruntime_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "m.onnx"
    fake.write_bytes(b"not really")
    _without(monkeypatch, "onnxruntime")
    with pytest.raises(MissingDependencyError, match=r"m\.onnx is ONNX, which needs onnxruntime.*lsvid\[onnx\]"):
        create_detector("yolo", weights=str(fake))


def test_openvino_and_tensorrt_exports_without_their_runtime_name_the_extra(tmp_path, monkeypatch):
    folder = tmp_path / "best_openvino_model"
    folder.mkdir()
    engine = tmp_path / "best.engine"
    engine.write_bytes(b"not really")
    _without(monkeypatch, "openvino", "tensorrt")
    with pytest.raises(MissingDependencyError, match=r"best_openvino_model is OpenVINO, which needs openvino.*lsvid\[openvino\]"):
        create_detector("yolo", weights=str(folder))
    with pytest.raises(MissingDependencyError, match=r"best\.engine is TensorRT, which needs tensorrt.*lsvid\[tensorrt\]"):
        create_detector("yolo", weights=str(engine))


def test_a_tensorrt_engine_needs_cuda(tmp_path, monkeypatch):
    engine = tmp_path / "best.engine"
    engine.write_bytes(b"not really")
    _without(monkeypatch, present=("tensorrt",))
    with pytest.raises(DetectorError, match="TensorRT engine, which runs on an NVIDIA GPU only; device=cpu"):
        create_detector("yolo", weights=str(engine), device="cpu")


def test_weight_formats_are_read_from_ultralytics():
    from ultralytics.engine.exporter import export_formats as ultralytics_formats

    rows = export_formats()
    arguments = [r.argument for r in rows]
    assert arguments == ["pt" if a == "-" else a for a in ultralytics_formats()["Argument"]]
    assert {"pt", "torchscript", "onnx", "openvino", "engine", "litert", "ncnn"} <= set(arguments)
    for name, fmt in [("yolo.pt", "pt"), ("m.onnx", "onnx"), ("best.pt.onnx", "onnx"), ("x_openvino_model", "openvino"),
                      ("m.engine", "engine"), ("m.torchscript", "torchscript"), ("m.tflite", "litert"),
                      ("m_edgetpu.tflite", "edgetpu"), ("best_qnn.onnx", "qnn"), ("m_ncnn_model", "ncnn")]:
        assert weights_format(name).argument == fmt, name
    assert weights_format("model.xml") is None and weights_format("weights.bin") is None
    assert [r.name for r in rows if r.folder][:2] == ["OpenVINO", "TensorFlow SavedModel"]
    from ultralytics.nn.autobackend import AutoBackend

    if isinstance(AutoBackend._model_type("m.onnx"), str):  # ultralytics 8.4: the format by name, as we decide it
        for r in rows:
            assert weights_format(f"model{r.suffix}").argument == AutoBackend._model_type(f"model{r.suffix}"), r


def test_a_folder_or_xml_that_ultralytics_would_not_load_says_what_would(tmp_path):
    ir = tmp_path / "my_ir"
    ir.mkdir()
    (ir / "model.xml").write_text("<net/>")
    (ir / "model.bin").write_bytes(b"")
    for weights in (ir, ir / "model.xml"):
        with pytest.raises(DetectorError, match=r"ends in _openvino_model.*--detector openvino"):
            create_detector("yolo", weights=str(weights))
    (tmp_path / "m.weights").write_bytes(b"")
    with pytest.raises(DetectorError, match=r"not a format ultralytics loads.*_openvino_model/ \(OpenVINO\).*\.engine \(TensorRT\)"):
        create_detector("yolo", weights=str(tmp_path / "m.weights"))
    with pytest.raises(DetectorError, match="a URL"):
        create_detector("yolo", weights="https://example.com/yolo.pt")
    not_a_folder = tmp_path / "x_openvino_model"
    not_a_folder.write_bytes(b"")
    with pytest.raises(DetectorError, match="is the folder ultralytics wrote"):
        create_detector("yolo", weights=str(not_a_folder))


def test_person_class_from_the_model_names():
    assert find_person_class({0: "person"}, "w") == 0
    assert find_person_class({0: "bicycle", 3: "Person"}, "w") == 3
    assert find_person_class({i: str(i) for i in range(80)}, "w") == 0  # COCO order
    with pytest.raises(DetectorError, match="none of them 'person'; pass person_class"):
        find_person_class({0: "cat", 1: "dog"}, "w")


def test_untrained_yaml_model_runs_batched_on_cpu(footage):
    _, videos = footage
    frames = _frames(videos[0], 3)
    # A random network: a low confidence floor so that it does return boxes to check.
    det = create_detector("yolo", weights="yolov8n.yaml", device="cpu", imgsz=320, conf=0.001, max_det=20)
    assert det.batch_size == 16 and det.person_class == 0 and det.device == "cpu"
    out = det.detect(frames, [0, 1, 2])
    assert_well_formed(out, 3, 640, 360)
    assert det.detect([], []) == []


def _no_network(monkeypatch) -> list:
    """Make every DNS lookup and connection fail, and record the attempts."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_train_detector_offline_then_yolo_loads_the_weights(tiny_footage, tmp_path, monkeypatch):
    # One epoch at 160 px on 16 frames: the weights are not good yet; the path is what is tested.
    attempts = _no_network(monkeypatch)
    out = tmp_path / "w" / "yolo.pt"
    r = CliRunner().invoke(main, ["train-detector", str(tiny_footage), "--out", str(out), "--epochs", "1", "--imgsz", "160",
                                  "--frames-per-video", "8", "--batch", "8", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert '"train_images": 14' in r.output and '"val_images": 2' in r.output
    assert out.is_file() and not list(out.parent.glob(".*tmp*"))
    assert attempts == []
    det = create_detector("yolo", weights=str(out), conf=0.001, device="cpu")
    assert det.person_class == 0 and det.model.names == {0: "person"}
    assert det.imgsz == 160  # the size it was trained at
    video = find_videos(tiny_footage)[0]
    frames = _frames(video, 4)
    out_boxes = det.detect(frames, [0, 1, 2, 3])
    assert_well_formed(out_boxes, 4, 320, 180)
    assert sum(len(b) for b in out_boxes) > 0
    # the same weights exported to ONNX (a fixed batch of one): the detector feeds it frame by frame
    from ultralytics import YOLO

    onnx_path = YOLO(str(out)).export(format="onnx", imgsz=160, dynamic=False)
    via_onnx = create_detector("yolo", weights=onnx_path, conf=0.001, device="cpu")
    assert via_onnx.imgsz == 160 and via_onnx.person_class == 0  # read from the graph's fixed input
    assert via_onnx.export_batch == 1 and via_onnx.format == "onnx"
    with pytest.raises(DetectorError, match="exported for 160 px inputs, not imgsz=320"):
        create_detector("yolo", weights=onnx_path, imgsz=320, device="cpu")
    onnx_boxes = via_onnx.detect(frames, [0, 1, 2, 3])
    assert_well_formed(onnx_boxes, 4, 320, 180)
    for a, b in zip(out_boxes, onnx_boxes):
        # ONNX Runtime and PyTorch round differently, so near-tied boxes may swap or cross the
        # confidence floor; the most confident box and the leading scores agree
        assert len(a) and len(b)
        a, b = a[np.argsort(-a[:, 4])], b[np.argsort(-b[:, 4])]
        np.testing.assert_allclose(a[0, :4], b[0, :4], atol=1.0)
        k = min(len(a), len(b), 3)
        np.testing.assert_allclose(a[:k, 4], b[:k, 4], atol=1e-3)
    # exported with a dynamic batch and size: frames go through together, at the size it was exported at
    dynamic = YOLO(str(out)).export(format="onnx", imgsz=160, dynamic=True)
    via_dynamic = create_detector("yolo", weights=dynamic, conf=0.001, device="cpu")
    assert via_dynamic.export_batch is None and via_dynamic.imgsz == 160
    together = via_dynamic.detect(frames, [0, 1, 2, 3])
    assert_well_formed(together, 4, 320, 180)
    for i, (frame, a) in enumerate(zip(frames, together)):
        b = via_dynamic.detect([frame], [i])[0]
        a, b = a[np.argsort(-a[:, 4])], b[np.argsort(-b[:, 4])]
        np.testing.assert_allclose(a[0], b[0], atol=1e-2)
    assert attempts == []


def test_train_detector_needs_truth(tiny_footage, tmp_path):
    bare = tmp_path / "bare" / "cam01"
    bare.mkdir(parents=True)
    src = find_videos(tiny_footage)[0].path
    shutil.copy(src, bare / src.name)
    r = CliRunner().invoke(main, ["train-detector", str(bare.parent), "--out", str(tmp_path / "y.pt")])
    assert r.exit_code != 0 and "no video has MOT truth" in r.output
    r = CliRunner().invoke(main, ["train-detector", str(tiny_footage), "--out", str(tmp_path / "y.pt"), "--model", "yolov8n.pt"])
    assert r.exit_code != 0 and "no such local weights file" in r.output


def test_ultralytics_is_imported_offline():
    from lsvid.detect.offline import import_ultralytics, local_font

    import_ultralytics()
    from ultralytics.utils import checks, events

    assert checks.ONLINE is False and events.events.enabled is False
    font = local_font("Arial.ttf")  # what check_font answers during training, without downloading
    assert font is None or font.is_file()
