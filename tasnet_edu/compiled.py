"""A fast inference path for Conv-TasNet: the trained network written as an ONNX graph, run by ONNX Runtime.

The eager ``ConvTasNet`` is the readable, paper-shaped teaching code; on a CPU its element-wise passes
(PReLU, layer norms, depthwise convolutions, residual adds over ``H × frames`` tensors) cost about half as
much again as its matrix products. ``fast_model(model)`` writes, once per set of weights, an inference
graph of the same function with most of those passes folded away, and returns a module with the eager
model's contract:

    ``(batch, time) → (batch, n_src, time)`` for any ``time ≥ L``, equal to ``model(mix)`` within 1e-4 of
    the output's scale (tested; ~1e-6 in practice), with the attributes the package reads (``sample_rate``,
    ``L``, ``stride``, ``n_src``, ``N``, ``receptive_field``, ``config``).

What the graph does differently from the eager forward (the same function, rearranged; ``to_onnx``):

* it runs one example at a time, so gLN's mean μ and inverse deviation r are two scalars; they and the
  norm's gain γ and bias β fold into the convolution that follows the norm: the 1×1 convs get weights
  ``r·W·diag γ`` and a bias from μ, and the depthwise conv reads ``x + β/(γ·r) − μ`` with weights
  ``w·γ·r``, exact on its zero padding too. The normalised tensor is never written;
* a single-slope PReLU becomes a LeakyRelu constant, which ONNX Runtime fuses into the conv before it;
* cLN keeps its float64 running sums (then only its affine folds); batch norm folds whole.

It is written op by op from the weights (``to_onnx``, well under a second for the paper's configuration;
``torch.onnx.export`` took 1.4 s with the TorchScript exporter, which is deprecated, and 19 s with the
dynamo one), so nothing depends on tracing and no length is specialised. The graph is cached twice: in
this process (one session per set of weights and thread count, reused by every call, file or chunk) and
on disk (``cache_dir()``), keyed by a hash of the weights and configuration (``model_key``), so a second
process only loads the file. ``export_seconds`` on the returned module says what the first call cost.

Needs ``onnxruntime`` and ``onnx`` (``pip install "tasnet-edu[fast]"``); without them ``fast_model`` says
so once and gives back the eager model. CPU, float32, inference only: no gradients.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tasnet_edu.errors import CourseError
from tasnet_edu.models import ConvTasNet
from tasnet_edu.utils import check_finite, check_waveform_batch

GRAPH_VERSION = "3"  # bump when the exported graph changes: it is part of the disk cache key
OPSET = 18
INSTALL_HINT = 'pip install "tasnet-edu[fast]" (onnxruntime and onnx)'
IR_VERSION = 9  # the ONNX file format version; 9 is read by every onnxruntime since 1.15


def _require(module: str):
    """Import an optional dependency of the fast path, or raise ``CourseError`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise CourseError(f"the fast inference path needs {module}, which is not installed: {INSTALL_HINT}") \
            from err


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def _affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(γ, β)`` of a layer norm in float64; batch norm's running statistics folded in (inference)."""
    if isinstance(norm, nn.BatchNorm1d):
        scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
        return scale, norm.bias.double() - norm.running_mean.double() * scale
    return norm.weight.double(), norm.bias.double()


def _norm_kind(norm: nn.Module) -> str:
    if isinstance(norm, nn.BatchNorm1d):
        return "BN"
    return "cLN" if type(norm).__name__ == "CumulativeLayerNorm" else "gLN"


def _fold(conv: nn.Conv1d | None, gain: torch.Tensor, bias: torch.Tensor, rows=slice(None)):
    """A 1×1 conv applied after the affine ``γ ⊙ n + β``, as one conv on ``n``: ``(W diag γ, W β + b)``.

    ``rows`` picks output channels. Shapes: weight ``(out, in, 1)``, bias ``(out,)``.
    """
    w = conv.weight.detach().double()[rows, :, 0]
    b = conv.bias.detach().double()[rows] + w @ bias
    return (w * gain[None, :])[:, :, None], b


class _Onnx:
    """An ONNX graph being written: each method adds one node (or weight) and returns its output's name."""

    def __init__(self):
        self.onnx = _require("onnx")
        self.nodes, self.weights, self.count = [], [], 0
        # The number of frames as a float64 scalar, read once from the encoder's output (``to_onnx``):
        # a Shape or Size node on each normalised tensor would keep that tensor alive until the node runs.
        self.frames = None

    def _name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, hint: str = "w", dtype=np.float32) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        name = self._name(hint)
        self.weights.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values), hint, np.int64)

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, inputs, outputs) -> bytes:
        h = self.onnx.helper
        graph = h.make_graph(self.nodes, "conv_tasnet", inputs, outputs, self.weights)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                             producer_name="tasnet_edu.compiled", producer_version=GRAPH_VERSION)
        return model.SerializeToString()

    # --- layers ------------------------------------------------------------------------------------------

    def f64(self, value: float) -> str:
        return self.const(value, "scalar", np.float64)

    def conv(self, x: str, weight, bias, **attrs) -> str:
        """A convolution; ``weight``/``bias`` are tensors (stored) or names of computed values."""
        weight = weight if isinstance(weight, str) else self.const(weight, "conv_w")
        bias = bias if isinstance(bias, str) else self.const(bias, "conv_b")
        return self.op("Conv", x, weight, bias, **attrs)

    def prelu(self, x: str, prelu: nn.PReLU) -> str:
        slope = prelu.weight.detach()
        if slope.numel() == 1:  # a constant slope: LeakyRelu, which ONNX Runtime fuses into the conv before
            return self.op("LeakyRelu", x, alpha=float(slope))
        return self.op("PRelu", x, self.const(slope[:, None], "slope"))

    def gln_stats(self, x: str, channels: int, eps: float) -> tuple[str, str]:
        """gLN's mean and 1/std over channels × frames of ``x (1, C, frames)``, as float32 scalars.

        Sums run per channel (in parallel), then over channels in float64, so that E[x²] − E[x]² keeps its
        precision over millions of values. The squares are summed as ``ReduceSum(x·x)``: ONNX Runtime's
        ReduceSumSquare took twice as long on ``(1, 512, 4000)`` (1.7 vs 0.9 ms, 2 threads), and a batched
        MatMul of ``x`` with itself was slower inside the graph.
        """
        frames_axis = self.ints([2], "axis")
        total = self.op("ReduceSum", x, frames_axis, keepdims=1)  # (1, C, 1)
        total_sq = self.op("ReduceSum", self.op("Mul", x, x), frames_axis, keepdims=1)
        total, total_sq = (self.op("ReduceSum", self.op("Cast", t, to=11), keepdims=1)
                           for t in (total, total_sq))
        return self.mean_inv_std(total, total_sq, self.op("Mul", self.frames, self.f64(float(channels))), eps)

    def mean_inv_std(self, total: str, total_sq: str, count: str, eps: float) -> tuple[str, str]:
        """Mean and ``1/sqrt(var + eps)`` from float64 sums of x and x² over ``count`` values, as float32."""
        mean = self.op("Div", total, count)
        var = self.op("Max", self.op("Sub", self.op("Div", total_sq, count), self.op("Mul", mean, mean)),
                      self.f64(0.0))
        inv_std = self.op("Reciprocal", self.op("Sqrt", self.op("Add", var, self.f64(eps))))
        return self.op("Cast", mean, to=1), self.op("Cast", inv_std, to=1)

    def cln(self, x: str, channels: int, eps: float) -> str:
        """cLN without its affine: frame k normalised by the channel sums of frames 0…k (float64 sums)."""
        axis, frames_axis = self.ints([1], "axis"), self.ints(2, "axis")
        total = self.op("CumSum", self.op("Cast", self.op("ReduceSum", x, axis, keepdims=1), to=11),
                        frames_axis)
        total_sq = self.op("CumSum", self.op("Cast", self.op("ReduceSumSquare", x, axis, keepdims=1), to=11),
                           frames_axis)
        ones = self.op("Add", self.op("Mul", total, self.f64(0.0)), self.f64(1.0))
        count = self.op("Mul", self.op("CumSum", ones, frames_axis), self.f64(float(channels)))
        mean, inv_std = self.mean_inv_std(total, total_sq, count, eps)  # (1, 1, frames) each
        return self.op("Mul", self.op("Sub", x, mean), inv_std)

    def norm_conv1x1(self, x: str, norm: nn.Module, convs: list[nn.Conv1d]) -> list[str]:
        """``conv(norm(x))`` for each 1×1 conv of ``convs``, the norm folded into the conv.

        The affine always folds (``_fold``). gLN's statistics fold too: ``W'((x − μ)·r) + b' =
        (r·W') x + (b' − r·μ·W'1)``, weights scaled per call (a few thousand products), so the normalised
        tensor is never written. cLN is normalised first; batch norm is an affine only.
        """
        kind, gain, bias = _norm_kind(norm), *_affine(norm)
        if kind == "cLN":
            x = self.cln(x, gain.numel(), norm.eps)
        outs = []
        if kind == "gLN":
            mean, inv_std = self.gln_stats(x, gain.numel(), norm.eps)
        for conv in convs:
            weight, b = _fold(conv, gain, bias)
            if kind != "gLN":
                outs.append(self.conv(x, weight, b))
                continue
            w = self.op("Mul", self.const(weight, "conv_w"), inv_std)
            shift = self.op("Mul", self.const(weight.sum((1, 2)), "row_sums"), self.op("Mul", mean, inv_std))
            b = self.op("Sub", self.const(b, "conv_b"), self.op("Reshape", shift, self.ints([-1])))
            outs.append(self.conv(x, w, b))
        return outs

    def norm_depthwise(self, x: str, norm: nn.Module, dconv: nn.Conv1d, dilation: int, causal: bool) -> str:
        """``dconv(norm(x))`` with zero padding, ``x (1, H, frames)``, the norm folded into the conv.

        With ``q = γ·(x − μ)·r + β`` and γ ≠ 0: ``conv_w(q) = conv_{w·γ·r}(x + β/(γ·r) − μ)``, exact on
        the zero padding too (there ``q = 0`` and the shifted input is 0), so the norm costs one add.
        """
        kind, (gain, bias) = _norm_kind(norm), _affine(norm)
        H, P = dconv.out_channels, dconv.kernel_size[0]
        left = (P - 1 if causal else (P - 1) // 2) * dilation
        attrs = dict(group=H, dilations=[dilation], kernel_shape=[P], pads=[left, (P - 1) * dilation - left])
        weight = dconv.weight.detach().double()
        if not bool((gain.abs() > 1e-6 * gain.abs().max()).all()):  # a zero gain: the affine as it is
            if kind == "gLN":
                mean, inv_std = self.gln_stats(x, gain.numel(), norm.eps)
                x = self.op("Mul", self.op("Sub", x, mean), inv_std)
            elif kind == "cLN":
                x = self.cln(x, H, norm.eps)
            x = self.op("Add", self.op("Mul", x, self.const(gain[:, None], "gain")),
                        self.const(bias[:, None], "shift"))
            return self.conv(x, weight, dconv.bias, **attrs)
        weight = weight * gain[:, None, None]
        if kind == "gLN":
            mean, inv_std = self.gln_stats(x, gain.numel(), norm.eps)
            shift = self.op("Sub", self.op("Div", self.const((bias / gain)[:, None], "shift"), inv_std), mean)
            return self.conv(self.op("Add", x, shift), self.op("Mul", self.const(weight, "conv_w"), inv_std),
                             dconv.bias, **attrs)
        if kind == "cLN":
            x = self.cln(x, H, norm.eps)
        return self.conv(self.op("Add", x, self.const((bias / gain)[:, None], "shift")), weight, dconv.bias,
                         **attrs)


def _block(g: _Onnx, x: str, block: nn.Module) -> tuple[str, str]:
    """One ``Conv1DBlock``: ``x (1, B, frames) → (x + residual, skip (1, Sc, frames))``."""
    y = g.prelu(g.conv(x, block.conv_in.weight, block.conv_in.bias), block.prelu1)
    y = g.norm_depthwise(y, block.norm1, block.dconv, block.dilation, block.causal)
    y = g.prelu(y, block.prelu2)
    if block.res is None:
        return x, g.norm_conv1x1(y, block.norm2, [block.skip])[0]
    skip, res = g.norm_conv1x1(y, block.norm2, [block.skip, block.res])
    return g.op("Add", x, res), skip


def to_onnx(model: ConvTasNet) -> bytes:
    """``model`` written as an ONNX graph for inference: ``mix (1, time) → est (1, n_src, time)``.

    One example at a time (``FastConvTasNet`` runs a batch example by example: gLN's statistics are then
    scalars that fold into the convolutions' weights). ``time`` must be a whole number of frames,
    ``(frames − 1)·stride + L`` (``FastConvTasNet`` pads and trims), and is otherwise free. The graph is
    written op by op from the weights (a fraction of a second; it needs only the ``onnx`` package), not
    traced, so nothing is specialised to one length.
    """
    if not isinstance(model, ConvTasNet):
        raise CourseError(f"the fast path handles tasnet_edu ConvTasNet models, got a {type(model).__name__}")
    g = _Onnx()
    N, n_src, stride = model.N, model.n_src, model.stride
    with torch.no_grad():
        w = g.op("Conv", g.op("Unsqueeze", "mix", g.ints([1], "axis")), g.const(model.encoder.conv.weight),
                 strides=[stride], hint="code")  # (1, N, frames)
        g.frames = g.op("Cast", g.op("Shape", w, start=2, end=3), to=11)
        x = g.norm_conv1x1(w, model.bottleneck[0], [model.bottleneck[1]])[0]  # (1, B, frames)
        skip_sum = None
        for block in model.tcn.blocks:
            x, skip = _block(g, x, block)
            skip_sum = skip if skip_sum is None else g.op("Add", skip_sum, skip)  # (1, Sc, frames)
        m = g.conv(g.prelu(skip_sum, model.mask_conv[0]), model.mask_conv[1].weight,
                   model.mask_conv[1].bias)  # (1, n_src·N, frames)
        if model.mask_act != "softmax":  # element-wise, so before the reshape (fused into the conv)
            m = g.op("Relu" if model.mask_act == "relu" else "Sigmoid", m)
        m = g.op("Reshape", m, g.ints([n_src, N, -1]))  # (n_src, N, frames)
        if model.mask_act == "softmax":
            m = g.op("Softmax", m, axis=0)
        est = g.op("ConvTranspose", g.op("Mul", w, m), g.const(model.decoder.deconv.weight),
                   strides=[stride])  # (n_src, 1, time)
        est = g.op("Reshape", est, g.ints([1, n_src, -1]), hint="est")
    h = g.onnx.helper
    f32 = g.onnx.TensorProto.FLOAT
    return g.model([h.make_tensor_value_info("mix", f32, [1, "time"])],
                   [h.make_tensor_value_info(est, f32, [1, n_src, "time"])])


# --- the module the package calls ------------------------------------------------------------------------

_SESSIONS: dict[tuple[str, int], object] = {}  # (weights key, threads) → onnxruntime.InferenceSession
_WARNED: set[str] = set()
_ATTRIBUTES = ("sample_rate", "L", "stride", "n_src", "N", "receptive_field", "config")


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$TASNET_EDU_CACHE/onnx`` or ``~/.cache/tasnet_edu/onnx``."""
    root = os.environ.get("TASNET_EDU_CACHE") or Path.home() / ".cache" / "tasnet_edu"
    return Path(root) / "onnx"


def model_key(model: ConvTasNet) -> str:
    """A hash of the weights, buffers, configuration and the versions that shape the graph (hex, 20 chars).

    Two models with equal weights share one export; any change of weights gives another key.
    """
    versions = f"{GRAPH_VERSION} {OPSET} torch {torch.__version__}"
    digest = hashlib.sha256(f"{versions} {sorted(model.config.items())}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _session(model: ConvTasNet, threads: int, disk_cache: bool) -> tuple[object, str, float]:
    """The ONNX Runtime session of ``model``: ``(session, where it came from, seconds it took)``."""
    ort = _require("onnxruntime")
    start = time.perf_counter()
    key = model_key(model)
    if (key, threads) in _SESSIONS:
        return _SESSIONS[key, threads], "memory", time.perf_counter() - start
    path = cache_dir() / f"conv_tasnet-{key}.onnx"
    if disk_cache and path.is_file():
        graph, source = path.read_bytes(), "disk"
    else:
        graph, source = to_onnx(model), "export"
        if disk_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(f".{os.getpid()}.tmp")
                partial.write_bytes(graph)
                partial.replace(path)  # atomic: a parallel process never reads half a file
            except OSError as err:
                warnings.warn(f"could not cache the exported graph in {path.parent}: {err}", stacklevel=3)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The default execution order kept many frame-long tensors alive at once (3.2 GB of peak memory per
    # minute of audio for the paper's configuration, measured); priority-based order frees each early
    # (0.74 GB, below the eager model's 0.83 GB), at the same speed.
    options.execution_order = ort.ExecutionOrder.PRIORITY_BASED
    # Idle worker threads sleep instead of spinning, as OMP_WAIT_POLICY=PASSIVE does for torch (Makefile):
    # on a shared or busy CPU spinning threads steal the cores from the work (measured: 1.2-1.35x slower).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    _SESSIONS[key, threads] = session
    return session, source, time.perf_counter() - start


class FastConvTasNet(nn.Module):
    """A ``ConvTasNet`` run by ONNX Runtime: ``(batch, time) → (batch, n_src, time)``, inference only.

    Made by ``fast_model``. Holds a snapshot of the weights at that call (train the eager model further and
    call ``fast_model`` again). Copies the eager model's ``sample_rate``, ``L``, ``stride``, ``n_src``,
    ``N``, ``receptive_field`` and ``config``; ``export_seconds`` is what building (or loading) the session
    cost and ``source`` says where it came from (``"export"``, ``"disk"`` or ``"memory"``).
    Runs on the CPU, float32; a batch is run one example at a time (each is independent at inference).
    """

    def __init__(self, model: ConvTasNet, threads: int | None = None, disk_cache: bool = True):
        super().__init__()
        self.threads = threads or torch.get_num_threads()
        self.session, self.source, self.export_seconds = _session(model, self.threads, disk_cache)
        for name in _ATTRIBUTES:
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """``mix (batch, time)``, ``time ≥ L`` → estimates ``(batch, n_src, time)``, float32, on the CPU."""
        check_waveform_batch(mix, type(self).__name__, self.L, f"window (L={self.L})")
        check_finite(mix, "mixture")
        if mix.requires_grad and torch.is_grad_enabled():
            raise CourseError("FastConvTasNet is inference only (no gradients): train the eager ConvTasNet")
        time_ = mix.shape[-1]
        frames = -(-(time_ - self.L) // self.stride) + 1
        padded = torch.nn.functional.pad(mix.detach().to("cpu", torch.float32),
                                         (0, (frames - 1) * self.stride + self.L - time_))
        outs = [self.session.run(None, {"mix": example[None].numpy()})[0] for example in padded]
        return torch.from_numpy(np.concatenate(outs))[..., :time_].to(mix.device)


def fast_model(model: nn.Module, *, threads: int | None = None, disk_cache: bool = True,
               fallback: bool = True) -> nn.Module:
    """``model`` for fast CPU inference: a ``FastConvTasNet`` with the same contract, or ``model`` itself.

    Args:
        model: a ``ConvTasNet`` (any configuration: gLN, cLN, BN, causal, any mask activation).
        threads: ONNX Runtime's threads; ``torch.get_num_threads()`` by default.
        disk_cache: keep the exported graph under ``cache_dir()`` (keyed by ``model_key``), so that the next
            process loads it instead of exporting.
        fallback: when onnxruntime / onnx are missing, warn once and return ``model`` (eager); with
            ``fallback=False`` raise ``CourseError`` instead.

    The first call for a set of weights exports (≈ 1 s for the paper's configuration); later calls in the
    process reuse the session (``source == "memory"``), later processes the file (``"disk"``).

    Example (needs onnxruntime and onnx):
        >>> fast = fast_model(ConvTasNet.tiny().eval(), disk_cache=False)
        >>> fast(torch.randn(3, 8000)).shape
        torch.Size([3, 2, 8000])
    """
    if not isinstance(model, ConvTasNet):
        raise CourseError(f"fast_model handles tasnet_edu ConvTasNet models, got a {type(model).__name__}")
    try:
        return FastConvTasNet(model, threads, disk_cache)
    except CourseError as err:
        if not fallback or "not installed" not in str(err):
            raise
        if str(err) not in _WARNED:
            _WARNED.add(str(err))
            warnings.warn(f"{err}; running the eager model", stacklevel=2)
        return model


#: What ``tasnet-edu separate`` / ``evaluate`` ``--engine`` take (``for_engine``).
ENGINES = ("auto", "onnx", "eager")


def for_engine(model: nn.Module, engine: str = "auto", device="cpu") -> nn.Module:
    """The model to run for ``engine``: ``"eager"`` — ``model`` itself (the PyTorch modules);
    ``"onnx"`` — ``fast_model(model)``, or a ``CourseError`` saying why it cannot be; ``"auto"`` — the ONNX
    path for a ``ConvTasNet`` on the CPU when onnxruntime and onnx are installed (its export costs about a
    second, repaid within seconds of audio), else ``model``, without a warning.
    """
    if engine not in ENGINES:
        raise CourseError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "eager":
        return model
    usable = isinstance(model, ConvTasNet) and torch.device(device).type == "cpu"
    if engine == "onnx" and not usable:
        raise CourseError(f"the ONNX engine runs a ConvTasNet on the CPU; this is a "
                          f"{type(model).__name__} on {torch.device(device)}: use --engine eager")
    installed = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
    if engine == "auto" and not (usable and installed):
        return model
    return fast_model(model, fallback=False)
