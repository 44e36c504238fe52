"""Helpers shared by the harness tests: killing a training process at a chosen point of its state."""
import signal
import subprocess
import time
from pathlib import Path

import torch


def kill_when(p: subprocess.Popen, state: Path, ready, what: str, timeout: float = 300) -> None:
    """SIGKILL ``p`` (no chance to clean up) once ``ready(its resumable state)`` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        try:
            if ready(torch.load(state, weights_only=False)):
                break
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        time.sleep(0.01)
    if p.poll() is not None:
        out = p.stdout.read() if p.stdout else ""
        raise AssertionError(f"the run ended (exit {p.returncode}) before its state recorded {what}:\n{out[-3000:]}")
    p.send_signal(signal.SIGKILL)
    p.wait()


def kill_after_epoch(p: subprocess.Popen, state: Path, epoch: int) -> None:
    kill_when(p, state, lambda st: st["epoch"] >= epoch, f"epoch {epoch}")
