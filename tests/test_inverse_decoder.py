"""encoders.inverse_decoder: the exact inverse of a linear learned encoder (chapter 05: an oracle in a trained
basis)."""

import pytest
import torch

from tasnet_edu.encoders import LearnedEncoder, inverse_decoder, oracle_code_separate
from tasnet_edu.errors import CourseError
from tasnet_edu.metrics import si_snr


@pytest.mark.parametrize("N, L, stride", [(64, 16, 8), (256, 32, 16), (40, 40, 10)])
def test_inverse_decoder_gives_the_signal_back_away_from_the_edges(N, L, stride):
    torch.manual_seed(0)
    enc = LearnedEncoder(N, L, stride, relu=False)
    x = torch.randn(2, 40 * stride + L)
    y = inverse_decoder(enc)(enc(x))
    assert y.shape == x.shape
    assert torch.allclose(y[..., L:-L], x[..., L:-L], atol=1e-4)


def test_the_code_ratio_oracle_in_an_inverted_basis_sums_to_the_mixture():
    torch.manual_seed(1)
    enc = LearnedEncoder(64, 16, relu=False)
    sources = torch.randn(1, 2, 1600)
    est = oracle_code_separate(enc, inverse_decoder(enc), sources.sum(1), sources)
    assert torch.allclose(est.sum(1)[..., 16:-16], sources.sum(1)[..., 16:-16], atol=1e-4)
    assert (si_snr(est, sources) > 0).all()


def test_a_relu_encoder_or_a_hop_that_does_not_divide_the_window_is_refused():
    with pytest.raises(CourseError, match="linear"):
        inverse_decoder(LearnedEncoder(32, 16))
    with pytest.raises(CourseError, match="multiple"):
        inverse_decoder(LearnedEncoder(32, 16, 6, relu=False))
