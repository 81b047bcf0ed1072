"""A training run killed with SIGKILL resumes from its last checkpoint and ends where an
uninterrupted run ends: same steps logged once each, same final weights."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.tiny_data import cached_easy_model

MAX_STEPS = 40


def _command(model: Path, store: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "shop_env.cli", "train", "sft", "--model", str(model), "--data", str(store),
            "--split", "all", "--out", str(out), "--max-steps", str(MAX_STEPS), "--lr", "1e-3", "--seed", "3",
            "--set", "save_every=2", "--set", "grad_accum=1", "--set", "progress=false",
            "--set", "tensorboard=false", "--set", "max_length=512"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def _logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def _checkpoint_step(out: Path) -> int:
    pointer = out / "latest"
    if not pointer.exists():
        return 0
    return int(pointer.read_text().strip().rsplit("-", 1)[-1])


def test_sigkilled_sft_resumes_to_the_same_result(tmp_path):
    model, store = cached_easy_model()
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(_command(model, store, clean), env=_env(), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(_command(model, store, killed), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _checkpoint_step(killed) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = _checkpoint_step(killed)
    assert 6 <= at_kill < MAX_STEPS and not (killed / "final").exists()

    subprocess.run(_command(model, store, killed), env=_env(), check=True, capture_output=True, timeout=300)
    assert _logged_steps(killed) == _logged_steps(clean) == list(range(1, MAX_STEPS + 1))
    assert not list(killed.glob(".*tmp-*")), "temporary checkpoint folders left behind"
    a, b = _weights(clean), _weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-6), name
