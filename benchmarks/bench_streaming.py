"""Real-time streaming speed of a causal Conv-TasNet: compute time per chunk, the smallest real-time chunk,
and the end-to-end latency, beside the paper's time per frame.

Usage:  python benchmarks/bench_streaming.py [--seconds 2] [--threads 2 1] [--chunks-ms 1 2 4 8 16 32]
                                             [--engines eager onnx]
        (on a loaded machine also set OMP_WAIT_POLICY=PASSIVE, see below)

For each thread count (``torch.set_num_threads``; ONNX Runtime's session gets as many), each model, engine
and chunk length, ``--seconds`` of the committed data sample 0 are pushed through
``tasnet_edu.streaming.StreamingSeparator(model, engine)`` one chunk at a time and every push is timed (the
first few are warm-up and not counted). Engines: ``eager``, the PyTorch code of ``streaming``; ``onnx``, one
ONNX Runtime call per chunk (``compiled.FastStream``; its export is done before the timing). Two models:

* ``course-small-causal``, the shipped causal model (N=256, L=32: frames hop by 2 ms);
* ``paper-causal``, the paper's causal configuration, ``ConvTasNet(causal=True, norm="cLN")`` with its
  defaults (N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3: frames hop by 1 ms), random weights.

A chunk runs in real time when its mean compute time is shorter than the chunk itself (real-time factor
< 1). The end-to-end latency of a real-time chunk is the algorithmic latency L / sample rate (the output
lags the input by less than one window) plus the chunk (its first sample waits for the last) plus the
mean compute time. A chunk shorter than one hop (1 ms for ``course-small-causal``) completes a frame only
every other push, so its mean is half a frame's work; the push that completes a frame takes a whole one.

For comparison with the paper, the time per frame (TPF, the paper's measure: compute time divided by the
frames computed) is also measured offline, the whole signal at once, as the paper measured it.

Timings are the machine's, at that moment: on a shared machine the load average printed with the table
says how much else was running. OpenMP threads that spin-wait for a descheduled sibling can make two
threads many times slower than one on an oversubscribed machine; ``OMP_WAIT_POLICY=PASSIVE`` avoids that.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from tasnet_edu import pretrained
from tasnet_edu.data import load_sample_mixture
from tasnet_edu.models import ConvTasNet
from tasnet_edu.streaming import StreamingSeparator

SAMPLE_RATE = 8000
WARMUP_PUSHES = 5

#: Luo & Mesgarani, "Conv-TasNet: Surpassing Ideal Time-Frequency Magnitude Masking for Speech
#: Separation", IEEE/ACM TASLP 27(8), 2019, section IV-E "Processing speed comparison", Table VIII: time
#: per frame (TPF) of the causal Conv-TasNet-cLN (the configuration of ``paper-causal``), averaged over the
#: frames of whole test mixtures; the paper's frame is L = 16 samples = 2 ms.
PAPER_TPF = (
    ("Conv-TasNet-cLN, paper Table VIII (sec. IV-E)", "Intel Core i7-5820K, one processor", 0.4),
    ("Conv-TasNet-cLN, paper Table VIII (sec. IV-E)", "Nvidia Titan Xp GPU", 0.02),
)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def models() -> dict[str, ConvTasNet]:
    torch.manual_seed(0)
    return {
        "course-small-causal": pretrained.load("course-small-causal"),
        "paper-causal": ConvTasNet(causal=True, norm="cLN").eval(),
    }


def time_stream(model: ConvTasNet, signal: torch.Tensor, chunk: int, engine: str) -> float:
    """Mean seconds of compute per ``push`` of ``chunk`` samples, over ``signal`` streamed from the start."""
    stream = StreamingSeparator(model, engine)
    times = []
    for start in range(0, len(signal) - chunk + 1, chunk):
        piece = signal[start:start + chunk]
        begin = time.perf_counter()
        stream.push(piece)
        times.append(time.perf_counter() - begin)
    return statistics.fmean(times[WARMUP_PUSHES:])


def offline_tpf(model: ConvTasNet, signal: torch.Tensor, repeats: int = 3) -> float:
    """Seconds per frame of ``model`` on the whole ``signal`` at once (best of ``repeats``), as the paper
    measured its TPF."""
    frames = (len(signal) - model.L) // model.stride + 1
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            begin = time.perf_counter()
            model(signal[None])
            best = min(best, time.perf_counter() - begin)
    return best / frames


def measure(threads: int, named: dict[str, ConvTasNet], signal: torch.Tensor, chunks_ms: list[float],
            engines: list[str]):
    """Rows ``(threads, name, engine, chunk_ms, chunk_samples, compute_ms, rtf, tpf_ms, latency_ms)`` and
    the offline time per frame of each model, in ms. The engines alternate chunk by chunk length, so that
    a change of the machine's load falls on both."""
    torch.set_num_threads(threads)
    rows, offline = [], {}
    for name, model in named.items():
        algorithmic_ms = 1000 * model.L / SAMPLE_RATE
        for chunk_ms in chunks_ms:
            chunk = round(chunk_ms * SAMPLE_RATE / 1000)
            for engine in engines:
                compute_ms = 1000 * time_stream(model, signal, chunk, engine)
                rows.append((threads, name, engine, chunk_ms, chunk, compute_ms, compute_ms / chunk_ms,
                             compute_ms * model.stride / chunk, algorithmic_ms + chunk_ms + compute_ms))
        offline[name] = 1000 * offline_tpf(model, signal)
    return rows, offline


