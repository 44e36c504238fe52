"""Frame backbones: forward at 256x128, weights from local files and the hub
cache only, checkpoints of ours, channels-last and bf16."""
from __future__ import annotations

import hashlib
import os
import socket
import urllib.request
import warnings
from pathlib import Path

import pytest
import torch
from torchvision import models

from gltr import (
    FrameBackbone,
    RandomInitWarning,
    WeightsMismatchError,
    build_backbone,
    list_backbones,
    load_checkpoint,
    save_checkpoint,
)


def frames(b: int = 2, h: int = 256, w: int = 128) -> torch.Tensor:
    return torch.randn(b, 3, h, w)


def torchvision_file(tmp_path: Path, name: str) -> tuple[Path, dict[str, torch.Tensor]]:
    state = getattr(models, name)(weights=None).state_dict()
    path = tmp_path / f"{name}_tv.pth"
    torch.save(state, path)
    return path, state


def test_list_backbones() -> None:
    assert list_backbones() == ["alexnet", "inception_v3", "resnet101", "resnet18", "resnet34", "resnet50"]


def test_resnet50_at_256x128_with_classifier() -> None:
    model = build_backbone("resnet50", num_classes=11, weights="random").eval()
    assert (model.name, model.embed_dim, model.feat_dim) == ("resnet50", 128, 2048)
    with torch.no_grad():
        emb = model(frames())
        assert emb.shape == (2, 128)
        assert model.classify(emb).shape == (2, 11)
    with pytest.raises(RuntimeError, match="num_classes"):
        build_backbone("resnet18", weights="random").classify(emb)


@pytest.mark.parametrize("name,feat_dim", [("inception_v3", 2048), ("alexnet", 4096)])
def test_inception_and_alexnet_run_at_256x128(name: str, feat_dim: int) -> None:
    model = build_backbone(name, embed_dim=64, weights="random").eval()
    assert model.feat_dim == feat_dim
    with torch.no_grad():
        assert model(frames(1)).shape == (1, 64)


def test_inception_trains_at_256x128_without_aux_head() -> None:
    model = build_backbone("inception_v3", num_classes=3, weights="random").train()
    logits = model.classify(model(frames(2)))
    assert logits.shape == (2, 3)
    logits.sum().backward()


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet101"])
def test_other_resnets_small_input(name: str) -> None:
    model = build_backbone(name, embed_dim=32, weights="random").eval()
    with torch.no_grad():
        assert model(frames(2, 64, 32)).shape == (2, 32)


def test_last_stride_one_keeps_weights_compatible(tmp_path: Path) -> None:
    path, _ = torchvision_file(tmp_path, "resnet18")
    model = build_backbone("resnet18", weights=path, last_stride=1).eval()
    x = frames(1, 64, 32)
    trunk = torch.nn.Sequential(*list(model.body.children())[:-2])  # up to layer4, before pooling
    assert trunk(x).shape[-2:] == (4, 2)  # stride 16 instead of 32
    with pytest.raises(ValueError, match="ResNets"):
        build_backbone("alexnet", last_stride=1, weights="random")


def test_torchvision_state_dict_loads_into_the_trunk(tmp_path: Path) -> None:
    path, state = torchvision_file(tmp_path, "resnet18")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit file: no warning at all
        model = build_backbone("resnet18", weights=path)
    for k, v in model.body.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert "fc.weight" in state  # the ImageNet classifier was in the file and is dropped


def test_ddp_prefixed_state_dict_loads(tmp_path: Path) -> None:
    state = models.resnet18(weights=None).state_dict()
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model = build_backbone("resnet18", weights=path)
    assert torch.equal(model.body.conv1.weight, state["conv1.weight"])


