"""Chapter 05's overlap-add exercise: the reference solution passes, typical mistakes fail with a hint."""

import pytest

from tasnet_edu.exercises import ch05


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
