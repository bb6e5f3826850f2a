"""Speed of the metrics: uPIT SI-SNR loss forward/backward, BSS-Eval SDR and SDR/SIR/SAR against mir_eval.

Usage: python benchmarks/bench_metrics.py [--threads 2] [--repeats 5]
Prints median wall-clock times and, in brackets, the process's CPU time per call (all threads): on a
shared, loaded machine the wall time is inflated by waiting for a core and the CPU time is the better guide.
On such a machine also try ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads then sleep instead of spinning
on the cores the measured code needs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from tasnet_edu import metrics


def median_seconds(fn, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()  # warm-up (allocations, FFT plans)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def fmt(seconds: tuple[float, float]) -> str:
    return f"{1e3 * seconds[0]:8.2f} ms  (CPU {1e3 * seconds[1]:8.2f} ms)"


def bench_pit(repeats: int, batch: int = 16, n_src: int = 2, samples: int = 32000) -> None:
    ref = torch.randn(batch, n_src, samples)
    est = (ref.flip(1) + 0.3 * torch.randn_like(ref)).requires_grad_()

    def forward():
        with torch.no_grad():
            metrics.pit_si_snr(est, ref)

    def forward_backward():
        loss, _ = metrics.pit_si_snr(est, ref)
        loss.backward()

    shape = f"{batch} x {n_src} x {samples}"
    print(f"pit_si_snr forward           {shape}: {fmt(median_seconds(forward, repeats))}")
    print(f"pit_si_snr forward+backward  {shape}: {fmt(median_seconds(forward_backward, repeats))}")


def bench_sdr(repeats: int, seconds: float = 4.0, sample_rate: int = 8000) -> None:
    from mir_eval.separation import bss_eval_sources

    samples = int(seconds * sample_rate)
    ref = torch.randn(2, samples, dtype=torch.float64)
    est = ref + 0.3 * ref.flip(0) + 0.1 * torch.randn_like(ref)

    def ours():
        metrics.sdr(est, ref)

    def reference():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bss_eval_sources(ref.numpy(), est.numpy(), compute_permutation=False)

    t_ours, t_ref = median_seconds(ours, repeats), median_seconds(reference, max(1, repeats // 2))
    print(f"sdr (tasnet_edu)   2 sources x {seconds:g} s: {fmt(t_ours)}")
    print(f"bss_eval_sources   2 sources x {seconds:g} s: {fmt(t_ref)}")
    print(f"speed-up of sdr over mir_eval: {t_ref[0] / t_ours[0]:.0f}x wall, {t_ref[1] / t_ours[1]:.0f}x CPU")

    def all_three():
        metrics.bss_eval(est, ref)

    t_all = median_seconds(all_three, repeats)
    print(f"bss_eval (SDR, SIR, SAR) 2 sources x {seconds:g} s: {fmt(t_all)}; "
          f"speed-up over mir_eval {t_ref[0] / t_all[0]:.1f}x wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    bench_pit(args.repeats)
    bench_sdr(args.repeats)


if __name__ == "__main__":
    main()
