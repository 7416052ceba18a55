"""The runnable examples in module docstrings are tests too (fmt's public helpers, textsafe)."""

import doctest

import pytest

from coalition_report import fmt, textsafe


@pytest.mark.parametrize("module", [fmt, textsafe], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no examples to run"
    assert result.failed == 0
