"""Speed of Conv-TasNet (paper configuration) against the matmul floor, a plain baseline and torchaudio.

Usage:  python benchmarks/bench_conv_tasnet.py [--threads 2] [--repeats 5] [--train-repeats 3] [--compile]
            [--torchaudio-version 2.11.0] [--skip-ablations]
        (on a CUDA machine add --device cuda; it then runs under bf16 autocast)

Measures, in one run:
1. the matmul peak (GFLOP/s of a 2048² fp32 matmul, bf16 on CUDA) and the model's FLOPs per second of
   8 kHz audio (multiply-adds ×2 of every convolution, counted by ``torch.utils.flop_counter``); their ratio
   is the roofline real-time factor: what the model would cost if every FLOP ran at matmul speed; and the
   matmul floor: the model's own matrix products (every 1×1 convolution, at its shape) timed alone, with
   nothing else, which is as fast as any implementation that calls the library's matmul can get;
2. inference real-time factor (compute seconds per second of audio), batch 1, 4 s input, for the package's
   eager model, its fast path (``tasnet_edu.compiled.fast_model``: ONNX Runtime, CPU only), torchaudio's
   eager Conv-TasNet and the baseline below; the fast path's export time is measured from a cold cache
   and also reported amortised over a 10-minute file; the causal cLN configuration, eager and fast, too;
3. a training step, batch 2 × 4 s: forward + backward + Adam (loss: mean square against a random target —
   the loss is negligible next to the network), package vs baseline vs torchaudio;
   (2)–(3) for the package model and for ``PlainConvTasNet`` below, the same network written plainly
   (layer norm as mean/var tensor ops, grouped ``nn.Conv1d`` for the depthwise convolutions, every block's
   residual conv kept), plus one-change-at-a-time ablations of the baseline for inference, and the package
   model in fresh processes, in turn with glibc's default allocator settings (as everything else here runs)
   and with ``tasnet_edu.utils.keep_freed_memory`` (as the ``tasnet-edu`` command runs it);
4. peak memory per minute of audio at inference, package, baseline and fast path (peak resident-set growth
   in a fresh process on CPU, Linux; allocator peak on CUDA).

Runs are interleaved (A, B, A, B, …) and the best of several is kept: on a shared machine the minimum is
the least disturbed measurement. OpenMP threads wait passively here (``OMP_WAIT_POLICY=PASSIVE`` unless the
environment sets another policy; the header prints it): torch's spin-waiting threads and ONNX Runtime's pool
share one process and two cores, and with spinning either could be disturbed (six runs on an idle 2-core
machine, three each way: torchaudio's RTF 0.087-0.119 and the fast path's 0.065-0.082 with torch's default
policy, 0.089-0.094 and 0.063-0.064 with PASSIVE). On an oversubscribed machine a spinning thread that
waits for a descheduled sibling can make a 2-thread run many times slower than 1 thread. The package
model's weights are loaded into the baseline and the outputs compared, so both time the same function.

torchaudio's ``models/conv_tasnet.py`` is read at run time out of the torchaudio wheel (``pip download
torchaudio==VERSION --no-deps`` into ``--cache``, default ``~/.cache/tasnet_edu/bench``), never installed nor
kept in this repository; the file imports only torch and is loaded as a plain module. Its configuration is
the paper's (``enc_kernel_size=16, enc_num_feats=512, msk_kernel_size=3, msk_num_feats=128,
msk_num_hidden_feats=512, msk_num_layers=8, msk_num_stacks=3``, ReLU masks like the package). Without
network access or pip the benchmark says so and goes on without it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP: before its import

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tasnet_edu import compiled
from tasnet_edu.encoders import pad_to_frames
from tasnet_edu.models import ConvTasNet
from tasnet_edu.tcn import depthwise_conv
from tasnet_edu.utils import keep_freed_memory

SAMPLE_RATE = 8000
MATMUL_SIZE = 2048
AMORTISE_SECONDS = 600.0  # the fast path's export time is spread over a 10-minute file
TORCHAUDIO_CONFIG = dict(num_sources=2, enc_kernel_size=16, enc_num_feats=512, msk_kernel_size=3,
                         msk_num_feats=128, msk_num_hidden_feats=512, msk_num_layers=8, msk_num_stacks=3,
                         msk_activate="relu")


def torchaudio_conv_tasnet(version: str, cache: Path):
    """torchaudio's ``ConvTasNet`` class, read out of its wheel (downloaded once into ``cache``), or the
    reason it could not be had (a string)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"torchaudio-{version}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", f"torchaudio=={version}", "--no-deps",
               "--only-binary=:all:", "--dest", str(cache)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"`{' '.join(cmd[2:])}` failed: {err}"
        wheels = sorted(cache.glob(f"torchaudio-{version}-*.whl"))
        if done.returncode or not wheels:
            return f"`{' '.join(cmd[2:])}` failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    inside = "torchaudio/models/conv_tasnet.py"
    with zipfile.ZipFile(wheels[-1]) as wheel:
        source = wheel.read(inside).decode()
    module = types.ModuleType("torchaudio_conv_tasnet")
    exec(compile(source, f"{wheels[-1].name}/{inside}", "exec"), module.__dict__)  # imports only torch
    return module.ConvTasNet