def print_tables(rows, offline: dict[tuple[int, str], float]) -> None:
    print("| threads | model | engine | chunk (ms) | samples | compute per chunk (ms) | real-time factor | "
          "time per frame (ms) | end-to-end latency (ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for threads, name, engine, chunk_ms, chunk, compute_ms, rtf, tpf_ms, latency_ms in rows:
        latency = f"{latency_ms:.2f}" if rtf < 1 else "— (slower than real time)"
        print(f"| {threads} | {name} | {engine} | {chunk_ms:g} | {chunk} | {compute_ms:.3f} | {rtf:.2f} | "
              f"{tpf_ms:.3f} | {latency} |")

    print("\nSmallest chunk that runs faster than real time:\n")
    print("| threads | model | engine | smallest real-time chunk (ms) | end-to-end latency (ms) |")
    print("|---|---|---|---|---|")
    for key in dict.fromkeys(r[:3] for r in rows):
        fast = [r for r in rows if r[:3] == key and r[6] < 1]
        best = min(fast, key=lambda r: r[3]) if fast else None
        print(f"| {' | '.join(map(str, key))} | {best[3]:g} | {best[8]:.2f} |" if best else
              f"| {' | '.join(map(str, key))} | none of those measured | — |")

    print("\nTime per frame (TPF) beside the paper's (frame = one hop of the encoder):\n")
    print("| system | hardware | time per frame (ms) |")
    print("|---|---|---|")
    for system, hardware, tpf in PAPER_TPF:
        print(f"| {system} | {hardware} | {tpf} |")
    for (threads, name), tpf in offline.items():
        print(f"| {name}, ours, whole signal at once | {cpu_name()}, {threads} thread(s) | {tpf:.3f} |")
    for threads, name, engine, chunk_ms, _, _, _, tpf_ms, _ in rows:
        if name == "paper-causal" and chunk_ms == max(r[3] for r in rows):
            print(f"| {name}, ours, streamed in {chunk_ms:g} ms chunks, {engine} | {cpu_name()}, "
                  f"{threads} thread(s) | {tpf_ms:.3f} |")
    print("\nThe paper's TPF is the time to separate whole mixtures divided by their frames (it points out "
          "that Conv-TasNet's frames can be processed in parallel), so it compares with the 'whole signal at "
          "once' rows; a stream computes a few frames per call, at more cost per frame.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="audio streamed per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts")
    parser.add_argument("--chunks-ms", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32],
                        help="chunk lengths in milliseconds")
    parser.add_argument("--engines", nargs="+", default=["eager", "onnx"], choices=["eager", "onnx"],
                        help="StreamingSeparator engines to time")
    args = parser.parse_args(argv)
    if args.seconds * 1000 < (WARMUP_PUSHES + 1) * max(args.chunks_ms):
        needed = (WARMUP_PUSHES + 1) * max(args.chunks_ms) / 1000
        parser.error(f"--seconds {args.seconds:g} is too short: a row needs {WARMUP_PUSHES} warm-up chunks "
                     f"and one more ({needed:g} s of the longest)")
    signal = load_sample_mixture(0)[0][: round(args.seconds * SAMPLE_RATE)]
    named = models()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU(s), OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}; {len(signal) / SAMPLE_RATE:g} s streamed per row; "
          f"load average at the start {os.getloadavg()[0]:.1f}\n")
    rows, offline = [], {}
    for threads in args.threads:
        more_rows, more_offline = measure(threads, named, signal, args.chunks_ms, args.engines)
        rows += more_rows
        offline.update({(threads, name): tpf for name, tpf in more_offline.items()})
    print_tables(rows, offline)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s): with other "
          "work running, these times are upper bounds.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
