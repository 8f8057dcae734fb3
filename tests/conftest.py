"""Shared test set-up: hypothesis profile from HYPOTHESIS_PROFILE, the device fixture, data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minidl import backend
from minidl.testing import load_profile, use_strict_device

load_profile("dev")
use_strict_device()  # the device "strict" of the device fixtures


def _devices():
    """NumPy and the strict host arrays always, CuPy when a GPU is usable; ``MINIDL_TEST_DEVICES``
    (comma-separated, e.g. ``cuda``) narrows the choice, as benchmarks/gpu_check.py does."""
    found = ["cpu", "strict"]
    if backend.cupy_available():
        found.append("cuda")
    wanted = os.environ.get("MINIDL_TEST_DEVICES")
    if wanted:
        found = [d for d in found if d in {w.strip() for w in wanted.split(",")}]
    return found


@pytest.fixture(params=_devices())
def device(request):
    """Each backend present here: NumPy and strict always, CuPy when a GPU is usable."""
    return request.param


@pytest.fixture(params=[d for d in _devices() if d != "cpu"] or [pytest.param("none", marks=pytest.mark.skip)])
def other_device(request):
    """Each backend besides NumPy (strict, and CuPy when a GPU is usable), to compare with the CPU."""
    return request.param


@pytest.fixture(scope="session")
def data_dir():
    """The offline datasets (``MINIDL_DATA``); tests that need them skip when it is unset."""
    path = os.environ.get("MINIDL_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("MINIDL_DATA is not set to the datasets folder")
    return Path(path)
