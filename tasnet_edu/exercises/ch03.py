"""Exercises of chapter 03 (SI-SNR and permutation-invariant training).

1. ``check_si_snr(fn)``: write SI-SNR from scratch (zero-mean, projection, ratio in dB).
2. ``check_upit_step(fn)``: one training step with the uPIT loss: forward, best permutation, backward, step.
3. ``check_frame_level_pit(fn)`` and ``check_utterance_level_pit(fn)``: choose the assignment of outputs to
   references once per frame, or once per utterance; the second check shows why frame-level PIT lets the
   outputs swap speakers between frames.
"""

from __future__ import annotations

import itertools
import math

import torch

from tasnet_edu import metrics


# --- 1. SI-SNR from scratch ---------------------------------------------------------------------------
def _solution_si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())


def check_si_snr(fn) -> None:
    """``fn(est (time,), ref (time,)) -> dB``: SI-SNR of one estimate, as ``tasnet_edu.metrics.si_snr``."""
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(4000, generator=g)
    cases = {
        "a noisy estimate": ref + 0.3 * torch.randn(4000, generator=g),
        "a scaled estimate": 5 * ref + torch.randn(4000, generator=g),
        "an estimate with a DC offset": ref + 0.5 * torch.randn(4000, generator=g) + 2.0,
    }
    for name, est in cases.items():
        got, expected = float(fn(est, ref)), float(metrics.si_snr(est, ref))
        assert abs(got - expected) < 1e-3, (
            f"for {name}: got {got:.3f} dB, expected {expected:.3f} dB. Hint: remove both means first, then "
            "s_target = <est, ref> ref / ||ref||², e_noise = est - s_target, "
            "10 log10(||s_target||² / ||e_noise||²)."
        )
    print("Correct: projection, error, ratio — and it ignores the estimate's scale and offset.")