def fast_path_cold(model: ConvTasNet, threads: int):
    """``fast_model(model)`` from a cold cache: ``(fast model, export + session seconds, disk-load seconds)``.

    The export is timed with no session in memory and no disk cache; loading from disk is timed after the
    file was written, in a fresh session cache (what a second process pays).
    """
    saved = dict(compiled._SESSIONS)
    compiled._SESSIONS.clear()
    fast = compiled.fast_model(model, threads=threads, disk_cache=False, fallback=False)
    export = fast.export_seconds
    compiled._SESSIONS.clear()
    compiled.fast_model(model, threads=threads)  # writes the file (or finds it)
    compiled._SESSIONS.clear()
    load = compiled.fast_model(model, threads=threads).export_seconds
    compiled._SESSIONS.update(saved)
    return fast, export, load


def spinning_session(model: ConvTasNet, threads: int):
    """The fast path's graph in a session whose idle threads spin (ONNX Runtime's default), for the
    ablation: the package's sessions let them sleep."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_order = ort.ExecutionOrder.PRIORITY_BASED  # as the package's sessions
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    session = ort.InferenceSession(compiled.to_onnx(model), options, providers=["CPUExecutionProvider"])
    return lambda mix: session.run(None, {"mix": mix.numpy()})[0]


class PlainLayerNorm(nn.Module):
    """gLN written out as tensor ops (several passes over memory); ``fused=True`` calls ``group_norm``."""

    def __init__(self, channels: int, fused: bool = False, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.fused, self.eps = fused, eps

    def forward(self, x):
        if self.fused:
            return F.group_norm(x, 1, self.weight, self.bias, self.eps)
        mean = x.mean(dim=(1, 2), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(1, 2), keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight[:, None] + self.bias[:, None]


class PlainBlock(nn.Module):
    def __init__(self, B, H, Sc, P, dilation, fused_norm, shift_depthwise):
        super().__init__()
        self.conv_in = nn.Conv1d(B, H, 1)
        self.prelu1, self.norm1 = nn.PReLU(), PlainLayerNorm(H, fused_norm)
        self.dconv = nn.Conv1d(H, H, P, dilation=dilation, padding=(P - 1) // 2 * dilation, groups=H)
        self.prelu2, self.norm2 = nn.PReLU(), PlainLayerNorm(H, fused_norm)
        self.res, self.skip = nn.Conv1d(H, B, 1), nn.Conv1d(H, Sc, 1)
        self.dilation, self.shift_depthwise = dilation, shift_depthwise

    def forward(self, x, residual: bool = True):
        y = self.norm1(self.prelu1(self.conv_in(x)))
        if self.shift_depthwise:
            y = depthwise_conv(y, self.dconv.weight, self.dconv.bias, self.dilation, causal=False)
        else:
            y = self.dconv(y)
        y = self.norm2(self.prelu2(y))
        return (x + self.res(y) if residual else None), self.skip(y)


class PlainConvTasNet(nn.Module):
    """The paper's non-causal gLN Conv-TasNet, written the straightforward way (the baseline).

    Flags switch on one optimisation of the package model at a time, for the ablation.
    """

    def __init__(self, n_src=2, N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3, fused_norm=False,
                 shift_depthwise=False, dead_conv=True):
        super().__init__()
        self.n_src, self.N, self.L, self.stride = n_src, N, L, L // 2
        self.encoder = nn.Module()
        self.encoder.conv = nn.Conv1d(1, N, L, stride=self.stride, bias=False)
        self.bottleneck = nn.Sequential(PlainLayerNorm(N, fused_norm), nn.Conv1d(N, B, 1))
        self.tcn = nn.Module()
        self.tcn.blocks = nn.ModuleList(
            PlainBlock(B, H, Sc, P, 2 ** (i % X), fused_norm, shift_depthwise) for i in range(X * R)
        )
        self.mask_conv = nn.Sequential(nn.PReLU(), nn.Conv1d(Sc, n_src * N, 1))
        self.decoder = nn.Module()
        self.decoder.deconv = nn.ConvTranspose1d(N, 1, L, stride=self.stride, bias=False)
        self.dead_conv = dead_conv

    def forward(self, mix):
        time_ = mix.shape[-1]
        w = self.encoder.conv(pad_to_frames(mix, self.L, self.stride)[0].unsqueeze(1))
        x = self.bottleneck(w)
        skip_sum, last = 0, len(self.tcn.blocks) - 1
        for i, block in enumerate(self.tcn.blocks):
            # The last block's residual output feeds nothing; a plain implementation computes it anyway.
            x, skip = block(x, residual=self.dead_conv or i < last)
            skip_sum = skip_sum + skip
        m = torch.relu(self.mask_conv(skip_sum)).view(mix.shape[0], self.n_src, self.N, -1)
        est = self.decoder.deconv((w.unsqueeze(1) * m).flatten(0, 1)).view(mix.shape[0], self.n_src, -1)
        return est[..., :time_]


def plain_from(model: ConvTasNet, **flags) -> PlainConvTasNet:
    """A baseline holding ``model``'s weights (its extra, dead residual conv stays randomly initialised)."""
    plain = PlainConvTasNet(**{k: model.config[k] for k in "N L B H Sc P X R".split()}, **flags)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    last = len(plain.tcn.blocks) - 1
    assert set(missing) == {f"tcn.blocks.{last}.res.weight", f"tcn.blocks.{last}.res.bias"}, missing
    assert not unexpected, unexpected
    return plain


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved_best(fns: dict, repeats: int, device) -> dict:
    """Best wall time of each function, the functions run in turn ``repeats`` times (after one warm-up)."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn, device))
    return best


def matmul_fn(device, dtype, n: int = MATMUL_SIZE):
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return lambda: a @ b


def model_flops_per_audio_second(model: ConvTasNet) -> float:
    """FLOPs of one second of audio: the convolutions of the package network, counted on a plain copy.

    The plain copy runs every convolution through ``nn.Conv1d`` (which the counter sees) and drops the dead
    residual conv like the package model does.
    """
    plain = plain_from(model, dead_conv=False)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        plain(torch.randn(1, SAMPLE_RATE))
    return counter.get_total_flops()


def matmul_floor_fn(model: ConvTasNet, frames: int, device):
    """The model's matrix products alone: one ``addmm`` per 1×1 convolution of a batch-1 pass over
    ``frames`` frames, at the package's shapes (each block's residual and skip convs are one product)."""
    shapes = [(model.bottleneck[1].out_channels, model.config["N"])]
    for block in model.tcn.blocks:
        shapes.append((block.conv_in.out_channels, block.conv_in.in_channels))
        shapes.append((block.skip.out_channels + (block.res.out_channels if block.res else 0),
                       block.skip.in_channels))
    shapes.append((model.mask_conv[1].out_channels, model.mask_conv[1].in_channels))
    mats = [[torch.randn(*size, device=device) for size in ((o, 1), (o, i), (i, frames))] for o, i in shapes]

    def run():
        with torch.inference_mode():
            for bias, weight, x in mats:
                torch.addmm(bias, weight, x)

    return run


def autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def inference_fn(model, mix, device):
    def run():
        with torch.inference_mode(), autocast(device):
            model(mix)

    return run


def train_fn(model, mix, target, device):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run():
        with autocast(device):
            est = model(mix)
        loss = (est.float() - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return run


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (Linux): VmRSS = resident now, VmHWM = peak resident."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(kind: str, seconds: float, threads: int) -> None:
    """Run in a fresh process: print the peak RSS growth (MiB) of one inference on ``seconds`` of audio.

    Uses the peak resident set of /proc (reset through clear_refs), not ``ru_maxrss``: the latter survives
    ``exec`` and would report the parent benchmark's own peak.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ConvTasNet.paper().eval()
    if kind == "plain":
        model = plain_from(model).eval()
    if kind == "fast":
        model = compiled.fast_model(model, threads=threads, disk_cache=False, fallback=False)
    with torch.inference_mode():
        model(torch.randn(1, SAMPLE_RATE // 2))
        mix = torch.randn(1, int(seconds * SAMPLE_RATE))
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak resident set size to the current one
        before = _status_kib("VmRSS")
        model(mix)
        after = _status_kib("VmHWM")
    print(json.dumps({"mib": (after - before) / 1024}))


def timing_child(allocator: str, seconds: float, repeats: int, threads: int) -> None:
    """Run in a fresh process: print the package model's best inference time with glibc's ``default``
    allocator settings or after ``keep_freed_memory`` (``kept``)."""
    if allocator == "kept":
        keep_freed_memory()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ConvTasNet.paper().eval()
    mix = torch.randn(1, int(seconds * SAMPLE_RATE))
    cpu = torch.device("cpu")
    print(json.dumps(interleaved_best({"package": inference_fn(model, mix, cpu)}, repeats, cpu)))


def allocator_ablation(seconds: float, repeats: int, threads: int, rounds: int = 3) -> dict:
    """Best inference time of the package model in fresh processes, each allocator setting in turn."""
    best = {}
    for _ in range(rounds):
        for allocator in ("default", "kept"):
            out = subprocess.run([sys.executable, __file__, "--timing-child", allocator, "--threads",
                                  str(threads), "--repeats", str(repeats)], check=True, capture_output=True,
                                 text=True)
            t = json.loads(out.stdout.strip().splitlines()[-1])["package"]
            name = f"package, fresh process, allocator {allocator}"
            best[name] = min(best.get(name, math.inf), t)
    return best


def peak_memory_mib_per_minute(kind: str, device, threads: int) -> float:
    if device.type == "cuda":
        torch.manual_seed(0)
        model = ConvTasNet.paper().to(device).eval()
        if kind == "plain":
            model = plain_from(model).to(device).eval()
        mix = torch.randn(1, 60 * SAMPLE_RATE, device=device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        inference_fn(model, mix, device)()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", kind, "--threads", str(threads)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["mib"]


def max_relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved inference runs (best kept)")
    parser.add_argument("--train-repeats", type=int, default=3, help="interleaved training steps")
    parser.add_argument("--train-batch", type=int, default=2, help="mixtures of 4 s per training step")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile(package model), inductor freezing (a slow compile)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-ablations", action="store_true",
                        help="leave out the baseline's one-change ablations and the allocator runs")
    parser.add_argument("--torchaudio-version", default="2.11.0")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tasnet_edu" / "bench",
                        help="where the torchaudio wheel is downloaded")
    parser.add_argument("--memory-child", choices=["package", "plain", "fast"], help=argparse.SUPPRESS)
    parser.add_argument("--timing-child", choices=["default", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timing_child:
        timing_child(args.timing_child, 4.0, args.repeats, args.threads)
        return 0
    if args.memory_child:
        memory_child(args.memory_child, 60.0, args.threads)
        return 0

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = ConvTasNet.paper().to(device).eval()
    plain = plain_from(model).to(device).eval()
    seconds = 4.0
    mix = torch.randn(1, int(seconds * SAMPLE_RATE), device=device)
    with torch.inference_mode():
        reference = model(mix)
        err = max_relative_difference(plain(mix), reference)
    print(f"device {device}, {args.threads} threads, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average {os.getloadavg()[0]:.1f}; "
          f"package vs baseline max |difference| {err:.2e} "
          "of the output's peak")
    TorchaudioConvTasNet = torchaudio_conv_tasnet(args.torchaudio_version, args.cache)
    if isinstance(TorchaudioConvTasNet, str):
        print(f"torchaudio's Conv-TasNet could not be fetched, left out: {TorchaudioConvTasNet}")
        TorchaudioConvTasNet = None
    else:
        print(f"torchaudio {args.torchaudio_version}'s models/conv_tasnet.py, read from its wheel "
              f"in {args.cache}")

    flops = model_flops_per_audio_second(model.cpu())
    model.to(device)
    variants = {"package": model}
    if TorchaudioConvTasNet is not None:
        variants["torchaudio"] = TorchaudioConvTasNet(**TORCHAUDIO_CONFIG).to(device).eval()
        ta_input = mix.unsqueeze(1)  # torchaudio takes (batch, 1, time)
    variants["plain baseline"] = plain
    export = None
    if device.type == "cpu":
        try:
            fast, export, load = fast_path_cold(model, args.threads)
        except compiled.CourseError as exc:
            print(f"fast path left out: {exc}")
        else:
            variants["package fast (ONNX Runtime)"] = fast
            with torch.inference_mode():
                lengths = (16, 1001, int(seconds * SAMPLE_RATE), 17 * SAMPLE_RATE + 3)
                diffs = [max_relative_difference(fast(x), model(x)) for x in
                         (mix[:, :n] if n <= mix.shape[-1] else torch.randn(1, n) for n in lengths)]
            print(f"fast path: export + session {export:.2f} s from a cold cache, {load:.2f} s from the disk "
                  f"cache; max |fast − eager| / peak {max(diffs):.1e} over lengths {lengths}")
            variants["package fast, spinning threads"] = spinning_session(model, args.threads)
            causal = ConvTasNet.paper(causal=True, norm="cLN").eval()
            causal_fast = compiled.fast_model(causal, threads=args.threads)
            with torch.inference_mode():
                err = max_relative_difference(causal_fast(mix), causal(mix))
            print(f"causal cLN paper model: export {causal_fast.export_seconds:.2f} s, max |fast − eager| / "
                  f"peak {err:.1e}")
            variants["causal cLN, package"], variants["causal cLN, package fast"] = causal, causal_fast
    if not args.skip_ablations:
        variants.update({
            "plain + group_norm gLN": plain_from(model, fused_norm=True).to(device).eval(),
            "plain + shift-add depthwise": plain_from(model, shift_depthwise=True).to(device).eval(),
            "plain + no dead conv": plain_from(model, dead_conv=False).to(device).eval(),
        })
    if args.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled_model = torch.compile(model)
        start = time.perf_counter()
        with torch.inference_mode():
            err = max_relative_difference(compiled_model(mix), reference)
        print(f"torch.compile (inductor, freezing): first call {time.perf_counter() - start:.0f} s, "
              f"max |difference| / peak {err:.1e} (a new input length compiles again)")
        variants["package + torch.compile"] = compiled_model
    # The matmul runs interleaved with the models, so that its peak and their times see the same load.
    fns = {"matmul": matmul_fn(device, torch.bfloat16 if device.type == "cuda" else torch.float32),
           "matmul floor": matmul_floor_fn(model, model.encode(mix).shape[-1], device)}
    fns.update({k: inference_fn(m, ta_input if k == "torchaudio" else mix, device)
                for k, m in variants.items()})
    best = interleaved_best(fns, args.repeats, device)
    peak = 2 * MATMUL_SIZE**3 / best.pop("matmul") / 1e9
    roofline = flops / (peak * 1e9)
    floor = best.pop("matmul floor") / seconds
    print(f"(1) matmul peak {peak:.0f} GFLOP/s; model {flops / 1e9:.2f} GFLOP per second of audio; "
          f"roofline RTF {roofline:.4f}; matmul floor (its 1×1 convs alone) RTF {floor:.4f} = "
          f"{floor / roofline:.2f}× roofline")
    if device.type == "cpu" and not args.skip_ablations:
        best.update(allocator_ablation(seconds, args.repeats, args.threads))
    print(f"(2) inference, batch 1 × {seconds:.0f} s, best of {args.repeats} (RTF = compute s per audio s):")
    reference_name = "torchaudio" if "torchaudio" in best else "plain baseline"
    for name, t in best.items():
        rtf = t / seconds
        print(f"    {name:45s} RTF {rtf:.4f} = {rtf / floor:.2f}× matmul floor, "
              f"{rtf / roofline:.2f}× roofline, {best[reference_name] / t:.2f}× faster than {reference_name}")
    goals = []
    if export is not None:
        rtf = best["package fast (ONNX Runtime)"] / seconds
        amortised = rtf + export / AMORTISE_SECONDS
        saving = best["package"] / seconds - rtf  # compute seconds saved per second of audio
        payback = f"after {export / saving:.1f} s of audio" if saving > 0 else "never (not faster here)"
        print(f"    fast path with its export ({export:.2f} s) amortised over "
              f"{AMORTISE_SECONDS / 60:.0f} minutes of audio: RTF {amortised:.4f} = {amortised / floor:.2f}× "
              f"matmul floor; export paid back (fast + export < eager) {payback}")
        goals.append(("inference within 1.3× of the matmul floor (amortised)", amortised / floor, 1.3, "≤"))
        if "torchaudio" in best:
            goals.append(("inference vs torchaudio eager (amortised)",
                          best["torchaudio"] / seconds / amortised, 1.5, "≥"))

    if not args.skip_train:
        batch = torch.randn(args.train_batch, int(seconds * SAMPLE_RATE), device=device)
        target = torch.randn(args.train_batch, 2, batch.shape[-1], device=device)
        train = {"package": ConvTasNet.paper().to(device).train()}
        train["plain baseline"] = plain_from(train["package"]).to(device).train()
        fns = {k: train_fn(m, batch, target, device) for k, m in train.items()}
        if TorchaudioConvTasNet is not None:
            fns["torchaudio"] = train_fn(TorchaudioConvTasNet(**TORCHAUDIO_CONFIG).to(device).train(),
                                         batch.unsqueeze(1), target, device)
        best = interleaved_best(fns, args.train_repeats, device)
        reference_name = "torchaudio" if "torchaudio" in best else "plain baseline"
        print(f"(3) training step, batch {args.train_batch} × {seconds:.0f} s, fwd+bwd+Adam, "
              f"best of {args.train_repeats}:")
        for name, t in best.items():
            print(f"    {name:30s} {t:.2f} s/step, "
                  f"{best[reference_name] / t:.2f}× faster than {reference_name}")
        if "torchaudio" in best:
            goals.append(("training step vs torchaudio", best["torchaudio"] / best["package"], 1.5, "≥"))

    for kind in ("package", "plain") + (("fast",) if export is not None else ()):
        mib = peak_memory_mib_per_minute(kind, device, args.threads)
        print(f"(4) peak inference memory, {kind}: {mib:.0f} MiB per minute of audio")
    for goal, value, target, sense in goals:
        met = value <= target if sense == "≤" else value >= target
        print(f"goal: {goal}: {value:.2f}× (goal {sense} {target}×) {'met' if met else 'NOT met'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
