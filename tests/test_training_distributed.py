"""Multi-process data parallel: 2 CPU processes (gloo) end with identical hypernetwork weights."""

from __future__ import annotations

import json
import socket
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_training_helpers import run_runner, write_run_files

from peft_t2l.training.checkpoint import list_checkpoints


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    return write_run_files(tmp_path_factory.mktemp("ddp"))


def test_two_processes_end_with_identical_weights(run_files):
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}"]
    out = run_files / "ddp"
    result = run_runner(run_files, f"output_dir={out}", "max_steps=4", "save_every=2", launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = load_file(out / "final-rank0.safetensors"), load_file(out / "final-rank1.safetensors")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    state = json.loads((list_checkpoints(out)[-1] / "state.json").read_text())
    assert len(state["python_random"]) == 2  # each rank's RNG is saved for an exact resume
