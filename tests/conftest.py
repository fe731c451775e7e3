"""Shared fixtures: the project root and a smoke-profile params file."""
from pathlib import Path

import pytest

from mm import ROOT


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smoke_params() -> Path:
    return ROOT / "recipes" / "smoke.yaml"