# --- 2. one uPIT training step ----------------------------------------------------------------------------
class _ToySeparator(torch.nn.Module):
    """A toy "separator": two learned FIR filters of the mixture, ``(batch, time)`` → ``(batch, 2, time)``."""

    def __init__(self, taps: int = 9, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv1d(1, 2, taps, padding=taps // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(0.3 * torch.randn(self.conv.weight.shape, generator=g))

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        return self.conv(mix[:, None])


def _toy_batch(seed: int = 0, batch: int = 3, time: int = 400):
    """Sources a pair of filters can separate: a low and a high tone of random phase, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(time) / 8000
    phase = 2 * math.pi * torch.rand(batch, 2, 1, generator=g)
    refs = torch.sin(2 * math.pi * torch.tensor([[300.0], [2500.0]]) * t + phase)
    refs = refs + 0.05 * torch.randn(refs.shape, generator=g)
    swap = torch.tensor([i % 2 == 1 for i in range(batch)])
    refs[swap] = refs[swap].flip(1)                       # which reference is "s1" differs between items
    return refs.sum(1), refs


def _solution_upit_step(model, optimizer, mix: torch.Tensor, refs: torch.Tensor) -> float:
    """One optimisation step on the uPIT loss: the negative SI-SNR under each item's best permutation."""
    est = model(mix)                                      # (batch, n_src, time)
    loss, _ = metrics.pit_si_snr(est, refs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def check_upit_step(fn) -> None:
    """``fn(model, optimizer, mix (batch, time), refs (batch, n_src, time)) -> float``: run the model, take
    the uPIT loss (``tasnet_edu.metrics.pit_si_snr``, which returns ``(loss, perm)``), and make ONE optimiser
    step on it; return the loss before the step as a float. The check compares your step with the reference
    step on a copy of the same model, then runs 60 of your steps."""
    mix, refs = _toy_batch()
    mine, reference = _ToySeparator(), _ToySeparator()
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.05)
    opt_ref = torch.optim.SGD(reference.parameters(), lr=0.05)
    got = fn(mine, opt_mine, mix, refs)
    expected = _solution_upit_step(reference, opt_ref, mix, refs)
    assert isinstance(got, float | int) or torch.as_tensor(got).numel() == 1, "return the loss as one number"
    assert abs(float(got) - expected) < 1e-4, (
        f"your loss {float(got):.4f}, expected {expected:.4f}. Hint: loss, perm = metrics.pit_si_snr(est, "
        "refs) on est = model(mix); return the loss computed before the step.")
    moved = mine.conv.weight.detach() - _ToySeparator().conv.weight
    assert moved.abs().max() > 0, (
        "the weights did not change: call optimizer.zero_grad(), loss.backward(), optimizer.step()")
    for step in ("first", "second"):
        assert torch.allclose(mine.conv.weight, reference.conv.weight, atol=1e-5), (
            f"after the {step} step your weights differ from SGD on the uPIT loss. Hint: zero the old "
            "gradients first (optimizer.zero_grad()), then backward on the loss itself (it is already the "
            "negative SI-SNR, a loss to minimise).")
        fn(mine, opt_mine, mix, refs)
        _solution_upit_step(reference, opt_ref, mix, refs)
    losses = [float(fn(mine, opt_mine, mix, refs)) for _ in range(60)]
    assert losses[-1] < expected - 5, (
        f"60 steps took the loss from {expected:.1f} only to {losses[-1]:.1f}: does each call take a step?")
    print(f"Correct: one uPIT step. After 60 of them the loss fell from {expected:.1f} to "
          f"{losses[-1]:.1f} dB (negative SI-SNR), with the speakers in another order in every other item.")


# --- 3. frame-level vs utterance-level PIT ---------------------------------------------------------------
def _permutations(n_src: int) -> torch.Tensor:
    return torch.tensor(list(itertools.permutations(range(n_src))))     # (n_perm, n_src)


def _perm_scores(scores: torch.Tensor) -> torch.Tensor:
    """``scores (frames, n_est, n_ref)`` → ``(frames, n_perm)``: mean of scores[t, perm[j], j] over j."""
    perms = _permutations(scores.shape[-1])
    refs = torch.arange(scores.shape[-1])
    return scores[:, perms, refs].mean(-1)


def _solution_frame_level_pit(scores: torch.Tensor) -> torch.Tensor:
    """For each frame its own best permutation: ``(frames, n_src)``."""
    return _permutations(scores.shape[-1])[_perm_scores(scores).argmax(-1)]


def _solution_utterance_level_pit(scores: torch.Tensor) -> torch.Tensor:
    """One permutation for the whole utterance, the best on the sum over its frames: ``(n_src,)``."""
    return _permutations(scores.shape[-1])[_perm_scores(scores).sum(0).argmax()]


def _random_scores(seed: int, frames: int = 12, n_src: int = 3) -> torch.Tensor:
    """Random pairwise scores: frame 0 favours the identity, the utterance as a whole the reversed order."""
    scores = 20 * torch.rand(frames, n_src, n_src, generator=torch.Generator().manual_seed(seed)) - 5
    scores[:, torch.arange(n_src).flip(0), torch.arange(n_src)] += 8
    scores[0, torch.arange(n_src), torch.arange(n_src)] += 50
    return scores


def _check_perm(got, n_src: int, what: str) -> torch.Tensor:
    got = torch.as_tensor(got).long()
    rows = got.reshape(-1, got.shape[-1]).tolist() if got.dim() else [[]]
    assert got.shape[-1:] == (n_src,) and all(sorted(p) == list(range(n_src)) for p in rows), (
        f"{what}: each assignment must be a permutation of 0 … {n_src - 1}, got {got.tolist()}")
    return got


def check_frame_level_pit(fn) -> None:
    """``fn(scores (frames, n_est, n_ref)) -> perms (frames, n_src)``: ``scores[t, i, j]`` is the score of
    output i against reference j in frame t (higher is better); ``perms[t, j]`` is the output assigned to
    reference j in frame t, chosen for that frame alone (the convention of ``metrics.pit_si_snr``)."""
    for seed, n_src in ((0, 2), (1, 3)):
        scores = _random_scores(seed, n_src=n_src)
        got = _check_perm(fn(scores.clone()), n_src, "frame-level PIT")
        assert got.shape == (scores.shape[0], n_src), (
            f"return one permutation per frame, shape ({scores.shape[0]}, {n_src}); got {tuple(got.shape)}")
        best = _perm_scores(scores).max(-1).values
        mine = scores[torch.arange(len(got))[:, None], got, torch.arange(n_src)].mean(-1)
        assert torch.allclose(mine, best), (
            "in some frame another assignment scores higher. Hint: for each frame t, try every "
            "itertools.permutations(range(n_src)) and keep the one with the highest mean of "
            "scores[t, perm[j], j].")
    print("Correct: each frame gets its own best assignment.")


def _swapping_example(frames: int = 40, length: int = 80):
    """Two speakers whose loudness crosses half way, and "outputs" that give the louder one to output 1."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(frames * length) / 8000
    envelope = torch.linspace(1.0, 0.1, frames).repeat_interleave(length)
    refs = torch.stack([envelope * torch.sin(2 * math.pi * 220 * t),
                        envelope.flip(0) * torch.sin(2 * math.pi * 330 * t)])
    refs = refs + 0.01 * torch.randn(refs.shape, generator=g)
    framed = refs.view(2, frames, length).transpose(0, 1)                  # (frames, 2, length)
    louder_first = framed[:, 0].pow(2).sum(-1) >= framed[:, 1].pow(2).sum(-1)
    outputs = torch.where(louder_first[:, None, None], framed, framed.flip(1))
    return outputs, framed, metrics.pairwise_si_snr(outputs, framed)


def check_utterance_level_pit(fn) -> None:
    """``fn(scores (frames, n_est, n_ref)) -> perm (n_src,)``: ONE assignment for the whole utterance, the
    one with the highest total score over its frames. The check then shows frame-level PIT at work on
    outputs that carry the louder speaker in output 1, whoever it is."""
    for seed, n_src in ((2, 2), (3, 3)):
        scores = _random_scores(seed, n_src=n_src)
        got = _check_perm(fn(scores.clone()), n_src, "utterance-level PIT").reshape(-1)
        assert got.shape == (n_src,), f"return one permutation (n_src,), got shape {tuple(got.shape)}"
        best = _perm_scores(scores).sum(0).max()
        mine = scores[:, got, torch.arange(n_src)].mean(-1).sum()
        assert torch.isclose(mine, best), (
            "another single assignment scores higher over the utterance. Hint: add up, over the frames, the "
            "mean of scores[t, perm[j], j] for each permutation, and keep the best permutation.")
    outputs, framed, scores = _swapping_example()
    frame_perms = _solution_frame_level_pit(scores)
    switches = int((frame_perms[1:] != frame_perms[:-1]).any(-1).sum())
    worst_frame = float(_perm_scores(scores).max(-1).values.min())
    perm = torch.as_tensor(fn(scores)).long().reshape(-1)
    tracks, refs = (x.transpose(0, 1).reshape(2, -1) for x in (outputs, framed))   # whole utterances
    whole = float(metrics.si_snr(tracks[perm], refs).mean())
    assert switches >= 1 and worst_frame > 40 and whole < 10
    s1_frames = int((frame_perms[:, 0] == 0).sum())
    print("Correct: one assignment per utterance.\n"
          "Why not per frame: in this example output 1 carries whichever speaker is louder — s1 in "
          f"{s1_frames} frames, s2 in the other {len(frame_perms) - s1_frames}. Frame-level PIT finds a "
          f"perfect assignment in every frame (the worst scores {worst_frame:.0f} dB) by switching it "
          f"{switches} time(s): its loss cannot see the swap, so a model trained with it is free to swap "
          "speakers between frames. Scored "
          f"as whole utterances, as uPIT scores them, the same outputs reach only {whole:.1f} dB SI-SNR: a "
          "swap costs, so a model trained with uPIT keeps each speaker on one output.")
