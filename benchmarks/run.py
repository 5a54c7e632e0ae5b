"""Adapter-generation speed, side by side, in one table: `python -m benchmarks.run` (or `python benchmarks/run.py`).

For SmolLM2-135M and Mistral-7B LoRA shapes (q_proj, v_proj, rank 8) and each head (L, M, S), with random weights:
- hypernet: one batched `T2LModel` forward for 1 and for 64 task embeddings;
- floor: max(hypernet weight bytes / measured read bandwidth, forward FLOPs / measured matmul rate), measured here;
- loop: the same weights run on the reference implementation's schedule (one description, then one module at a time);
- end to end: descriptions in, PEFT state dicts out, with the all-MiniLM-L6-v2 text encoder (new descriptions, so
  nothing is cached) and, for comparison, the same descriptions again through the adapter cache;
- time to adapter versus fine-tuning a LoRA for the task on this machine (measured SFT step time x steps).

The machine is measured in the same run. On a shared machine, run it twice and read the spread column.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks.cases import all_cases  # noqa: E402
from benchmarks.reference_loop import heads_only, per_module_loop  # noqa: E402
from benchmarks.roofline import count_flops, floor, measure_machine  # noqa: E402
from peft_t2l import T2LModel, generate_lora  # noqa: E402

# SmolLM2-135M, fp32, 2 threads, 8x128 tokens, AdamW (docs/NOTES-stack): the cost of one LoRA SFT step here.
SFT_STEP_SECONDS = 4.9


@dataclass
class Timing:
    median: float
    low: float
    high: float

    @property
    def spread(self) -> float:
        return self.high / self.low - 1


def timed(fn, reps: int, *, warmup: int = 1, clock=time.perf_counter) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = clock()
        fn()
        times.append(clock() - start)
    return Timing(statistics.median(times), min(times), max(times))


def keep_freed_memory() -> None:
    """Process-wide glibc setting (this benchmark's choice, not the library's): no mmap for big blocks, no trimming."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-4, 0)  # M_MMAP_MAX
    libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds:.0f}s"


