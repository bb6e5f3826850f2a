"""Conv-TasNet: parameter count and receptive field of the paper config, shapes, causality, bad input."""

import dataclasses

import pytest
import torch

from tasnet_edu.errors import CourseError
from tasnet_edu.models import ConvTasNet
from tasnet_edu.tcn import receptive_field
from tasnet_edu.utils import count_parameters


def _tiny(**kw):
    torch.manual_seed(0)
    return ConvTasNet(**{**dict(N=16, L=8, B=8, H=12, Sc=6, P=3, X=3, R=2), **kw})


def test_paper_config_parameters_receptive_field_and_forward():
    model = ConvTasNet.paper()
    c = model.config
    N, L, B, H, Sc = c["N"], c["L"], c["B"], c["H"], c["Sc"]
    assert count_parameters(model) == 4_984_881
    # The authors' released code (5,050,545; the paper says 5.1 M) builds the last block's residual 1×1 conv
    # (H·B weights + B biases) too, which we drop.
    assert count_parameters(model) + H * B + B == 5_050_545
    assert count_parameters(model.encoder) == count_parameters(model.decoder) == N * L
    assert count_parameters(model.mask_conv) == 1 + Sc * 2 * N + 2 * N
    assert model.receptive_field == (receptive_field(3, 8, 3) - 1) * L // 2 + L == 12_256
    assert round(model.receptive_field / 8000, 2) == 1.53
    with torch.inference_mode():
        out = model(torch.randn(1, 801))
    assert out.shape == (1, 2, 801) and torch.isfinite(out).all()


def test_tiny_factory_is_documented():
    model = ConvTasNet.tiny()
    assert count_parameters(model) == 101_405
    assert model.receptive_field == 4080
    assert f"{count_parameters(model):,}" in ConvTasNet.tiny.__doc__


@pytest.mark.parametrize("time", [8, 9, 100, 1001])
def test_any_length_in_same_length_out(time):
    model = _tiny()
    mix = torch.randn(3, time)
    est = model(mix)
    assert est.shape == (3, 2, time)
    frames = model.encode(mix).shape[-1]
    assert model.encode(mix).shape == (3, 16, frames)
    assert model.masks(mix).shape == (3, 2, 16, frames)
    assert (frames - 1) * 4 + 8 >= time > (frames - 2) * 4 + 8  # the fewest frames that cover the input


def test_mask_activations():
    mix = torch.randn(2, 400)
    assert (_tiny(mask_act="relu").masks(mix) >= 0).all()
    m = _tiny(mask_act="sigmoid").masks(mix)
    assert ((m > 0) & (m < 1)).all()
    torch.testing.assert_close(_tiny(mask_act="softmax").masks(mix).sum(1), torch.ones(2, 16, 99))
    with pytest.raises(CourseError, match="mask_act"):
        _tiny(mask_act="tanh")


def test_encoder_is_linear():
    w = _tiny().encode(torch.randn(1, 400))
    assert (w < 0).any()


def test_masks_are_applied_to_the_encoder_output():
    model = _tiny(n_src=3)
    mix = torch.randn(2, 203)
    w, m = model.encode(mix), model.masks(mix)
    est = model.decoder((w.unsqueeze(1) * m).flatten(0, 1)).view(2, 3, -1)[..., :203]
    torch.testing.assert_close(model(mix), est)


def test_every_parameter_gets_a_gradient():
    model = _tiny(norm="cLN", causal=True)
    model(torch.randn(2, 300)).square().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_causal_model_never_looks_ahead():
    model = _tiny(norm="cLN", causal=True)
    L, t = model.L, 700
    mix = torch.randn(1, 1200)
    changed = mix.clone()
    changed[:, t:] = torch.randn(1, 1200 - t)
    with torch.no_grad():
        a, b = model(mix), model(changed)
    torch.testing.assert_close(a[..., : t - L], b[..., : t - L], rtol=0, atol=1e-6)
    assert not torch.allclose(a[..., t:], b[..., t:])


def test_non_causal_model_looks_ahead():
    model = _tiny()
    mix = torch.randn(1, 1200)
    changed = mix.clone()
    changed[:, 700:] = 0
    with torch.no_grad():
        assert not torch.allclose(model(mix)[..., :600], model(changed)[..., :600])


