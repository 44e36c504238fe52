"""Frame decoders and feature extraction: every decoder yields the same batches, bad
frames are named, BN folding and resumption leave the features unchanged."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from benchmark.config import BenchConfig
from benchmark.feature_cache import extract_features
from benchmark.frames import FrameReadError, make_loader, read_frame
from gltr import build_backbone, save_checkpoint
from protocols import read_dataset, tables_from_sequences, write_dataset

H, W = 32, 16


def _frames(tmp_path, n=23):
    """Person-like crops of mixed sizes (some need resizing) and formats (one PNG)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = (H, W) if i % 3 else (48, 20)
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        p = tmp_path / f"{i:03d}.{'png' if i == 7 else 'jpg'}"
        assert cv2.imwrite(str(p), img)
        paths.append(str(p))
    return paths


def test_thread_decoder_gives_the_process_decoders_batches(tmp_path):
    paths = _frames(tmp_path)
    labels = np.arange(len(paths)) * 10
    order = np.random.default_rng(1).permutation(len(paths))
    dev = torch.device("cpu")
    threads = list(make_loader(paths, labels, height=H, width=W, batch_size=5, order=order, workers=3, device=dev, decoder="threads"))
    procs = list(make_loader(paths, labels, height=H, width=W, batch_size=5, order=order, workers=0, device=dev, decoder="processes"))
    assert [len(y) for _, y in threads] == [5, 5, 5, 5, 3]
    for (xt, yt), (xp, yp) in zip(threads, procs, strict=True):
        assert xt.dtype == torch.float32 and xt.shape[1:] == (3, H, W)
        torch.testing.assert_close(xt, xp, rtol=0, atol=0)
        torch.testing.assert_close(yt, yp, rtol=0, atol=0)
    # and against an independent reading of each file (OpenCV's imread), in the order asked for
    x = torch.cat([b for b, _ in threads])
    for k in (0, 7, 22):
        img = cv2.resize(cv2.imread(paths[order[k]]), (W, H), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
        torch.testing.assert_close(x[k], torch.from_numpy(img.copy()).permute(2, 0, 1).float(), rtol=0, atol=0)
    assert torch.cat([y for _, y in threads]).tolist() == (labels[order]).tolist()


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_thread_decoder_names_the_bad_frame(tmp_path, damage):
    paths = _frames(tmp_path)
    victim = paths[17]
    if damage == "missing":
        (tmp_path / victim).unlink()
    else:
        data = Path(victim).read_bytes()
        Path(victim).write_bytes(data[: len(data) // 3])
    loader = make_loader(paths, None, height=H, width=W, batch_size=4, workers=2, device=torch.device("cpu"))
    with pytest.raises(FrameReadError, match=victim.split("/")[-1]):
        for _ in loader:
            pass


def test_normalize_is_the_imagenet_standardisation_and_leaves_its_input_alone():
    from benchmark.frames import IMAGENET_MEAN, IMAGENET_STD, normalize

    x = torch.rand(2, 3, 6, 4) * 255
    before = x.clone()
    y = normalize(x)
    for c in range(3):
        torch.testing.assert_close(y[:, c], (before[:, c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
    assert torch.equal(x, before) and y.is_contiguous(memory_format=torch.channels_last)


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="nvdec"):
        BenchConfig.from_dict({"frame": {"decoder": "nvdec"}})
    with pytest.raises(ValueError, match="unknown decoder"):
        next(make_loader(["a.jpg"], None, height=H, width=W, batch_size=1, device=torch.device("cpu"), decoder="nvdec"))


@pytest.fixture()
def small_ds(tmp_path):
    (tmp_path / "img").mkdir()
    rel = [f"img/{p.rsplit('/', 1)[1]}" for p in _frames(tmp_path / "img", n=30)]
    seqs = [{"person_id": i % 3, "camera_id": 1 + i % 2, "split": "gallery", "paths": rel[i * 6 : (i + 1) * 6]} for i in range(5)]
    tr, fr = tables_from_sequences(seqs)
    ds = read_dataset(write_dataset(tmp_path / "ds", tr, fr, {"name": "tiny", "image_root": str(tmp_path)}))
    torch.manual_seed(0)
    model = build_backbone("resnet18", embed_dim=16, weights="random")
    # non-trivial BatchNorm statistics, so folding them has something to get wrong
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    ckpt = save_checkpoint(model, tmp_path / "b.pt", extra={"config": {"height": H, "width": W}})
    return ds, ckpt, model


def test_folded_batchnorm_gives_the_same_features(small_ds, tmp_path):
    ds, ckpt, model = small_ds
    dev = torch.device("cpu")
    fused = extract_features(ds, ckpt, tmp_path / "c1", device=dev, batch_size=8, workers=1, fuse=True, progress=False, log=lambda s: None)
    plain = extract_features(ds, ckpt, tmp_path / "c2", device=dev, batch_size=8, workers=1, fuse=False, progress=False, log=lambda s: None)
    # the plain cache is the model's own forward pass, frame by frame
    x = torch.stack([torch.from_numpy(read_frame(str(ds.image_root / p), H, W)).permute(2, 0, 1).float() for p in ds.frames["path"]])
    from benchmark.frames import normalize

    with torch.inference_mode():
        ref = model.eval()(normalize(x)).numpy()
    np.testing.assert_allclose(plain.features, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.features, ref, rtol=1e-3, atol=1e-3)
    from benchmark.feature_cache import inference_model

    folded = inference_model(model, dev)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 20  # the original is untouched


def test_extraction_stopped_by_a_bad_frame_resumes_where_it_stopped(small_ds, tmp_path):
    ds, ckpt, _ = small_ds
    dev = torch.device("cpu")
    clean = extract_features(ds, ckpt, tmp_path / "clean", device=dev, batch_size=4, workers=1, progress=False, log=lambda s: None)
    victim = ds.image_root / ds.frames["path"].iloc[21]
    good = victim.read_bytes()
    victim.write_bytes(good[:100])
    with pytest.raises(FrameReadError, match=victim.name):
        extract_features(ds, ckpt, tmp_path / "run", device=dev, batch_size=4, workers=1, progress=False, log=lambda s: None)
    folder = next((tmp_path / "run").iterdir())
    assert not (folder / "manifest.json").exists()
    assert json.loads((folder / "progress.json").read_text())["rows_done"] == 20  # the five batches before the bad one
    victim.write_bytes(good)
    logs: list[str] = []
    again = extract_features(ds, ckpt, tmp_path / "run", device=dev, batch_size=4, workers=1, progress=False, log=logs.append)
    assert any("resuming" in s and "at frame 20/30" in s for s in logs)
    np.testing.assert_allclose(again.features, clean.features, rtol=1e-5, atol=1e-5)