def _descriptions(n: int, salt: int) -> list[str]:
    return [
        f"Task {salt}-{i}: answer questions about topic number {i * 7 + salt} concisely and correctly."
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="*", default=None, help="SmolLM2-135M and/or Mistral-7B (default both)")
    parser.add_argument("--heads", default="LMS")
    parser.add_argument("--batch", type=int, nargs="*", default=[1, 64], help="descriptions per call")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (fewer for large cases)")
    parser.add_argument("--dtypes", nargs="*", default=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: one torch thread timed by its own CPU time, which other processes on a shared machine cannot inflate",
    )
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end rows (no text encoder)")
    parser.add_argument("--no-loop", action="store_true", help="skip the reference-schedule rows")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc: serve large tensors from the heap and keep freed memory (mallopt), so repeated forwards stop "
        "paying page faults for fresh buffers; the same as MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824",
    )
    parser.add_argument("--sft-steps", type=int, default=500, help="steps of the LoRA fine-tune compared against")
    args = parser.parse_args(argv)

    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    if args.clock == "cpu":
        args.threads = 1
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # keep the tokenizer's work on the timed thread
    if args.keep_freed_memory:
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtypes = [getattr(torch, d) for d in args.dtypes]
    load = os.getloadavg()[0]
    machine = measure_machine(dtypes=tuple(dtypes), clock=clock)
    rates = ", ".join(f"{k} matmul {v:.0f} GFLOP/s" for k, v in machine.matmul_gflops.items())
    print(
        f"# T2L adapter generation, {args.threads} thread(s), {args.clock} clock, torch {torch.__version__}, "
        f"{'heap keeps freed memory' if args.keep_freed_memory else 'default allocator'}; load average {load:.1f}"
    )
    print(f"# measured now: read bandwidth {machine.read_gbps:.1f} GB/s, {rates}\n")

    encoder = None
    if not args.no_e2e:
        from peft_t2l.defaults import DEFAULT_ENCODER
        from peft_t2l.encoders import SentenceTransformerEncoder
        from peft_t2l.serving import AdapterCache

        encoder = SentenceTransformerEncoder(DEFAULT_ENCODER)  # uncached: every description really is encoded

    header = (
        "| shapes | head | params | dtype | N | hypernet ms (median) | spread | floor ms (bound) | x floor | heads-only ms "
        "| loop ms | loop / hypernet | end-to-end ms | cached ms | adapters/s |"
    )
    print(header)
    print("|" + "|".join(["---"] * (header.count("|") - 1)) + "|")
    first_adapter = {}
    salt = 0
    for case in all_cases(args.shapes, args.heads):
        model32 = T2LModel(case.config()).eval()
        params = sum(p.numel() for p in model32.parameters())
        for dtype in dtypes:
            model = model32 if dtype == torch.float32 else T2LModel(case.config()).to(dtype).eval()
            if dtype != torch.float32:
                model.load_state_dict(model32.state_dict())
            weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
            for n in args.batch:
                emb = torch.randn(n, 384)
                reps = max(2, args.reps if n * params < 64 * 2e6 else args.reps // 2)
                with torch.inference_mode():
                    hyper = timed(lambda m=model, e=emb: m(e), reps, clock=clock)
                    flops = count_flops(model, emb)
                    heads = timed(lambda m=model, n=n: heads_only(m, n), reps, clock=clock)
                    bound = floor(weight_bytes=weight_bytes, flops=flops, machine=machine, dtype=dtype)
                    loop = (
                        None
                        if args.no_loop
                        else timed(lambda m=model, e=emb: per_module_loop(m, e), max(2, reps // 2), clock=clock)
                    )
                e2e = cached = None
                if encoder is not None and dtype == torch.float32:
                    model.set_text_encoder(encoder)

                    def fresh(m=model, n=n):
                        nonlocal salt
                        salt += 1
                        return generate_lora(m, _descriptions(n, salt))

                    e2e = timed(fresh, max(2, reps // 2), clock=clock)
                    cache = AdapterCache(max_adapters=max(64, n))
                    texts = _descriptions(n, -1)
                    cache.get_or_generate(model, texts)
                    cached = timed(lambda m=model, t=texts, c=cache: c.get_or_generate(m, t), reps, clock=clock)
                    if n == 1:
                        first_adapter[(case.shapes, case.head)] = e2e.median
                cells = [
                    case.shapes, case.head, f"{params / 1e6:.1f}M", str(dtype).removeprefix("torch."), str(n),
                    ms(hyper.median), f"{hyper.spread:.0%}", f"{ms(bound.seconds)} ({bound.bound})",
                    f"{hyper.median / bound.seconds:.2f}", ms(heads.median),
                    ms(loop.median) if loop else "-", f"{loop.median / hyper.median:.1f}x" if loop else "-",
                    ms(e2e.median) if e2e else "-", ms(cached.median) if cached else "-",
                    f"{n / (e2e.median if e2e else hyper.median):.0f}",
                ]  # fmt: skip
                print("| " + " | ".join(cells) + " |", flush=True)
    if first_adapter:
        train = SFT_STEP_SECONDS * args.sft_steps
        print(
            f"\nTime to an adapter vs fine-tuning one: {args.sft_steps} LoRA SFT steps x {SFT_STEP_SECONDS} s "
            f"(SmolLM2-135M, this machine) = {train / 60:.0f} min."
        )
        for (shapes, head), seconds in first_adapter.items():
            if shapes == "SmolLM2-135M":
                print(f"  {shapes} {head}: {seconds * 1e3:.0f} ms end to end, {train / seconds:,.0f}x sooner")
    print(f"\nload average after: {os.getloadavg()[0]:.1f} (before: {load:.1f})")


if __name__ == "__main__":
    main()
