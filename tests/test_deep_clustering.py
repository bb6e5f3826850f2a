"""Deep clustering: the low-rank affinity loss, silent bins, k-means, the model's shapes, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tasnet_edu import masks, train
from tasnet_edu.errors import CourseError
from tasnet_edu.models import DeepClustering
from tasnet_edu.models.deep_clustering import (
    active_bins,
    affinity_loss,
    affinity_loss_naive,
    kmeans,
)


def _embeddings(batch=2, bins=150, D=5, C=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    V = F.normalize(torch.randn(batch, bins, D, generator=g, dtype=torch.float64), dim=-1)
    Y = F.one_hot(torch.randint(0, C, (batch, bins), generator=g), C).to(torch.float64)
    return V, Y, g


def _tone_mixture(batch=2, seconds=0.5, seed=0):
    """Two sources in separate frequency bands, each switching on and off: an easy separation problem."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(8000 * seconds)) / 8000
    low, high = 300 + 200 * torch.rand(batch, generator=g), 2000 + 500 * torch.rand(batch, generator=g)
    f = torch.stack([low, high], 1)
    gate = (torch.sin(2 * math.pi * 3 * t + torch.rand(batch, 2, 1, generator=g) * 6) > -0.3).float()
    sources = 0.3 * torch.sin(2 * math.pi * f.unsqueeze(-1) * t) * gate
    return sources.sum(1), sources


# --- the loss ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("weights", ["none", "binary", "real"])
def test_low_rank_loss_equals_the_naive_one(weights):
    V, Y, g = _embeddings()
    w = {"none": None, "binary": (torch.rand(2, 150, generator=g) > 0.3).double(),
         "real": torch.rand(2, 150, generator=g, dtype=torch.float64)}[weights]
    low_rank, naive = affinity_loss(V, Y, w), affinity_loss_naive(V, Y, w)
    assert low_rank > 0.01
    torch.testing.assert_close(low_rank, naive, rtol=1e-10, atol=1e-12)


def test_loss_is_zero_for_ideal_embeddings_and_positive_otherwise():
    _, Y, _ = _embeddings(C=3)
    ideal = torch.cat([Y, torch.zeros(*Y.shape[:2], 2, dtype=Y.dtype)], -1)  # one-hot, padded to D = 5
    assert affinity_loss(ideal, Y).abs() < 1e-12
    collapsed = F.normalize(torch.ones_like(ideal), dim=-1)  # every bin the same embedding
    assert affinity_loss(collapsed, Y) > 0.5


def test_zero_weight_bins_drop_out_of_the_loss():
    V, Y, _ = _embeddings(batch=1)
    keep = torch.arange(150) % 3 != 0
    weighted = affinity_loss(V, Y, keep.double()[None])
    assert torch.allclose(weighted, affinity_loss(V[:, keep], Y[:, keep]))
    assert not torch.allclose(weighted, affinity_loss(V, Y))


def test_loss_gradient_reaches_every_parameter():
    model = DeepClustering.tiny(hidden=8, D=4)
    mix, sources = _tone_mixture()
    model.loss(mix, sources).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_all_silent_example_gives_a_finite_loss():
    V, Y, _ = _embeddings()
    assert torch.isfinite(affinity_loss(V, Y, torch.zeros(2, 150, dtype=torch.float64)))


# --- silent bins ------------------------------------------------------------------------------------
def test_active_bins_threshold_is_40_db_below_the_loudest_bin():
    mag = torch.tensor([[1.0, 0.011, 0.009, 0.0], [0.5, 0.2, 0.004, 0.006]])  # two examples
    assert active_bins(mag).tolist() == [[1, 1, 0, 0], [1, 1, 0, 1]]  # 1 % of the peak = −40 dB


