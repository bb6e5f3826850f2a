"""Exercises of chapter 03 (SI-SNR and permutation-invariant training).

1. ``check_si_snr(fn)``: write SI-SNR from scratch (zero-mean, projection, ratio in dB).
2. ``check_snr_of_half(value)``: the plain SNR of a perfect estimate at half the volume.
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


# --- 2. plain SNR of a quiet but perfect estimate --------------------------------------------------------
def _solution_snr_of_half() -> float:
    # SNR = 10 log10(||s||² / ||0.5 s - s||²) = 10 log10(1 / 0.25)
    return 10 * math.log10(4)


def check_snr_of_half(value) -> None:
    """Plain SNR 10 log10(||s||² / ||ŝ - s||²) in dB of ŝ = 0.5 · s (a perfect estimate at half volume)."""
    expected = _solution_snr_of_half()
    assert abs(float(value) - expected) < 0.01, (
        f"got {float(value):.3f} dB. Hint: ŝ - s = -0.5 s, so the error energy is a quarter of ||s||²."
    )
    print(f"Correct: only {expected:.2f} dB though only the volume is wrong; SI-SNR calls it perfect.")


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