def test_wrong_architecture_is_an_error_naming_keys(tmp_path: Path) -> None:
    path, _ = torchvision_file(tmp_path, "resnet18")
    with pytest.raises(WeightsMismatchError) as err:
        build_backbone("resnet34", weights=path)  # resnet34 has three blocks in layer1
    assert "missing keys" in str(err.value) and "layer1.2.conv1.weight" in str(err.value)

    path50, _ = torchvision_file(tmp_path, "resnet50")
    with pytest.raises(WeightsMismatchError) as err:
        build_backbone("resnet18", weights=path50)
    message = str(err.value)
    assert "unexpected keys" in message and "layer1.0.conv3.weight" in message
    assert "shape mismatches" in message and "layer1.0.conv1.weight: file (64, 64, 1, 1) vs model (64, 64, 3, 3)" in message

    not_weights = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_weights)
    with pytest.raises(WeightsMismatchError, match="not a state dict"):
        build_backbone("resnet18", weights=not_weights)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_backbone("resnet18", weights=tmp_path / "nope.pth")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download fails the test: torch's download helpers, and
    below them every socket connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_no_weights_anywhere_gives_one_warning_and_random_init(no_network: None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = build_backbone("resnet18")
        b = build_backbone("resnet18")
    assert [w.category for w in caught] == [RandomInitWarning, RandomInitWarning]  # one per build
    assert "RANDOM INITIALISATION" in str(caught[0].message) and "resnet18-f37072fd.pth" in str(caught[0].message)
    assert not torch.equal(a.body.conv1.weight, b.body.conv1.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_backbone("resnet18", weights="random")  # asked for: silent
    with pytest.raises(FileNotFoundError, match="hub"):
        build_backbone("resnet18", weights="imagenet")


def test_hub_cache_file_is_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    state = models.resnet18(weights=None).state_dict()
    torch.save(state, cache / "resnet18-f37072fd.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for weights in (None, "imagenet"):
            model = build_backbone("resnet18", weights=weights)
            assert torch.equal(model.body.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert sorted(os.listdir(cache)) == ["resnet18-f37072fd.pth"]  # nothing else appeared


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = build_backbone("resnet18", embed_dim=16, num_classes=5, weights="random", last_stride=1)
    with torch.no_grad():
        model.bn.running_mean.normal_()  # buffers travel too
    model.eval()
    path = save_checkpoint(model, tmp_path / "ours.pth", extra={"dataset": "lsvid", "epoch": 3})
    loaded, extra = load_checkpoint(path, return_extra=True)
    assert isinstance(loaded, FrameBackbone) and extra == {"dataset": "lsvid", "epoch": 3}
    assert loaded.config == model.config
    loaded.eval()
    x = frames(2, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.classify(loaded(x)), model.classify(model(x)), rtol=0, atol=0)


def test_checkpoint_extra_must_be_plain_values(tmp_path: Path) -> None:
    model = build_backbone("resnet18", embed_dim=16, weights="random")
    with pytest.raises(TypeError, match=r"extra\['config'\]\['root'\] is a PosixPath"):
        save_checkpoint(model, tmp_path / "x.pth", extra={"config": {"root": tmp_path}})
    assert not (tmp_path / "x.pth").exists()
    extra = {"a": [1, 2.5, None, True, ("t", {"n": 3})], "b": torch.arange(3)}
    _, back = load_checkpoint(save_checkpoint(model, tmp_path / "y.pth", extra=extra), return_extra=True)
    assert back["a"] == extra["a"] and torch.equal(back["b"], extra["b"])


def test_checkpoint_bytes_depend_on_content_only(tmp_path: Path) -> None:
    model = build_backbone("resnet18", embed_dim=16, weights="random")
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    a = digest(save_checkpoint(model, tmp_path / "a.pth"))
    b = digest(save_checkpoint(model, tmp_path / "other_name.pth"))
    c = digest(save_checkpoint(model.to(memory_format=torch.channels_last), tmp_path / "c.pth"))
    assert a == b == c
    d = digest(save_checkpoint(model, tmp_path / "d.pth", extra={"epoch": 1}))
    assert d != a


def test_our_checkpoint_as_weights(tmp_path: Path) -> None:
    trained = build_backbone("resnet18", embed_dim=16, num_classes=5, weights="random")
    path = save_checkpoint(trained, tmp_path / "ours.pth")
    # Same identities: everything loads, classifier included.
    same = build_backbone("resnet18", embed_dim=16, num_classes=5, weights=path)
    assert torch.equal(same.classifier.weight, trained.classifier.weight)
    # Another identity set: trunk and embedding load, the classifier starts fresh.
    other = build_backbone("resnet18", embed_dim=16, num_classes=9, weights=path)
    assert torch.equal(other.embed.weight, trained.embed.weight)
    assert other.classifier.weight.shape == (9, 16)
    # A raw state_dict() of ours works too.
    raw = tmp_path / "raw.pth"
    torch.save(trained.state_dict(), raw)
    assert torch.equal(build_backbone("resnet18", embed_dim=16, weights=raw).bn.weight, trained.bn.weight)
    with pytest.raises(WeightsMismatchError, match="embed.weight"):
        build_backbone("resnet18", embed_dim=32, weights=path)
    with pytest.raises(WeightsMismatchError, match="resnet18 checkpoint, not resnet34"):
        build_backbone("resnet34", weights=path)
    with pytest.raises(WeightsMismatchError, match="not a gltr backbone checkpoint"):
        load_checkpoint(raw)


def test_channels_last_gives_the_same_embedding() -> None:
    model = build_backbone("resnet18", weights="random").eval()
    x = frames(2, 128, 64)
    with torch.no_grad():
        ref = model(x)
        model.to(memory_format=torch.channels_last)
        assert model.body.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-4)


def test_bf16_autocast_runs_and_stays_close() -> None:
    model = build_backbone("resnet18", weights="random").eval()
    x = frames(2, 128, 64)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert torch.isfinite(low).all()
    assert torch.nn.functional.cosine_similarity(low.float(), ref).min() > 0.98


def test_unknown_backbone() -> None:
    with pytest.raises(KeyError, match="resnet50"):
        build_backbone("vgg16")
