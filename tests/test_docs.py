"""The examples in the docstrings run and print what they say (doctest)."""

import doctest
import importlib

import pytest

MODULES = ["tasnet_edu.masks", "tasnet_edu.metrics", "tasnet_edu.tcn", "tasnet_edu.encoders",
           "tasnet_edu.models.conv_tasnet", "tasnet_edu.models.tasnet", "tasnet_edu.models.deep_clustering",
           "tasnet_edu.separator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} fail (see above)"
