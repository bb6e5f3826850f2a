"""TasNet: shapes for any length, non-negative gated codes, softmax masks, scale equivariance, gradients."""

import pytest
import torch

from tasnet_edu.errors import CourseError
from tasnet_edu.models.tasnet import TasNet
from tasnet_edu.utils import count_parameters, seed_everything


@pytest.fixture
def small():
    seed_everything(0)
    return TasNet(n_src=2, N=16, L=40, H=16, layers=2)


@pytest.mark.parametrize("time", [1, 39, 40, 41, 1000])
@pytest.mark.parametrize(("encoder", "N"), [("gated", 16), ("learned", 16), ("stft", 40)])
def test_any_length_gives_one_estimate_per_source(encoder, N, time):
    seed_everything(0)
    model = TasNet(n_src=3, N=N, L=40, H=8, layers=1, encoder=encoder)
    est = model(torch.randn(2, time))
    assert est.shape == (2, 3, time) and torch.isfinite(est).all()


def test_codes_are_non_negative_and_masks_share_them_out(small):
    mix = torch.randn(2, 800)
    w, norms = small.encode(mix)
    assert w.shape == (2, 16, 20) and w.min() >= 0
    torch.testing.assert_close(norms[:, 0, 0], mix[:, :40].norm(dim=-1))
    masks = small.masks(mix)
    assert masks.shape == (2, 2, 16, 20) and masks.min() >= 0
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 16, 20))


def test_estimates_add_up_to_the_mixture_for_an_stft_model():
    # softmax masks sum to one and the STFT pair reconstructs perfectly, so the estimates sum to the mixture
    seed_everything(0)
    model = TasNet(N=40, L=40, H=8, layers=1, encoder="stft")
    mix = torch.randn(2, 1234)
    torch.testing.assert_close(model(mix).sum(dim=1), mix, atol=1e-4, rtol=1e-4)


def test_segment_normalisation_is_undone_by_the_decoder(small):
    # codes do not depend on loudness and the decoder multiplies the norm back: TasNet(c·x) = c·TasNet(x)
    mix = torch.randn(1, 1000)
    torch.testing.assert_close(small(0.01 * mix), 0.01 * small(mix), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(small(50.0 * mix), 50.0 * small(mix), atol=1e-3, rtol=1e-4)


def test_causal_model_does_not_look_ahead():
    seed_everything(0)
    model = TasNet(N=16, L=40, H=8, layers=2, bidirectional=False)
    mix = torch.randn(1, 800)
    changed = mix.clone()
    changed[0, 400:] = torch.randn(400)
    torch.testing.assert_close(model(changed)[..., :400], model(mix)[..., :400])
    assert not torch.allclose(TasNet(N=16, L=40, H=8, layers=2)(changed)[..., :400],
                              TasNet(N=16, L=40, H=8, layers=2)(mix)[..., :400])


def test_every_parameter_gets_a_gradient(small):
    est = small(torch.randn(2, 600))
    ref = torch.randn(2, 2, 600)
    ((est - ref) ** 2).mean().backward()
    for name, p in small.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_config_rebuilds_the_same_model(small):
    twin = TasNet(**small.config)
    twin.load_state_dict(small.state_dict())
    mix = torch.randn(1, 500)
    torch.testing.assert_close(twin(mix), small(mix))


def test_paper_config_sizes():
    model = TasNet.paper()
    assert (model.N, model.L, model.stride, len(model.separator.lstms)) == (500, 40, 40, 4)
    assert model.separator.lstms[0].hidden_size == 500 and model.separator.lstms[0].bidirectional
    assert not TasNet.paper(causal=True).separator.lstms[0].bidirectional
    assert count_parameters(model) > count_parameters(TasNet())


@pytest.mark.parametrize(
    "mix", [torch.zeros(100), torch.zeros(1, 1, 100), torch.tensor([[0.0, float("nan")] * 50]), [[0.0] * 100]]
)
def test_bad_mixture_raises_course_error(small, mix):
    with pytest.raises(CourseError):
        small(mix)


def test_bad_configuration_raises_course_error():
    with pytest.raises(CourseError, match="N = L"):
        TasNet(N=64, L=40, encoder="stft")
    with pytest.raises(CourseError, match="unknown"):
        TasNet(encoder="mel")
    with pytest.raises(CourseError, match="positive"):
        TasNet(layers=0)
