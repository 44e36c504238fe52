"""TrainState: the one resumable-training-state helper both training stages use."""
import pytest
import torch

import benchmark.runtime as runtime
from benchmark.train_state import TrainState

CPU = torch.device("cpu")


def make(path, device=CPU, seed=0):
    """A tiny model, its optimiser and scheduler, a generator, and their TrainState; each seeded the same way."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed + 1)
    state = TrainState(path, device=device, modules={"model": model}, optimizer=opt, scheduler=sched, generator=gen)
    return model, opt, sched, gen, state


def step(model, opt, sched, gen, device=CPU):
    """One training step drawing from the global RNG (dropout-like noise) and from ``gen`` (the batch): returns both draws."""
    x = torch.randn(6, 4, device=device, generator=gen)
    noise = torch.rand(6, 3, device=device)
    loss = (model(x) * noise).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return x, noise


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (k, v), (k2, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2
        torch.testing.assert_close(v, w, rtol=0, atol=0)


def test_no_file_loads_nothing(tmp_path):
    *_, state = make(tmp_path / "train_state.pt")
    assert state.load() is None
    state.discard()  # nothing there: not an error


def test_a_save_reloads_into_fresh_objects(tmp_path):
    path = tmp_path / "train_state.pt"
    model, opt, sched, gen, state = make(path)
    for _ in range(3):
        step(model, opt, sched, gen)
    state.save(epoch=2, batch=None, loss_sum=1.5, correct=7)
    # the file keeps the flat layout the kill-and-resume tests (and older runs) read
    assert set(torch.load(path, weights_only=False)) == {"model", "optimizer", "scheduler", "torch_rng", "cuda_rng", "generator", "epoch", "batch", "loss_sum", "correct"}
    model2, opt2, sched2, gen2, state2 = make(path, seed=9)  # other weights until loaded
    assert state2.load() == {"epoch": 2, "batch": None, "loss_sum": 1.5, "correct": 7}
    assert_same_state(model, model2)
    assert sched2.state_dict() == sched.state_dict() and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), model2.parameters()):
        torch.testing.assert_close(opt2.state[q]["momentum_buffer"], opt.state[p]["momentum_buffer"], rtol=0, atol=0)
    assert torch.equal(gen2.get_state(), gen.get_state())
    state2.discard()
    assert not path.exists()


def test_a_resumed_run_continues_as_the_uninterrupted_one(tmp_path):
    """The random draws (global RNG and generator) and the weights after a reload are those of a run never stopped."""
    ref = make(tmp_path / "ref.pt")
    ref_draws = [step(*ref[:4]) for _ in range(5)]
    ref_rng = torch.get_rng_state()
    run = make(tmp_path / "run.pt")
    for _ in range(2):
        step(*run[:4])
    run[4].save(epoch=1)
    torch.manual_seed(1234)  # a new process: the global RNG is wherever it happens to be
    fresh = make(tmp_path / "run.pt", seed=77)
    assert fresh[4].load() == {"epoch": 1}
    draws = [step(*fresh[:4]) for _ in range(3)]
    for (x, noise), (x_ref, noise_ref) in zip(draws, ref_draws[2:]):
        assert torch.equal(x, x_ref) and torch.equal(noise, noise_ref)
    assert_same_state(fresh[0], ref[0])
    assert torch.equal(torch.get_rng_state(), ref_rng) and torch.equal(fresh[3].get_state(), ref[3].get_state())


def test_a_failed_save_leaves_the_previous_state_whole(tmp_path, monkeypatch):
    path = tmp_path / "train_state.pt"
    model, opt, sched, gen, state = make(path)
    state.save(epoch=0)
    before = path.read_bytes()
    step(model, opt, sched, gen)

    def torch_save_dies_halfway(obj, f):
        with open(f, "wb") as out:
            out.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runtime.torch, "save", torch_save_dies_halfway)
    with pytest.raises(OSError, match="No space left"):
        state.save(epoch=1)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert make(path, seed=3)[4].load() == {"epoch": 0}


def test_a_state_without_global_rng_states_still_loads(tmp_path):
    """Stage (b) states written before TrainState carry only their generator's state."""
    path = tmp_path / "train_state.pt"
    model, opt, sched, gen, state = make(path)
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state(), "epoch": 4}, path)
    fresh = make(path, seed=1)[4]
    rng = torch.get_rng_state()
    assert fresh.load() == {"epoch": 4}
    assert torch.equal(torch.get_rng_state(), rng)  # left where it was


def test_names_that_would_overwrite_its_own_keys_are_refused(tmp_path):
    model, opt, sched, gen, state = make(tmp_path / "s.pt")
    with pytest.raises(ValueError, match="extras"):
        state.save(torch_rng=0)
    with pytest.raises(ValueError, match="extras"):
        state.save(model=0)
    with pytest.raises(ValueError, match="module names"):
        TrainState(tmp_path / "s.pt", device=CPU, modules={"optimizer": model}, optimizer=opt, scheduler=sched)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_and_generator_continue_after_a_reload(tmp_path):
    cuda = torch.device("cuda")
    ref = make(tmp_path / "ref.pt", device=cuda)
    ref_draws = [step(*ref[:4], device=cuda) for _ in range(4)]
    run = make(tmp_path / "run.pt", device=cuda)
    step(*run[:4], device=cuda)
    run[4].save(epoch=0)
    torch.manual_seed(99)  # reseeds the CUDA generators too
    fresh = make(tmp_path / "run.pt", device=cuda, seed=5)
    assert fresh[4].load() == {"epoch": 0}
    for (x, noise), (x_ref, noise_ref) in zip([step(*fresh[:4], device=cuda) for _ in range(3)], ref_draws[1:]):
        assert torch.equal(x, x_ref) and torch.equal(noise, noise_ref)