def test_causal_needs_a_causal_norm():
    with pytest.raises(CourseError, match="cLN"):
        ConvTasNet(causal=True, norm="gLN")


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.randn(100), r"\(100,\)"),
        (torch.randn(1, 1, 100), r"\(1, 1, 100\)"),
        (torch.randn(2, 5), r"\(2, 5\).*too short"),
        (torch.tensor([[0.0] * 50 + [float("nan")] * 3]), r"NaN.*\(1, 53\)"),
    ],
)
def test_bad_input_raises_course_error(bad, match):
    model = _tiny()
    for call in (model, model.masks, model.encode):
        with pytest.raises(CourseError, match=match):
            call(bad)


def test_config_rebuilds_the_model():
    model = _tiny(norm="cLN", causal=True, mask_act="sigmoid")
    clone = ConvTasNet(**model.config)
    clone.load_state_dict(model.state_dict())
    mix = torch.randn(1, 300)
    torch.testing.assert_close(clone(mix), model(mix))


@pytest.mark.parametrize("kw", [{}, dict(norm="cLN", causal=True)])
def test_bf16_autocast_runs_and_stays_close(kw):
    model = _tiny(**kw)
    mix = torch.randn(2, 800)
    with torch.no_grad():
        ref = model(mix)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        est = model(mix)
    assert torch.isfinite(est).all()
    err = (est.float() - ref).square().mean() / ref.square().mean()
    assert err < 1e-2
    est.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == p.dtype for p in model.parameters())


def test_causal_copy_keeps_the_past_taps_and_sees_no_future():
    """``causal_copy``: each depthwise kernel's present and past taps move to the causal kernel's end, the
    look-ahead tap goes; every other weight is copied; the copy is causal (a change at sample s moves no
    output before s) and equals a causal model built with those weights by hand."""
    from tasnet_edu.models.conv_tasnet import causal_copy

    model = _tiny()
    causal = causal_copy(model)
    assert causal.config == {**model.config, "causal": True, "norm": "cLN"}
    old, new = model.state_dict(), causal.state_dict()
    for name, w in old.items():
        if name.endswith("dconv.weight"):  # (H, 1, 3): [t−d, t, t+d] → [t−2d, t−d, t]
            zero = torch.zeros_like(w[..., 0])
            assert torch.equal(new[name], torch.stack([zero, w[..., 0], w[..., 1]], -1))
        else:
            assert torch.equal(new[name], w), name
    x = torch.randn(1, 400)
    y = x.clone()
    y[:, 200:] += torch.randn(1, 200)
    with torch.inference_mode():
        before = causal(x)[..., : 200 - causal.L], causal(y)[..., : 200 - causal.L]
    assert torch.equal(*before)
    with pytest.raises(CourseError, match="causal already"):
        causal_copy(causal)


@pytest.mark.parametrize("mask_act", ["relu", "softmax"])
def test_stream_steps_chained_give_the_model(mask_act):
    """``model.stream()``: the next frames' samples in, their final samples out, the newest frame's rest in
    ``tail``; over a signal of whole frames, the finals and the last tail are ``model(signal)``."""
    model = _tiny(norm="cLN", causal=True, mask_act=mask_act, n_src=3).eval()
    L, S, frames = model.L, model.stride, 40
    signal = torch.randn((frames - 1) * S + L)
    stream, outs, done = model.stream(), [], 0
    with torch.inference_mode():
        for n in [1, 1, 5, 2, 13, 18]:
            outs.append(stream.step(signal[done * S:(done + n - 1) * S + L]))
            done += n
        torch.testing.assert_close(torch.cat([*outs, stream.tail], -1), model(signal[None])[0])
        stream.reset()
        torch.testing.assert_close(stream.step(signal), model(signal[None])[0, :, :frames * S])


def test_non_causal_models_do_not_stream():
    with pytest.raises(CourseError, match="causal=False, norm='gLN': .* gLN normalises every frame"):
        _tiny().stream()
    with pytest.raises(CourseError, match="centred depthwise convolutions look .* into the future"):
        _tiny(norm="cLN").stream()


def test_description_holds_every_weight():
    """``describe()`` reaches every parameter (as a view, not a copy), so a reader of it misses none."""
    model = _tiny(norm="cLN", causal=True)
    spec = model.describe()
    assert (spec.n_src, spec.mask_act, spec.encoder.stride, len(spec.tcn)) == (2, "relu", 4, 6)

    def tensors(record):
        if isinstance(record, torch.Tensor):
            return [record]
        if isinstance(record, tuple):
            return [t for item in record for t in tensors(item)]
        if dataclasses.is_dataclass(record):
            return [t for field in dataclasses.fields(record) for t in tensors(getattr(record, field.name))]
        return []

    described = {t.data_ptr() for t in tensors(spec)}
    assert described == {p.data_ptr() for p in model.parameters()}