def test_targets_leave_out_a_silent_stretch_and_label_the_louder_source():
    model = DeepClustering.tiny(hidden=8)
    mix, sources = _tone_mixture(batch=1, seconds=1.0)
    mix, sources = mix.clone(), sources.clone()
    mix[:, 4000:] = 0
    sources[..., 4000:] = 0
    Y, weights = model.targets(mix, sources)
    w = weights.view(1, model.n_bins, -1)
    frames_silent = w[0, :, 4000 // model.hop + 3:]  # beyond the last window that reaches the signal
    assert frames_silent.sum() == 0 and w[0, :, : 4000 // model.hop].sum() > 0
    ibm = masks.ideal_binary_mask(model.spectrogram(sources))
    assert torch.equal(Y.view(1, model.n_bins, -1, 2).permute(0, 3, 1, 2), ibm)


def test_magnitude_weighting_follows_the_mixture_magnitude_on_non_silent_bins():
    binary = DeepClustering.tiny(hidden=8)
    magnitude = DeepClustering.tiny(hidden=8, weighting="magnitude")
    mix, sources = _tone_mixture(batch=1)
    _, w_binary = binary.targets(mix, sources)
    _, w_mag = magnitude.targets(mix, sources)
    torch.testing.assert_close(w_mag, w_binary * magnitude.spectrogram(mix).abs().flatten(1))


# --- k-means ----------------------------------------------------------------------------------------
def _blobs(seed=0, n=200):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]])
    truth = torch.randint(0, 3, (n,), generator=g)
    return (centres[truth] + 0.5 * torch.randn(n, 3, generator=g))[None], truth


def _same_partition(labels, truth):
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(truth.tolist())) == len({a for a, _ in pairs})


def test_kmeans_recovers_planted_clusters_deterministically():
    x, truth = _blobs()
    labels, centres = kmeans(x, 3, seed=1)
    assert labels.shape == (1, 200) and centres.shape == (1, 3, 3)
    assert _same_partition(labels[0], truth)
    assert torch.equal(labels, kmeans(x, 3, seed=1)[0])


def test_kmeans_ignores_zero_weight_points_when_fitting():
    x, truth = _blobs()
    outliers = torch.full((1, 20, 3), 100.0)
    x_all = torch.cat([x, outliers], 1)
    weights = torch.cat([torch.ones(1, 200), torch.zeros(1, 20)], 1)
    labels, centres = kmeans(x_all, 3, weights)
    assert _same_partition(labels[0, :200], truth)
    assert centres.abs().max() < 10  # the far points did not pull a centre out to them


def test_masks_from_ideal_embeddings_are_the_ideal_binary_mask(monkeypatch):
    """Flattening order: embeddings equal to the IBM labels must give the IBM back (up to order)."""
    model = DeepClustering.tiny(hidden=8, D=2)
    mix, sources = _tone_mixture(batch=2)
    Y, weights = model.targets(mix, sources)
    monkeypatch.setattr(model, "_embed_spectrogram", lambda spec: Y)
    est = model.masks(mix)
    ibm = masks.ideal_binary_mask(model.spectrogram(sources))
    active = weights.view(2, 1, model.n_bins, -1).bool()
    same, swapped = (est == ibm) | ~active, (est.flip(1) == ibm) | ~active
    assert all(same[b].all() or swapped[b].all() for b in range(2))


# --- the model --------------------------------------------------------------------------------------
def test_embeddings_have_unit_norm_and_the_documented_shape():
    model = DeepClustering.tiny(hidden=8, D=6)
    V = model.embed(torch.randn(3, 4000))
    frames = 4000 // model.hop + 1
    assert V.shape == (3, model.n_bins * frames, 6)
    torch.testing.assert_close(V.norm(dim=-1), torch.ones(V.shape[:2]))


@pytest.mark.parametrize("n_src", [2, 3])
def test_separate_gives_one_estimate_per_source_and_masks_partition_the_bins(n_src):
    model = DeepClustering.tiny(hidden=8, n_src=n_src).eval()
    mix = torch.randn(2, 3001)
    est = model(mix)
    assert est.shape == (2, n_src, 3001)
    m = model.masks(mix)
    assert set(m.unique().tolist()) <= {0.0, 1.0} and torch.equal(m.sum(1), torch.ones_like(m[:, 0]))
    # Binary masks that partition the bins sum back to the mixture (mixture phase, linear iSTFT).
    torch.testing.assert_close(est.sum(1), mix, atol=1e-4, rtol=1e-4)


def test_the_course_trainer_lowers_its_affinity_loss_on_an_easy_problem():
    """One training loop for every model: ``fit`` trains deep clustering on its own ``loss``."""
    mix, sources = _tone_mixture(batch=8, seconds=0.25)
    data = list(zip(mix, sources, strict=True))
    model = DeepClustering.tiny(hidden=8, D=4)
    with torch.no_grad():
        first = float(model.loss(mix, sources))
    history = train.fit(model, data, steps=20, batch_size=4, lr=1e-2, progress=False)
    assert history["step"] == list(range(1, 21))
    with torch.no_grad():
        assert float(model.loss(mix, sources)) < 0.6 * first
    assert not model.training


