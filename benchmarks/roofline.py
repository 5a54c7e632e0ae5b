"""What this machine can do, measured now: memory read bandwidth and matmul throughput, and a case's floor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Machine:
    """Measured peak rates (best of a few runs)."""

    read_gbps: float
    matmul_gflops: dict[str, float]  # dtype name -> GFLOP/s


def _best(fn, reps: int, clock=time.perf_counter) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


@torch.inference_mode()
def measure_machine(
    *, dtypes: tuple[torch.dtype, ...] = (torch.float32,), reps: int = 5, clock=time.perf_counter
) -> Machine:
    """Read bandwidth of a 256 MiB sum (far larger than the caches) and the rate of a 1536^3 matmul per dtype.

    Args:
        clock: `time.perf_counter` (wall) or `time.thread_time` (CPU time of this thread, with one torch thread).
    """
    big = torch.ones(64 * 2**20)  # 256 MiB of float32
    read = big.numel() * 4 / _best(big.sum, reps, clock) / 1e9
    rates, n = {}, 1536
    for dtype in dtypes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        rates[str(dtype).removeprefix("torch.")] = 2 * n**3 / _best(partial(torch.mm, a, b), reps, clock) / 1e9
    return Machine(read_gbps=read, matmul_gflops=rates)


@torch.inference_mode()
def count_flops(model: torch.nn.Module, *inputs) -> int:
    """Floating-point operations of one forward (matmuls, as torch's FLOP counter counts them)."""
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops()


@dataclass
class Floor:
    """The larger of the time to read the weights once and the time to do the FLOPs at the measured rate."""

    seconds: float
    bound: str  # "memory" or "compute"


def floor(*, weight_bytes: int, flops: int, machine: Machine, dtype: torch.dtype) -> Floor:
    memory = weight_bytes / (machine.read_gbps * 1e9)
    compute = flops / (machine.matmul_gflops[str(dtype).removeprefix("torch.")] * 1e9)
    return Floor(max(memory, compute), "memory" if memory >= compute else "compute")
