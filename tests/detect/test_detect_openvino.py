"""OpenVINO person detectors: ultralytics' YOLO export (``yolo``) and Intel's SSD (``openvino``) on real
weights and real footage from ``../shared/data`` (skipped without it), and the SSD reader's own checks
on small synthetic IRs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from detect_helpers import assert_well_formed
from real_material import need
from scipy.optimize import linear_sum_assignment

from lsvid.boxes import iou_matrix
from lsvid.detect import DetectorError, create_detector
from lsvid_core.errors import MissingDependencyError, MissingInputError

ov = pytest.importorskip("openvino")


YOLO_IR = "weights/yolov8n_int8_openvino_model"
SSD = "weights/openvino_omz_person/person-detection-retail-0013.xml"
PETS = "footage/pets09_s2l1"


@pytest.fixture(scope="module")
def pets():
    """PETS 2009 S2.L1 frames 0-68 and their MOT truth (frame k+1; 'consider' = 0 rows dropped)."""
    folder = need(PETS)
    cap = cv2.VideoCapture(str(folder / "vtest.avi"))
    frames = [cap.read()[1] for _ in range(69)]
    cap.release()
    assert all(f is not None and f.shape == (576, 768, 3) for f in frames)
    gt = pd.read_csv(folder / "gt_frames_1-69.txt", header=None)
    return frames, gt[gt[6] != 0]


def recall_precision(boxes: list[np.ndarray], truth: pd.DataFrame, frame_numbers: list[int]) -> tuple[float, float]:
    """Detection recall and precision at IoU >= 0.5 (one-to-one matching) over the given frames."""
    tp = fp = fn = 0
    for k, d in zip(frame_numbers, boxes):
        g = truth[truth[0] == k + 1][[2, 3, 4, 5]].to_numpy(float)
        if not len(d):
            fn += len(g)
            continue
        iou = iou_matrix(d[:, :4], g)
        r, c = linear_sum_assignment(-iou)
        m = int((iou[r, c] >= 0.5).sum())
        tp, fp, fn = tp + m, fp + len(d) - m, fn + len(g) - m
    return tp / max(tp + fn, 1), tp / max(tp + fp, 1)


def test_yolo_loads_an_openvino_export_and_finds_the_people_of_real_footage(pets):
    frames, truth = pets
    det = create_detector("yolo", weights=str(need(YOLO_IR)), device="cpu")
    assert det.format == "openvino" and det.person_class == 0 and det.imgsz == 640 and det.export_batch == 1
    assert det.batch_size == 16  # the pipeline's group; the export's fixed batch of one is fed frame by frame
    idx = list(range(0, 69, 2))
    out = []
    for i in range(0, len(idx), det.batch_size):
        out += det.detect([frames[k] for k in idx[i:i + det.batch_size]], idx[i:i + det.batch_size])
    assert_well_formed(out, len(idx), 768, 576)
    recall, precision = recall_precision(out, truth, idx)
    # the default conf 0.1 keeps the weak boxes the tracker's second stage wants: measured 0.90 / 0.68
    assert recall >= 0.85 and precision >= 0.6, (recall, precision)
    confident = [b[b[:, 4] >= 0.25] for b in out]
    recall, precision = recall_precision(confident, truth, idx)
    assert recall >= 0.75 and precision >= 0.8, (recall, precision)  # measured: 0.88, 0.88 at conf 0.25
    with pytest.raises(DetectorError, match="exported for 640 px inputs, not imgsz=320"):
        create_detector("yolo", weights=str(need(YOLO_IR)), imgsz=320)


@pytest.fixture(scope="module")
def ssd():
    return create_detector("openvino", weights=str(need(SSD)))


def test_ssd_reads_its_input_from_the_model_and_finds_the_people_of_real_footage(pets, ssd):
    frames, truth = pets
    assert ssd.input_size == (320, 544) and ssd.layout == "NCHW" and ssd.form == "detection_output"
    assert ssd.dynamic and ssd.batch_size == 8  # reshaped to a dynamic batch: groups of frames in one call
    idx = list(range(69))
    out = []
    for i in range(0, 69, ssd.batch_size):
        out += ssd.detect(frames[i:i + ssd.batch_size], idx[i:i + ssd.batch_size])
    assert_well_formed(out, 69, 768, 576)
    recall, precision = recall_precision(out, truth, idx)
    assert recall >= 0.65 and precision >= 0.85, (recall, precision)  # measured: 0.75, 0.92 at conf 0.5
    one_by_one = [ssd.detect([frames[k]], [k])[0] for k in range(0, 69, 10)]
    for a, b in zip(out[::10], one_by_one):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=0.5)  # the batch changes nothing but rounding
    assert ssd.detect([], []) == []


def test_ssd_confidence_and_label_options(pets):
    frames, _ = pets
    low = create_detector("openvino", weights=str(need(SSD)), conf=0.1, batch_size=1)
    high = create_detector("openvino", weights=str(need(SSD)), conf=0.9, batch_size=1)
    assert low.batch_size == 1
    a, b = low.detect(frames[:1], [0])[0], high.detect(frames[:1], [0])[0]
    assert len(a) > len(b) and (a[:, 4] >= 0.1).all() and (b[:, 4] >= 0.9).all()
    assert len(create_detector("openvino", weights=str(need(SSD)), conf=0.1, label=1).detect(frames[:1], [0])[0]) == len(a)
    assert len(create_detector("openvino", weights=str(need(SSD)), conf=0.1, label=2).detect(frames[:1], [0])[0]) == 0


def test_ssd_refuses_a_yolo_export_and_names_the_right_detector():
    with pytest.raises(DetectorError, match="ultralytics YOLO export.*--detector yolo"):
        create_detector("openvino", weights=str(need(YOLO_IR) / "yolov8n.xml"))


def _save(model, path: Path) -> Path:
    ov.save_model(model, str(path))
    return path


def _boxes_labels_ir(tmp_path: Path) -> Path:
    """An NHWC IR of the person-detection-0200 kind: ``boxes`` [N, 5] in input pixels and ``labels`` [N]."""
    ops = ov.opset13
    p = ops.parameter([1, 320, 544, 3], np.float32, name="image")
    zero = ops.multiply(ops.reduce_sum(p, [0, 1, 2, 3], keep_dims=False), ops.constant(np.float32(0)))
    boxes = ops.add(ops.constant(np.array([[10, 20, 110, 220, 0.9], [300, 30, 400, 300, 0.7], [0, 0, 5, 5, 0.2]], np.float32)), zero)
    boxes.output(0).get_tensor().set_names({"boxes"})
    labels = ops.convert(ops.add(ops.constant(np.array([0, 1, 0], np.float32)), zero), np.int64)
    labels.output(0).get_tensor().set_names({"labels"})
    return _save(ov.Model([boxes, labels], [p], "boxes_labels"), tmp_path / "pd0200.xml")


def test_ssd_reads_the_boxes_and_labels_form_of_an_nhwc_model(tmp_path):
    xml = _boxes_labels_ir(tmp_path)
    det = create_detector("openvino", weights=str(xml), conf=0.5)
    assert det.layout == "NHWC" and det.form == "boxes_labels" and det.input_size == (320, 544) and det.batch_size == 1
    frames = [np.zeros((640, 1088, 3), np.uint8)] * 2  # twice the input size: boxes scale by 2
    out = det.detect(frames, [0, 1])
    assert_well_formed(out, 2, 1088, 640)
    np.testing.assert_allclose(out[0][:, :4], [[20, 40, 200, 400], [600, 60, 200, 540]], atol=1e-3)
    np.testing.assert_allclose(out[0][:, 4], [0.9, 0.7], atol=1e-3)
    only_0 = create_detector("openvino", weights=str(xml), conf=0.5, label=0).detect(frames[:1], [0])[0]
    np.testing.assert_allclose(only_0[:, :4], [[20, 40, 200, 400]], atol=1e-3)


def test_ssd_weights_missing_or_wrong_are_named(tmp_path, monkeypatch):
    with pytest.raises(DetectorError, match="needs weights=PATH"):
        create_detector("openvino")
    with pytest.raises(MissingInputError, match="does not exist"):
        create_detector("openvino", weights=str(tmp_path / "none.xml"))
    lone = tmp_path / "lone.xml"
    lone.write_text("<net/>")
    with pytest.raises(MissingInputError, match=r"lone\.bin: the weights of lone\.xml are missing"):
        create_detector("openvino", weights=str(lone))
    with pytest.raises(DetectorError, match=r"expected the \.xml"):
        create_detector("openvino", weights=str(tmp_path / "m.onnx"))
    xml = _boxes_labels_ir(tmp_path)
    with pytest.raises(DetectorError, match="OpenVINO runs on CPU"):
        create_detector("openvino", weights=str(xml), device="cuda")
    with pytest.raises(DetectorError, match="conf=2"):
        create_detector("openvino", weights=str(xml), conf=2)
    with pytest.raises(DetectorError, match="mean="):
        create_detector("openvino", weights=str(xml), mean=[1, 2])
    import importlib.util

    from lsvid.detect import openvino_ssd

    real = importlib.util.find_spec
    monkeypatch.setattr(openvino_ssd.importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"lsvid\[openvino\]"):
        create_detector("openvino", weights=str(xml))


def test_ssd_takes_a_folder_holding_one_ir(tmp_path):
    xml = _boxes_labels_ir(tmp_path)
    assert create_detector("openvino", weights=str(xml.parent)).weights == str(xml)
    (tmp_path / "second.xml").write_text("<net/>")
    with pytest.raises(MissingInputError, match="expected a folder holding one OpenVINO .xml"):
        create_detector("openvino", weights=str(tmp_path))


def test_ssd_refuses_a_model_of_another_kind(tmp_path):
    ops = ov.opset13
    p = ops.parameter([1, 3, 64, 32], np.float32, name="data")
    xml = _save(ov.Model([ops.relu(p)], [p], "not_a_detector"), tmp_path / "features.xml")
    with pytest.raises(DetectorError, match=r"expected an SSD DetectionOutput \[1, 1, N, 7\]"):
        create_detector("openvino", weights=str(xml))