def test_training_draws_new_crops_every_pass():
    mix, sources = _tone_mixture(batch=4, seconds=0.1)

    class Crops(list):
        epochs: list[int] = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

    data = Crops(zip(mix, sources, strict=True))
    train.fit(DeepClustering.tiny(hidden=4, D=2), data, steps=5, batch_size=2, progress=False)
    assert data.epochs == [0, 1, 2]  # 2 batches per pass, 5 steps


def test_config_rebuilds_the_model():
    model = DeepClustering.tiny(hidden=8)
    assert DeepClustering(**model.config).state_dict().keys() == model.state_dict().keys()


# --- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mix, message",
    [(torch.randn(4000), "(batch, time)"), (torch.randn(1, 100), "fewer than one STFT window"),
     (torch.full((1, 4000), float("nan")), "NaN"), ([0.0] * 4000, "torch.Tensor")],
)
def test_bad_mixture_is_a_course_error(mix, message):
    model = DeepClustering.tiny(hidden=8)
    with pytest.raises(CourseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.embed(mix)


def test_bad_loss_inputs_are_course_errors():
    V, Y, _ = _embeddings()
    with pytest.raises(CourseError, match="agree"):
        affinity_loss(V, Y[:, :-1])
    with pytest.raises(CourseError, match="weights"):
        affinity_loss(V, Y, torch.ones(2, 7))
    with pytest.raises(CourseError, match="non-negative"):
        affinity_loss(V, Y, -torch.ones(2, 150))
    with pytest.raises(CourseError, match="must match mix"):
        DeepClustering.tiny(hidden=8).targets(torch.randn(2, 4000), torch.randn(2, 2, 3000))
    with pytest.raises(CourseError, match="k must be"):
        kmeans(V, 500)
    with pytest.raises(CourseError, match="positive"):
        DeepClustering(D=0)
    with pytest.raises(CourseError, match="weighting"):
        DeepClustering(weighting="loud")


# --- on a GPU (issue 40), shown on the CPU ----------------------------------------------------------------
def test_kmeans_draws_on_the_points_device_not_the_default_one():
    """k-means seeds from a generator on the points' device; a draw without ``device=`` lands on the default
    device instead (on a GPU: the CPU, which a CUDA generator refuses). A meta default device shows it."""
    x, truth = _blobs()
    expected = kmeans(x, 3, seed=1)[0]
    torch.set_default_device("meta")
    try:
        labels = kmeans(x, 3, seed=1)[0]
    finally:
        torch.set_default_device("cpu")
    assert labels.device.type == "cpu" and torch.equal(labels, expected)


def test_affinity_loss_is_computed_in_float32_under_bf16_autocast():
    """Near-ideal embeddings: the three terms (≈ bins²) nearly cancel; bf16 (8-bit significand) loses that."""
    g = torch.Generator().manual_seed(0)
    Y = F.one_hot(torch.randint(0, 2, (2, 4000), generator=g), 2).float()
    V = F.normalize(Y + 0.05 * torch.randn(2, 4000, 2, generator=g), dim=-1)
    fp32, fp64 = affinity_loss(V, Y), affinity_loss(V.double(), Y.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = affinity_loss(V, Y)
    assert loss.dtype == torch.float32 and torch.equal(loss, fp32)
    torch.testing.assert_close(loss.double(), fp64, rtol=0.01, atol=0)


def test_non_finite_embeddings_make_the_training_loss_nan_instead_of_raising():
    """The trainer then stops every process at the same step (a raise on one process hangs the others)."""
    model = DeepClustering.tiny()
    with torch.no_grad():
        model.embedding.bias[0] = float("nan")
    mix, sources = _tone_mixture(1)
    assert torch.isnan(model.loss(mix, sources))
    with pytest.raises(train.TrainingDiverged, match="step 1 .*the loss became NaN"):
        train.Trainer(train.TrainConfig(batch_size=1), [(mix[0], sources[0])], None, model=model,
                      progress=False).run(steps=1)
