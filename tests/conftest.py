"""Shared test set-up: hypothesis profile from HYPOTHESIS_PROFILE, the device fixture, data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minidl import backend
from minidl.testing import load_profile

load_profile("dev")


def _devices():
    found = ["cpu"]
    if backend.cupy_available():
        found.append("cuda")
    return found


@pytest.fixture(params=_devices())
def device(request):
    """Each backend present here: NumPy always, CuPy when a GPU is usable."""
    return request.param


@pytest.fixture(scope="session")
def data_dir():
    """The offline datasets (``MINIDL_DATA``); tests that need them skip when it is unset."""
    path = os.environ.get("MINIDL_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("MINIDL_DATA is not set to the datasets folder")
    return Path(path)
