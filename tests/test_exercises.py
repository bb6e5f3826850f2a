"""The exercises: every check has a reference solution that passes it, and typical wrong answers fail."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch

import tasnet_edu.exercises
from tasnet_edu.exercises import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, ch12
from tasnet_edu.metrics import si_snr

CHAPTERS = [importlib.import_module(f"tasnet_edu.exercises.{m.name}")
            for m in pkgutil.iter_modules(tasnet_edu.exercises.__path__)]
CHECKS = [(chapter, name) for chapter in CHAPTERS for name in sorted(vars(chapter))
          if name.startswith("check_")]


def test_every_chapter_with_exercises_is_found():
    assert len(CHAPTERS) >= 12 and len(CHECKS) >= 30


@pytest.mark.parametrize("chapter, name", CHECKS, ids=[f"{c.__name__.split('.')[-1]}.{n}" for c, n in CHECKS])
def test_every_check_has_a_reference_solution_that_passes(chapter, name, capsys):
    """``check_X`` has ``_solution_X``: a function answer, or (taking no argument) the function that
    computes a value answer. A passed check says so once ("Correct: …")."""
    solution = getattr(chapter, "_solution_" + name.removeprefix("check_"), None)
    assert solution is not None, f"{chapter.__name__}.{name} has no _solution_{name.removeprefix('check_')}"
    answer = solution() if not inspect.signature(solution).parameters else solution
    getattr(chapter, name)(answer)
    assert capsys.readouterr().out.count("Correct") == 1


# ---- ch01–04 ------------------------------------------------------------
def test_ch01_solutions_pass_and_wrong_answers_fail():
    ch01.check_frames(ch01._solution_frames)
    ch01.check_stft(ch01._solution_stft)
    ch01.check_istft(ch01._solution_istft)
    with pytest.raises(AssertionError, match="Hint"):      # zeros instead of the reflected ends
        ch01.check_frames(lambda x, n, hop: torch.nn.functional.pad(x, (n // 2, n // 2)).unfold(0, n, hop))
    with pytest.raises(AssertionError, match="Hint"):      # no centring: frames start at sample 0
        ch01.check_frames(lambda x, n, hop: x.unfold(0, n, hop))
    with pytest.raises(AssertionError, match="periodic"):  # the symmetric Hann window
        ch01.check_stft(lambda x, n, hop: torch.fft.rfft(
            ch01._solution_frames(x, n, hop) * torch.hann_window(n, periodic=False), dim=-1).T)
    with pytest.raises(AssertionError, match="Hint"):      # (frames, freq): not transposed
        ch01.check_stft(lambda x, n, hop: ch01._solution_stft(x, n, hop).T)

    def divide_by_window(spec, n_fft, hop, length):        # overlap-add divided by Σ w, not Σ w²
        window = torch.hann_window(n_fft)
        frames = torch.fft.irfft(spec.T, n=n_fft, dim=-1) * window
        total = (len(frames) - 1) * hop + n_fft
        out, weight = torch.zeros(total), torch.zeros(total)
        for k, frame in enumerate(frames):
            out[k * hop:k * hop + n_fft] += frame
            weight[k * hop:k * hop + n_fft] += window
        return (out / weight)[n_fft // 2:n_fft // 2 + length]

    with pytest.raises(AssertionError, match="squared"):
        ch01.check_istft(divide_by_window)


def test_ch02_solutions_pass_and_wrong_answers_fail():
    ch02.check_ideal_ratio_mask(ch02._solution_ideal_ratio_mask)
    ch02.check_ideal_binary_mask(ch02._solution_ideal_binary_mask)
    ch02.check_true_phase(ch02._solution_true_phase)
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_ideal_ratio_mask(lambda m: m**2 / (m**2).sum(0, keepdim=True).clamp_min(1e-12))  # the WFM
    with pytest.raises(AssertionError, match="NaN"):
        ch02.check_ideal_ratio_mask(lambda m: m / m.sum(0, keepdim=True))
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_ideal_binary_mask(lambda m: (m > 0.5).float())
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_true_phase(lambda mag, spec: mag * spec)


def test_ch03_solutions_pass_and_wrong_answers_fail():
    ch03.check_si_snr(ch03._solution_si_snr)
    ch03.check_upit_step(ch03._solution_upit_step)
    ch03.check_frame_level_pit(ch03._solution_frame_level_pit)
    ch03.check_utterance_level_pit(ch03._solution_utterance_level_pit)

    def no_zero_mean(est, ref):
        target = (est @ ref) / (ref @ ref) * ref
        return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())

    with pytest.raises(AssertionError, match="Hint: remove both means"):
        ch03.check_si_snr(no_zero_mean)

    def fixed_order_step(model, optimizer, mix, refs):    # no PIT: output i is scored against reference i
        loss = -si_snr(model(mix), refs).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def no_step(model, optimizer, mix, refs):
        return float(ch03.metrics.pit_si_snr(model(mix), refs)[0].detach())

    def gradients_pile_up(model, optimizer, mix, refs):    # forgets zero_grad: the second step goes wrong
        loss = ch03.metrics.pit_si_snr(model(mix), refs)[0]
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    with pytest.raises(AssertionError, match="Hint"):
        ch03.check_upit_step(fixed_order_step)
    with pytest.raises(AssertionError, match="did not change"):
        ch03.check_upit_step(no_step)
    with pytest.raises(AssertionError, match="second step"):
        ch03.check_upit_step(gradients_pile_up)
    identity = lambda s: torch.arange(s.shape[-1])  # noqa: E731
    with pytest.raises(AssertionError, match="in some frame"):
        ch03.check_frame_level_pit(lambda s: identity(s).expand(s.shape[0], -1))
    with pytest.raises(AssertionError, match="over the utterance"):
        ch03.check_utterance_level_pit(identity)
    with pytest.raises(AssertionError, match="over the utterance"):  # the first frame's choice
        ch03.check_utterance_level_pit(lambda s: ch03._solution_frame_level_pit(s)[0])
    with pytest.raises(AssertionError, match="one permutation"):   # one per frame, not per utterance
        ch03.check_utterance_level_pit(ch03._solution_frame_level_pit)


def test_ch03_pit_check_shows_frame_level_pit_blind_to_swaps(capsys):
    ch03.check_utterance_level_pit(ch03._solution_utterance_level_pit)
    out = capsys.readouterr().out
    assert "s1 in 20 frames, s2 in the other 20" in out and "switching it 1 time(s)" in out


def test_ch04_wrong_answers_fail():
    with pytest.raises(AssertionError, match="Hint"):
        ch04.check_affinity_loss(lambda V, Y: (V.T @ V).pow(2).sum() - (V.T @ Y).pow(2).sum())
    with pytest.raises(AssertionError, match="Hint"):      # the farthest centroid
        ch04.check_kmeans_step(lambda V, c: (
            torch.nn.functional.one_hot(torch.cdist(V, c).argmax(-1), len(c)).T.to(V.dtype), c))

    def centroids_stay(V, c):
        return ch04._solution_kmeans_step(V, c)[0], c

    with pytest.raises(AssertionError, match="centroids differ"):
        ch04.check_kmeans_step(centroids_stay)
    with pytest.raises(AssertionError, match="Hint"):
        ch04.check_active_bins(lambda m: (m > m.max() * 1e-4).float())


# ---- ch05–06 ------------------------------------------------------------
def test_ch05_code_ratio_mask_mistakes_are_caught():
    with pytest.raises(AssertionError, match="absolute value"):
        ch05.check_code_ratio_mask(lambda w: w / w.sum(dim=0, keepdim=True))
    with pytest.raises(AssertionError, match="Hint"):
        ch05.check_code_ratio_mask(lambda w: w.abs() / w.abs().sum())


def test_ch06_gated_code_mistakes_are_caught():
    with pytest.raises(AssertionError, match="L2 norm"):  # forgot the normalisation
        ch06.check_gated_code(lambda x, U, V: torch.relu(U @ x) * torch.sigmoid(V @ x))
    with pytest.raises(AssertionError, match="shape"):
        ch06.check_gated_code(lambda x, U, V: torch.zeros(3))


def test_overlap_add_solution_passes_and_matches_the_decoder(capsys):
    ch05.check_overlap_add(ch05._solution_overlap_add)
    assert "checked equal to the decoder" in capsys.readouterr().out


def _overwrite(frames, hop):
    n, L = frames.shape
    out = frames.new_zeros((n - 1) * hop + L)
    for k in range(n):
        out[k * hop : k * hop + L] = frames[k]  # overwrites the overlap instead of adding
    return out


def test_overlap_add_mistakes_are_caught():
    with pytest.raises(AssertionError, match="ADDED"):
        ch05.check_overlap_add(_overwrite)
    with pytest.raises(AssertionError, match="last frame starts"):
        ch05.check_overlap_add(lambda frames, hop: frames.reshape(-1))        # frames laid end to end


# ---- ch07–08 ------------------------------------------------------------
def test_reference_solutions_pass(capsys):
    ch07.check_receptive_field(ch07._solution_receptive_field)
    ch07.check_cumulative_layer_norm(ch07._solution_cumulative_layer_norm)
    ch08.check_block_parameters(ch08._solution_block_parameters)
    ch08.check_frames(ch08._solution_frames)
    assert capsys.readouterr().out.count("Correct") == 4


def test_wrong_answers_fail_with_a_hint():
    with pytest.raises(AssertionError, match="Hint"):
        ch07.check_receptive_field(lambda P, X, R: R * P * 2**X)
    with pytest.raises(AssertionError, match="frame k may only use frames 0…k"):  # global statistics
        ch07.check_cumulative_layer_norm(lambda x: (x - x.mean()) / x.std())
    with pytest.raises(AssertionError, match="Hint"):  # forgot the biases
        ch08.check_block_parameters(lambda B, H, Sc, P: B * H + H * P + H * B + H * Sc + 4 * H + 2)
    with pytest.raises(AssertionError, match="Hint"):  # no padding of the last frame
        ch08.check_frames(lambda time, L: (time - L) // (L // 2) + 1)
    with pytest.raises(AssertionError, match="channels"):
        ch07.check_cumulative_layer_norm(_per_channel_cumulative_norm)


def _per_channel_cumulative_norm(x):
    """A plausible mistake: cumulative statistics per channel instead of over all channels."""
    count = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = x.cumsum(-1) / count
    return (x - mean) / torch.sqrt(x.square().cumsum(-1) / count - mean.square() + 1e-8)


def test_new_chapter_07_08_exercises_pass_with_the_reference_solutions(capsys):
    ch07.check_global_layer_norm(ch07._solution_global_layer_norm)
    ch07.check_causal_depthwise_conv(ch07._solution_causal_depthwise_conv)
    ch07.check_conv1d_block(ch07._solution_conv1d_block)
    assert capsys.readouterr().out.count("Correct") == 3


def test_global_layer_norm_mistakes_are_caught():
    with pytest.raises(AssertionError, match="each channel on its own"):  # instance norm
        ch07.check_global_layer_norm(lambda x: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True))
    with pytest.raises(AssertionError, match="each frame on its own"):  # nn.LayerNorm over channels
        ch07.check_global_layer_norm(
            lambda x: torch.nn.functional.layer_norm(x.transpose(1, 2), (x.shape[1],)).transpose(1, 2))
    with pytest.raises(AssertionError, match="never over the batch"):
        ch07.check_global_layer_norm(lambda x: (x - x.mean()) / x.std())


def test_causal_depthwise_conv_mistakes_are_caught():
    import torch.nn.functional as F

    def centred(x, w, d):
        return F.conv1d(x, w, padding=(w.shape[-1] - 1) * d // 2, dilation=d, groups=x.shape[1])

    def no_dilation(x, w, d):
        return F.conv1d(F.pad(x, (w.shape[-1] - 1, 0)), w, groups=x.shape[1])

    with pytest.raises(AssertionError, match="looks ahead"):
        ch07.check_causal_depthwise_conv(centred)
    with pytest.raises(AssertionError, match="dilation=d"):
        ch07.check_causal_depthwise_conv(no_dilation)
    with pytest.raises(AssertionError, match="keep 50 frames"):
        ch07.check_causal_depthwise_conv(lambda x, w, d: F.conv1d(x, w, dilation=d, groups=x.shape[1]))


def test_conv1d_block_mistakes_are_caught():
    from dataclasses import replace

    def no_input(x, spec):
        residual, skip = ch07._solution_conv1d_block(x, spec)
        return (None if residual is None else residual - x), skip

    def centred_always(x, spec):
        return ch07._solution_conv1d_block(x, replace(spec, depthwise=replace(spec.depthwise, causal=False)))

    def no_gain(x, spec):
        def plain(norm):
            return replace(norm, gain=torch.ones_like(norm.gain), bias=torch.zeros_like(norm.bias))
        norms = dict(pointwise_norm=plain(spec.pointwise_norm), depthwise_norm=plain(spec.depthwise_norm))
        return ch07._solution_conv1d_block(x, replace(spec, **norms))

    def slopes_swapped(x, spec):
        return ch07._solution_conv1d_block(
            x, replace(spec, pointwise_slope=spec.depthwise_slope, depthwise_slope=spec.pointwise_slope))

    with pytest.raises(AssertionError, match="INPUT plus"):
        ch07.check_conv1d_block(no_input)
    with pytest.raises(AssertionError, match="on the left"):
        ch07.check_conv1d_block(centred_always)
    with pytest.raises(AssertionError, match="gain and bias"):
        ch07.check_conv1d_block(no_gain)
    with pytest.raises(AssertionError, match="its slope"):
        ch07.check_conv1d_block(slopes_swapped)


def test_ch07_tcn_from_your_block_passes_and_wrong_stacks_fail():
    ch07.check_tcn(ch07._solution_tcn, ch07._solution_conv1d_block)

    def same_input_to_every_block(x, specs, conv1d_block):
        return sum(conv1d_block(x, spec)[1] for spec in specs)

    def last_skip_only(x, specs, conv1d_block):
        for spec in specs:
            residual, skip = conv1d_block(x, spec)
            x = residual if residual is not None else x
        return skip

    with pytest.raises(AssertionError, match="RESIDUAL"):
        ch07.check_tcn(same_input_to_every_block)
    with pytest.raises(AssertionError, match="Hint"):
        ch07.check_tcn(last_skip_only)
    with pytest.raises(AssertionError, match="detach"):
        ch07.check_tcn(lambda x, specs, block_fn: ch07._solution_tcn(x.detach(), specs, block_fn))


# ---- ch09–11 ------------------------------------------------------------
def test_ch09_fixed_order_loss():
    ch09.check_fixed_order_loss(ch09._solution_fixed_order_loss)
    with pytest.raises(AssertionError, match="minus their mean"):
        ch09.check_fixed_order_loss(lambda est, ref: si_snr(est, ref).mean())  # forgot the sign


def test_ch10_exercises():
    ch10.check_steps_per_epoch(ch10._solution_steps_per_epoch)
    with pytest.raises(AssertionError, match="drop_last"):
        ch10.check_steps_per_epoch(lambda n, b, k: n // b)
    ch10.check_last_saved_step(ch10._solution_last_saved_step)
    with pytest.raises(AssertionError, match="not finished"):
        ch10.check_last_saved_step(lambda n, every: n // every * every)  # counts the unfinished step
    ch10.check_precision(ch10._solution_precision)
    with pytest.raises(AssertionError, match="a V100"):
        ch10.check_precision(lambda cap: "fp32" if cap is None or cap < (8, 0) else "bf16")  # no fp16
    with pytest.raises(AssertionError, match="a P100"):
        ch10.check_precision(lambda cap: "fp32" if cap is None else "bf16" if cap >= (8, 0) else "fp16")


def test_ch11_exercises():
    from tasnet_edu.exercises import ch11

    ch11.check_mean_interval(ch11._solution_mean_interval)
    with pytest.raises(AssertionError, match="1.96"):
        normal = lambda v: (sum(v) / len(v), 1.96 * torch.tensor(v).std().item() / len(v) ** 0.5)  # noqa: E731
        ch11.check_mean_interval(normal)
    ch11.check_paired_difference(ch11._solution_paired_difference)
    with pytest.raises(AssertionError, match="utterance by utterance"):
        ch11.check_paired_difference(
            lambda a, b: (sum(b) / len(b) - sum(a) / len(a),
                          ch11._solution_mean_interval(a)[1] + ch11._solution_mean_interval(b)[1]))
    ch11.check_bss_ratios(ch11._solution_bss_ratios)
    with pytest.raises(AssertionError, match="SAR"):  # the artifacts against the target alone
        ch11.check_bss_ratios(lambda t, i, a: (*ch11._solution_bss_ratios(t, i, a)[:2],
                                               10 * torch.log10(t.pow(2).sum(-1) / a.pow(2).sum(-1))))
    with pytest.raises(AssertionError, match="SDR"):  # the interference forgotten in the error
        ch11.check_bss_ratios(lambda t, i, a: (10 * torch.log10(t.pow(2).sum(-1) / a.pow(2).sum(-1)),
                                               *ch11._solution_bss_ratios(t, i, a)[1:]))


# ---- ch12 ------------------------------------------------------------
def test_ch12_active_rms():
    ch12.check_active_rms(ch12._solution_active_rms)
    with pytest.raises(AssertionError, match="pause"):
        ch12.check_active_rms(lambda wav, sr: float(np.sqrt(np.mean(wav**2))))  # the plain RMS


def test_ch12_speaker_split():
    ch12.check_speaker_split(ch12._solution_speaker_split)

    def by_utterance(utterances, n_valid, n_test):  # splits files, not speakers
        split = {i: "valid" if i < 5 else "test" if i < 8 else "train" for i in range(len(utterances))}
        return {u: split[i] for i, (_, u) in enumerate(utterances)}

    with pytest.raises(AssertionError, match="two splits"):
        ch12.check_speaker_split(by_utterance)


def test_ch12_speed_perturbation():
    ch12.check_speed_perturbation(ch12._solution_speed_perturbation)
    with pytest.raises(AssertionError, match="samples"):
        ch12.check_speed_perturbation(lambda wav, sr, f: wav)  # no change at all
    with pytest.raises(AssertionError):  # resampled the wrong way round: slower instead of faster
        ch12.check_speed_perturbation(lambda wav, sr, f: ch12.resample(wav, sr, round(sr * f)))
