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

It is written op by op by ``to_onnx`` from the weights the model declares (``model.describe()``, a record
per layer, so this module never names a submodule): well under a second for the paper's configuration
(``torch.onnx.export`` took 1.4 s with the TorchScript exporter, which is deprecated, and 19 s with the
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
from tasnet_edu.models.conv_tasnet import ConvTasNetSpec
from tasnet_edu.separator import copy_members
from tasnet_edu.tcn import BlockSpec, ConvSpec, NormSpec
from tasnet_edu.utils import atomic_write, check_finite, check_waveform_batch

GRAPH_VERSION = "4"  # bump when the exported graph changes: it is part of the disk cache key
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


def _fold(conv: ConvSpec, gain: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1×1 conv applied after the affine ``γ ⊙ n + β``, as one conv on ``n``: ``(W diag γ, W β + b)``.

    Shapes: weight ``(out, in, 1)``, bias ``(out,)``.
    """
    w = conv.weight.double()[:, :, 0]
    b = conv.bias.double() + w @ bias
    return (w * gain[None, :])[:, :, None], b


class _Onnx:
    """An ONNX graph being written: each method adds one node (or weight) and returns its output's name."""

    def __init__(self):
        self.onnx = _require("onnx")
        self.nodes, self.weights, self.count = [], [], 0
        # The number of frames as a float64 scalar, read once from the encoder's output (``to_onnx``):
        # a Shape or Size node on each normalised tensor would keep that tensor alive until the node runs.
        self.frames = None
        self.stream: _StreamCarry | None = None  # set for a streaming step's graph (``to_onnx_stream``)
        self.counts: dict[int, str] = {}  # cLN's cumulative counts, by channels (``cumulative_count``)

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

    def prelu(self, x: str, slope: torch.Tensor) -> str:
        """PReLU with ``slope`` ``(1,)`` or ``(channels,)``."""
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
        """cLN without its affine: frame k normalised by the channel sums of frames 0…k (float64 sums).

        Σx and Σx² run as one ``(1, 2, frames)`` tensor (one cast, one cumulative sum): a streaming step
        is a few frames long, so the graph's cost is its node count more than its arithmetic.
        """
        axis = self.ints([1], "axis")
        sums = self.op("Concat", self.op("ReduceSum", x, axis, keepdims=1),
                       self.op("ReduceSumSquare", x, axis, keepdims=1), axis=1)
        sums = self.op("CumSum", self.op("Cast", sums, to=11), self.ints(2, "axis"))  # (1, 2, frames)
        if self.stream is not None:  # the sums of the chunks before this one
            sums = self.stream.carry_sums(self, sums)
        total, total_sq = (self.op("Slice", sums, self.ints([i], "start"), self.ints([i + 1], "end"), axis)
                           for i in (0, 1))
        mean, inv_std = self.mean_inv_std(total, total_sq, self.cumulative_count(channels), eps)
        return self.op("Mul", self.op("Sub", x, mean), inv_std)  # (1, 1, frames) statistics

    def cumulative_count(self, channels: int) -> str:
        """``channels · (1, 2, …, frames)`` as float64, counted from the stream's ``start`` frame in a
        streaming step; one node per graph and channel count."""
        if channels not in self.counts:
            first = self.f64(1.0) if self.stream is None else self.op("Add", "start", self.f64(1.0))
            frames = self.op("Range", first, self.op("Add", first, self.frames), self.f64(1.0))
            self.counts[channels] = self.op("Mul", frames, self.f64(float(channels)))
        return self.counts[channels]

    def norm_conv1x1(self, x: str, norm: NormSpec, convs: list[ConvSpec]) -> list[str]:
        """``conv(norm(x))`` for each 1×1 conv of ``convs``, the norm folded into the conv.

        The affine always folds (``_fold``). gLN's statistics fold too: ``W'((x − μ)·r) + b' =
        (r·W') x + (b' − r·μ·W'1)``, weights scaled per call (a few thousand products), so the normalised
        tensor is never written. cLN is normalised first; batch norm is an affine only.
        """
        kind, gain, bias = norm.kind, norm.gain.double(), norm.bias.double()
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

    def norm_depthwise(self, x: str, norm: NormSpec, conv: ConvSpec) -> str:
        """The depthwise ``conv(norm(x))`` with zero padding, ``x (1, H, frames)``, the norm folded into it.

        With ``q = γ·(x − μ)·r + β`` and γ ≠ 0: ``conv_w(q) = conv_{w·γ·r}(x + β/(γ·r) − μ)``, exact on
        the zero padding too (there ``q = 0`` and the shifted input is 0), so the norm costs one add.
        """
        kind, gain, bias = norm.kind, norm.gain.double(), norm.bias.double()
        H, dilation, causal = conv.weight.shape[0], conv.dilation, conv.causal
        weight = conv.weight.double()
        if not bool((gain.abs() > 1e-6 * gain.abs().max()).all()):  # a zero gain: the affine as it is
            if kind == "gLN":
                mean, inv_std = self.gln_stats(x, gain.numel(), norm.eps)
                x = self.op("Mul", self.op("Sub", x, mean), inv_std)
            elif kind == "cLN":
                x = self.cln(x, H, norm.eps)
            x = self.op("Add", self.op("Mul", x, self.const(gain[:, None], "gain")),
                        self.const(bias[:, None], "shift"))
            return self.depthwise(x, weight, conv.bias, dilation, causal)
        weight = weight * gain[:, None, None]
        if kind == "gLN":
            mean, inv_std = self.gln_stats(x, gain.numel(), norm.eps)
            shift = self.op("Sub", self.op("Div", self.const((bias / gain)[:, None], "shift"), inv_std), mean)
            x, scaled = self.op("Add", x, shift), self.op("Mul", self.const(weight, "conv_w"), inv_std)
            return self.depthwise(x, scaled, conv.bias, dilation, causal, weight.shape)
        if kind == "cLN":
            x = self.cln(x, H, norm.eps)
        shifted = self.op("Add", x, self.const((bias / gain)[:, None], "shift"))
        return self.depthwise(shifted, weight, conv.bias, dilation, causal)

    def depthwise(self, x: str, weight, bias, dilation: int, causal: bool, shape=None) -> str:
        """A depthwise dilated conv of ``x (1, H, frames)`` with zero padding; ``weight (H, 1, P)``.

        In a streaming step's graph its left padding is instead the last (P−1)·d frames of the chunks
        before (``_StreamCarry.history``); only causal models stream, so there is no right padding.
        """
        H, _, P = shape or weight.shape
        left = (P - 1 if causal else (P - 1) // 2) * dilation
        pads = [left, (P - 1) * dilation - left]
        if self.stream is not None:
            x, pads = self.stream.history(self, x, H, left), [0, 0]
        return self.conv(x, weight, bias, group=H, dilations=[dilation], kernel_shape=[P], pads=pads)


class _StreamCarry:
    """What a streaming step's graph (``to_onnx_stream``) carries from one chunk of frames to the next.

    * ``sums``: each cLN's running Σx and Σx² over channels and frames so far, float64, as one input
      ``(1, 2, norms)`` and one output of the same shape; ``start`` (float64 scalar) is the frames so far;
    * ``history_k``: the k-th depthwise conv's last (P−1)·d input frames, ``(1, H, (P−1)·d)``, in and out;
    * ``tail``: the decoder's overlap-add tail (the graph's own input and output, ``to_onnx_stream``).
    """

    def __init__(self):
        self.sums: list[str] = []  # the running sums after this chunk, (1, 1, 1) each, in input order
        self.histories: list[tuple[str, str, int, int]] = []  # (input, output, channels, frames)

    def carry_sums(self, g: _Onnx, sums: str) -> str:
        """Add the past to one cLN's cumulative sums ``(1, 2, n)`` (Σx, Σx²) and keep their last values."""
        k, axis = len(self.sums), g.ints([2], "axis")
        sums = g.op("Add", sums, g.op("Slice", "sums", g.ints([k], "start"), g.ints([k + 1], "end"), axis))
        self.sums.append(g.op("Slice", sums, g.ints([-1], "start"), g.ints([2**62], "end"), axis))
        return sums

    def history(self, g: _Onnx, x: str, channels: int, frames: int) -> str:
        """``x (1, H, n)`` with the ``frames`` frames before it in front, ``(1, H, frames + n)``; its last
        ``frames`` frames become the next chunk's history."""
        if frames == 0:
            return x
        name = f"history_{len(self.histories)}"
        full = g.op("Concat", name, x, axis=2)
        kept = g.op("Slice", full, g.ints([-frames], "start"), g.ints([2**62], "end"), g.ints([2], "axis"))
        self.histories.append((name, kept, channels, frames))
        return full


def _block(g: _Onnx, x: str, block: BlockSpec) -> tuple[str, str]:
    """One ``Conv1DBlock``: ``x (1, B, frames) → (x + residual, skip (1, Sc, frames))``."""
    y = g.prelu(g.conv(x, block.pointwise.weight, block.pointwise.bias), block.pointwise_slope)
    y = g.norm_depthwise(y, block.pointwise_norm, block.depthwise)
    y = g.prelu(y, block.depthwise_slope)
    if block.residual_conv is None:
        return x, g.norm_conv1x1(y, block.depthwise_norm, [block.skip_conv])[0]
    skip, res = g.norm_conv1x1(y, block.depthwise_norm, [block.skip_conv, block.residual_conv])
    return g.op("Add", x, res), skip


def _check_model(model) -> None:
    if not isinstance(model, ConvTasNet):
        raise CourseError(f"the fast path handles tasnet_edu ConvTasNet models, got a {type(model).__name__}")


def _encode(g: _Onnx, spec: ConvTasNetSpec) -> str:
    """The encoder on the graph's input ``mix (1, time)``: ``w (1, N, frames)``; ``g.frames`` their count."""
    w = g.op("Conv", g.op("Unsqueeze", "mix", g.ints([1], "axis")), g.const(spec.encoder.weight),
             strides=[spec.encoder.stride], hint="code")
    if spec.encoder.relu:
        w = g.op("Relu", w)
    g.frames = g.op("Cast", g.op("Squeeze", g.op("Shape", w, start=2, end=3)), to=11)  # float64 scalar
    return w


def _separate_and_decode(g: _Onnx, spec: ConvTasNetSpec, w: str) -> str:
    """Masks from the TCN, ``d_i = w ⊙ m_i`` and the decoder: ``w (1, N, frames) → (n_src, 1, time)``,
    each source's frames overlap-added (the first and last L − S samples lack a neighbour's half)."""
    N, n_src = spec.encoder.weight.shape[0], spec.n_src
    x = g.norm_conv1x1(w, spec.input_norm, [spec.to_bottleneck])[0]  # (1, B, frames)
    skip_sum = None
    for block in spec.tcn:
        x, skip = _block(g, x, block)
        skip_sum = skip if skip_sum is None else g.op("Add", skip_sum, skip)  # (1, Sc, frames)
    masks = spec.to_masks
    m = g.conv(g.prelu(skip_sum, spec.mask_slope), masks.weight, masks.bias)  # (1, n_src·N, frames)
    if spec.mask_act != "softmax":  # element-wise, so before the reshape (fused into the conv)
        m = g.op("Relu" if spec.mask_act == "relu" else "Sigmoid", m)
    m = g.op("Reshape", m, g.ints([n_src, N, -1]))  # (n_src, N, frames)
    if spec.mask_act == "softmax":
        m = g.op("Softmax", m, axis=0)
    return g.op("ConvTranspose", g.op("Mul", w, m), g.const(spec.decoder.weight),
                strides=[spec.decoder.stride])


def to_onnx(model: ConvTasNet) -> bytes:
    """``model`` written as an ONNX graph for inference: ``mix (1, time) → est (1, n_src, time)``.

    One example at a time (``FastConvTasNet`` runs a batch example by example: gLN's statistics are then
    scalars that fold into the convolutions' weights). ``time`` must be a whole number of frames,
    ``(frames − 1)·stride + L`` (``FastConvTasNet`` pads and trims), and is otherwise free. The graph is
    written op by op from the weights (a fraction of a second; it needs only the ``onnx`` package), not
    traced, so nothing is specialised to one length.
    """
    _check_model(model)
    g, spec = _Onnx(), model.describe()
    with torch.no_grad():
        est = _separate_and_decode(g, spec, _encode(g, spec))
        est = g.op("Reshape", est, g.ints([1, model.n_src, -1]), hint="est")
    h, f32 = g.onnx.helper, g.onnx.TensorProto.FLOAT
    return g.model([h.make_tensor_value_info("mix", f32, [1, "time"])],
                   [h.make_tensor_value_info(est, f32, [1, model.n_src, "time"])])


def to_onnx_stream(model: ConvTasNet) -> bytes:
    """One step of a stream through a causal cLN ``model``, as an ONNX graph (``FastStream`` runs it).

    Inputs: ``mix (1, (n − 1)·S + L)``, the samples of the next n frames; ``start``, the frames before
    them (float64 scalar); the state the last step returned: ``tail (n_src, L − S)``, ``sums`` and each
    ``history_k`` (``_StreamCarry``), all zeros for the first step. Outputs, in that order: the n·S final
    samples ``(n_src, n·S)``, then the new ``tail``, ``sums`` and histories. Chained over a signal, the
    final samples and the last tail are ``model``'s output (``streaming.StreamingSeparator``).
    """
    _check_model(model)
    model.check_streamable()
    g, spec = _Onnx(), model.describe()
    g.stream = carry = _StreamCarry()
    n_src, overlap = model.n_src, model.L - model.stride
    with torch.no_grad():
        est = g.op("Reshape", _separate_and_decode(g, spec, _encode(g, spec)), g.ints([n_src, -1]))
    axis, end = g.ints([1], "axis"), g.ints([2**62], "end")
    head = g.op("Add", g.op("Slice", est, g.ints([0], "start"), g.ints([overlap], "end"), axis), "tail")
    full = g.op("Concat", head, g.op("Slice", est, g.ints([overlap], "start"), end, axis), axis=1)
    final = g.op("Slice", full, g.ints([0], "start"), g.ints([-overlap], "end"), axis, hint="final")
    tail = g.op("Slice", full, g.ints([-overlap], "start"), end, axis, hint="tail_out")
    sums = g.op("Concat", *carry.sums, axis=2, hint="sums_out")
    h, f32, f64 = g.onnx.helper, g.onnx.TensorProto.FLOAT, g.onnx.TensorProto.DOUBLE
    state_in = [h.make_tensor_value_info("tail", f32, [n_src, overlap]),
                h.make_tensor_value_info("sums", f64, [1, 2, len(carry.sums)]),
                *(h.make_tensor_value_info(name, f32, [1, c, k]) for name, _, c, k in carry.histories)]
    state_out = [h.make_tensor_value_info(tail, f32, [n_src, overlap]),
                 h.make_tensor_value_info(sums, f64, [1, 2, len(carry.sums)]),
                 *(h.make_tensor_value_info(out, f32, [1, c, k]) for _, out, c, k in carry.histories)]
    return g.model([h.make_tensor_value_info("mix", f32, [1, "span"]),
                    h.make_tensor_value_info("start", f64, []), *state_in],
                   [h.make_tensor_value_info(final, f32, [n_src, "samples"]), *state_out])


# --- the module the package calls ------------------------------------------------------------------------

_SESSIONS: dict[tuple[str, int], object] = {}  # (graph name, threads) → onnxruntime.InferenceSession
_WARNED: set[str] = set()


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


def _session(model: ConvTasNet, threads: int, disk_cache: bool,
             stream: bool = False) -> tuple[object, str, float]:
    """The ONNX Runtime session of ``model``'s graph (``to_onnx``, or ``to_onnx_stream`` with ``stream``):
    ``(session, where it came from, seconds it took)``."""
    ort = _require("onnxruntime")
    start = time.perf_counter()
    name = f"conv_tasnet-{'stream-' if stream else ''}{model_key(model)}"
    if (name, threads) in _SESSIONS:
        return _SESSIONS[name, threads], "memory", time.perf_counter() - start
    path = cache_dir() / f"{name}.onnx"
    if disk_cache and path.is_file():
        graph, source = path.read_bytes(), "disk"
    else:
        graph, source = (to_onnx_stream if stream else to_onnx)(model), "export"
        if disk_cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path) as partial:  # a parallel process never reads half a file
                    partial.write_bytes(graph)
            except (OSError, CourseError) as err:
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
    _SESSIONS[name, threads] = session
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
        # The separator interface (tasnet_edu.separator), then what else describes the network.
        copy_members(self, model)
        self.N, self.receptive_field = model.N, model.receptive_field

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


def _wants_onnx(model: nn.Module, engine: str, device) -> bool:
    """Whether ``engine`` runs ``model`` through ONNX Runtime (``for_engine``); ``CourseError`` for an
    unknown engine, or for ``"onnx"`` where it cannot run."""
    if engine not in ENGINES:
        raise CourseError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "eager":
        return False
    usable = isinstance(model, ConvTasNet) and torch.device(device).type == "cpu"
    if engine == "onnx" and not usable:
        raise CourseError(f"the ONNX engine runs a ConvTasNet on the CPU; this is a "
                          f"{type(model).__name__} on {torch.device(device)}: use --engine eager")
    installed = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
    return engine == "onnx" or (usable and installed)


def for_engine(model: nn.Module, engine: str = "auto", device="cpu") -> nn.Module:
    """The model to run for ``engine``: ``"eager"`` — ``model`` itself (the PyTorch modules);
    ``"onnx"`` — ``fast_model(model)``, or a ``CourseError`` saying why it cannot be; ``"auto"`` — the ONNX
    path for a ``ConvTasNet`` on the CPU when onnxruntime and onnx are installed (its export costs about a
    second, repaid within seconds of audio), else ``model``, without a warning.
    """
    return fast_model(model, fallback=False) if _wants_onnx(model, engine, device) else model


class FastStream:
    """The ONNX Runtime engine of ``streaming.StreamingSeparator``: a causal cLN Conv-TasNet one chunk of
    frames at a time, one graph call per chunk (``to_onnx_stream``), the stream's state carried between calls
    as arrays (the decoder tail, the cLN sums, each depthwise conv's history).

    The interface of ``ConvTasNet.stream()``, on the CPU: ``step(samples)``: ``samples ((n − 1)·S + L,)``
    float32, the next n frames' input → the n·S final samples ``(n_src, n·S)``; ``tail``: the decoder's
    overlap not yet final ``(n_src, L − S)``; ``reset()``: zero state. ``export_seconds`` and ``source`` as
    ``FastConvTasNet``'s.
    """

    def __init__(self, model: ConvTasNet, threads: int | None = None, disk_cache: bool = True):
        self.session, self.source, self.export_seconds = _session(model, threads or torch.get_num_threads(),
                                                                  disk_cache, stream=True)
        self.state_inputs = self.session.get_inputs()[2:]  # tail, sums, history_0 …
        self.stride = model.stride
        self.reset()

    def reset(self) -> None:
        self.state = {i.name: np.zeros(i.shape, np.float64 if i.type == "tensor(double)" else np.float32)
                      for i in self.state_inputs}
        self.frames = 0

    @property
    def tail(self) -> torch.Tensor:
        return torch.from_numpy(self.state["tail"])

    def step(self, samples: torch.Tensor) -> torch.Tensor:
        start = np.array(self.frames, np.float64)
        final, *state = self.session.run(None, {"mix": samples.numpy()[None], "start": start, **self.state})
        self.state = dict(zip(self.state, state, strict=True))
        self.frames += final.shape[-1] // self.stride
        return torch.from_numpy(final)


def stream_for_engine(model: nn.Module, engine: str = "auto", device="cpu") -> FastStream | None:
    """The ``FastStream`` to stream ``model`` with for ``engine`` (as ``for_engine`` decides), or ``None``
    for the eager streaming code."""
    return FastStream(model) if _wants_onnx(model, engine, device) else None
