from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shipped():
    """The shipped data package, loaded once per test session."""
    from coalition_report.data import load_data
    return load_data(ROOT / "data")


@pytest.fixture()
def valid_dir() -> Path:
    return FIXTURES / "valid"
