"""Encoders/decoders: shapes, perfect reconstruction of the STFT pair, TasNet's gated codes, oracle masks."""

import pytest
import torch

from tasnet_edu.encoders import (
    GatedDecoder,
    GatedEncoder,
    LearnedDecoder,
    LearnedEncoder,
    STFTDecoder,
    STFTEncoder,
    code_ratio_masks,
    encoder_pair,
    filter_responses,
    oracle_code_separate,
    pad_to_frames,
    real_dft_basis,
    sine_window,
)
from tasnet_edu.errors import CourseError


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("L", [2, 15, 16, 40])
def test_real_dft_basis_is_orthonormal_and_matches_the_fft(L, gen):
    basis, bins = real_dft_basis(L)
    assert basis.shape == (L, L)
    torch.testing.assert_close(basis @ basis.T, torch.eye(L, dtype=basis.dtype))
    x = torch.randn(L, generator=gen, dtype=torch.float64)
    spec = torch.fft.rfft(x)
    coeffs = basis @ x
    # the first row of bin k is the scaled real part, the second (if any) the scaled imaginary part
    for k in range(L // 2 + 1):
        rows = (bins == k).nonzero().flatten()
        scale = basis[rows[0], 0]
        torch.testing.assert_close(coeffs[rows[0]] / scale, spec[k].real)
        if len(rows) == 2:
            torch.testing.assert_close(coeffs[rows[1]] / scale, spec[k].imag)


def test_sine_window_overlap_adds_to_one_at_half_overlap():
    w = sine_window(40)
    assert w.min() > 0  # never zero: the edges can be reconstructed
    torch.testing.assert_close(w[:20] ** 2 + w[20:] ** 2, torch.ones(20, dtype=w.dtype))


@pytest.mark.parametrize(
    ("L", "stride", "time"), [(40, None, 8000), (16, 8, 999), (15, 4, 100), (40, 40, 81)]
)
def test_stft_pair_reconstructs_every_sample(L, stride, time, gen):
    enc, dec = STFTEncoder(L, stride), STFTDecoder(L, stride)
    x = torch.randn(3, time, generator=gen)
    padded, pad = pad_to_frames(x, L, enc.stride)
    codes = enc(padded)
    assert codes.shape == (3, L, (padded.shape[-1] - L) // enc.stride + 1)
    y = dec(codes)
    assert y.shape == padded.shape
    torch.testing.assert_close(y[..., : time], x, atol=1e-5, rtol=1e-5)


def test_stft_codes_are_a_windowed_dft(gen):
    L, stride = 16, 8
    x = torch.randn(1, 64, generator=gen, dtype=torch.float64)
    codes = STFTEncoder(L, stride).double()(x)
    frame = x[0, stride : stride + L] * sine_window(L)
    spec = torch.fft.rfft(frame)
    basis, bins = real_dft_basis(L)
    # bin 3: channels 5 (real) and 6 (imaginary), each scaled by sqrt(2 / L)
    assert bins[5] == bins[6] == 3
    torch.testing.assert_close(codes[0, 5:7, 1], (2 / L) ** 0.5 * torch.stack([spec[3].real, spec[3].imag]))


def test_learned_and_stft_pairs_share_one_interface(gen):
    x = torch.randn(2, 800, generator=gen)
    shapes = []
    for kind in ("stft", "learned"):
        enc, dec = encoder_pair(kind, 40, 40)
        w = enc(x)
        shapes.append(w.shape)
        assert dec(w).shape == x.shape
    assert shapes[0] == shapes[1] == (2, 40, 39)


def test_learned_pair_is_linear_and_gets_gradients(gen):
    enc, dec = encoder_pair("learned", 32, 16)
    a, b = torch.randn(2, 2, 400, generator=gen)
    torch.testing.assert_close(enc(a + b), enc(a) + enc(b), atol=1e-5, rtol=1e-5)
    dec(enc(a)).pow(2).sum().backward()
    assert enc.conv.weight.grad.abs().sum() > 0 and dec.deconv.weight.grad.abs().sum() > 0


def test_conv_tasnet_encoder_keeps_its_relu_and_shapes(gen):
    enc, dec = LearnedEncoder(64, 16), LearnedDecoder(64, 16)
    w = enc(torch.randn(2, 1000, generator=gen))
    assert w.shape == (2, 64, (1000 - 16) // 8 + 1) and w.min() >= 0
    assert dec(w).shape == (2, (w.shape[-1] - 1) * 8 + 16)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("L, stride", [(16, 8), (15, 7), (12, 3)])
def test_learned_pair_streams_as_it_codes_and_decodes(L, stride, relu, gen):
    """The encoder's stream codes the frames a span of samples holds; the decoder's, fed those codes a few
    frames at a time, returns the final samples and keeps the overlap in ``tail``: together, ``forward``."""
    enc, dec = LearnedEncoder(20, L, stride, relu=relu), LearnedDecoder(20, L, stride)
    frames = 31
    x = torch.randn((frames - 1) * stride + L, generator=gen)
    codes = enc.stream()(x)
    with torch.no_grad():
        torch.testing.assert_close(codes, enc(x[None])[0])
        w = torch.randn(3, 20, frames, generator=gen)
        stream, outs, start = dec.stream(signals=3), [], 0
        for n in [1, 4, 2, 9, 15]:
            outs.append(stream(w[..., start:start + n]))
            start += n
        torch.testing.assert_close(torch.cat([*outs, stream.tail], -1), dec(w))
    assert enc.describe().weight.data_ptr() == enc.conv.weight.data_ptr() and enc.describe().relu == relu
    assert (dec.describe().stride, dec.describe().relu) == (stride, False)


def test_gated_codes_are_non_negative_and_loudness_free(gen):
    enc = GatedEncoder(32, 40)
    x = torch.randn(2, 400, generator=gen)
    w, norms = enc(x)
    assert w.shape == (2, 32, 10) and norms.shape == (2, 1, 10)
    assert w.min() >= 0
    torch.testing.assert_close(norms[0, 0, 3], x[0, 120:160].norm())
    w_loud, norms_loud = enc(7.0 * x)
    torch.testing.assert_close(w_loud, w, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(norms_loud, 7.0 * norms)


def test_gated_decoder_multiplies_the_norm_back(gen):
    enc, dec = GatedEncoder(32, 40), GatedDecoder(32, 40)
    x = torch.randn(1, 400, generator=gen)
    w, norms = enc(x)
    plain = LearnedDecoder(32, 40, 40)
    plain.load_state_dict(dec.state_dict())
    frames = plain(w).view(10, 40)  # each segment decoded from its unit-norm code
    torch.testing.assert_close(dec(w, norms).view(10, 40), frames * norms.view(10, 1))
    # so the whole pair is scale-equivariant: a louder input gives a proportionally louder output
    torch.testing.assert_close(dec(*enc(3.0 * x)), 3.0 * dec(w, norms), atol=1e-5, rtol=1e-4)


def test_gated_encoder_handles_silence_and_backpropagates():
    enc, dec = GatedEncoder(16, 40), GatedDecoder(16, 40)
    x = torch.zeros(1, 400)
    x[0, 200:] = torch.linspace(-1, 1, 200)
    x.requires_grad_(True)
    y = dec(*enc(x))
    assert torch.isfinite(y).all() and y[0, :200].abs().max() == 0
    y.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert enc.conv_U.weight.grad.abs().sum() > 0 and enc.conv_V.weight.grad.abs().sum() > 0


def test_code_ratio_masks_share_out_each_coefficient(gen):
    codes = torch.randn(2, 3, 8, 5, generator=gen)  # (batch, n_src, N, frames)
    masks = code_ratio_masks(codes)
    assert masks.min() >= 0 and masks.max() <= 1
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 8, 5))


def test_oracle_masks_recover_sources_that_do_not_overlap(gen):
    enc, dec = STFTEncoder(16), STFTDecoder(16)
    s = torch.zeros(1, 2, 800)
    s[0, 0, :300] = torch.randn(300, generator=gen)
    s[0, 1, 500:] = torch.randn(300, generator=gen)
    est = oracle_code_separate(enc, dec, s.sum(1), s)
    assert est.shape == s.shape
    torch.testing.assert_close(est, s, atol=1e-4, rtol=1e-4)
    # overlapping sources are not recovered exactly: the oracle mask is a real ratio, not a phase fix
    s[0, 1] = torch.randn(800, generator=gen)
    assert (oracle_code_separate(enc, dec, s.sum(1), s) - s).abs().max() > 0.01


def test_filter_responses_order_stft_rows_by_frequency():
    enc = STFTEncoder(16)
    freqs, db, order = filter_responses(enc.weight, sample_rate=8000)
    assert db.shape == (16, freqs.numel()) and freqs[-1] == 4000
    assert torch.equal(enc.bins[order], enc.bins.sort().values)
    assert abs(float(db.max())) < 1e-3  # dB re the loudest filter


@pytest.mark.parametrize(
    ("make", "arg"),
    [
        (lambda: STFTEncoder(16), torch.zeros(16)),            # no batch axis
        (lambda: LearnedEncoder(8, 16), torch.zeros(1, 10)),   # shorter than one window
        (lambda: GatedEncoder(8, 40), torch.zeros(1, 1, 80)),  # extra axis
        (lambda: STFTDecoder(16), torch.zeros(1, 8, 3)),       # wrong channel count
        (lambda: LearnedDecoder(8, 16), torch.zeros(8, 3)),    # no batch axis
    ],
)
def test_bad_input_raises_course_error(make, arg):
    with pytest.raises(CourseError):
        make()(arg)


def test_bad_configuration_raises_course_error():
    with pytest.raises(CourseError, match="N = L"):
        encoder_pair("stft", 64, 16)
    with pytest.raises(CourseError, match="unknown"):
        encoder_pair("mel", 16, 16)
    with pytest.raises(CourseError, match="stride"):
        STFTEncoder(16, stride=17)
    with pytest.raises(CourseError, match="same length"):
        oracle_code_separate(STFTEncoder(16), STFTDecoder(16), torch.zeros(1, 100), torch.zeros(1, 2, 99))


def test_the_gated_decoder_refuses_to_stream():
    # its inherited stream would decode without the norms: a wrong answer, so it must refuse
    with pytest.raises(CourseError, match="not streamed"):
        GatedDecoder(8, 4).stream()
