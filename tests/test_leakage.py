"""``evaluate.single_talker_leakage``: how far below the stronger output the weaker one stays."""

import pytest
import torch

from tasnet_edu.evaluate import single_talker_leakage


class Split(torch.nn.Module):
    """A fake separator: the input in one output, ``leak`` times it in the other."""

    def __init__(self, leak: float):
        super().__init__()
        self.leak = leak
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, mix):  # (batch, time) → (batch, 2, time)
        return torch.stack([mix, self.leak * mix], dim=1)


def test_leakage_is_the_energy_ratio_of_the_outputs_in_db():
    talkers = [torch.randn(4000, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    assert single_talker_leakage(Split(0.01), talkers) == pytest.approx([40.0] * 3, abs=1e-3)
    assert single_talker_leakage(Split(1.0), talkers) == pytest.approx([0.0] * 3, abs=1e-6)
    assert single_talker_leakage(Split(0.0), talkers[:1])[0] > 100  # a silent output: very far below
