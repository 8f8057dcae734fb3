"""``minidl.cuda`` and the messages for a ``cuda`` device that cannot be had, checked without
a GPU by standing in for CuPy; seeding of the device generators (strict device, and a stand-in
CuPy whose generator is NumPy's)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import backend
from minidl.backend import Device


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", ImportError("No module named 'cupy'"))


def _fake_cupy(count):
    """A stand-in for CuPy that sees ``count`` GPUs (or fails like a missing driver when None)."""

    def get_device_count():
        if count is None:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return count

    class FakeDevice:
        def __init__(self, index=0):
            self.index = index

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def synchronize(self):
            pass

    null_stream = types.SimpleNamespace(synchronize=lambda: None)
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    cuda = types.SimpleNamespace(runtime=runtime, Device=FakeDevice, Stream=types.SimpleNamespace(null=null_stream))
    return types.SimpleNamespace(cuda=cuda, random=types.SimpleNamespace(default_rng=np.random.default_rng))


def test_without_cupy(no_cupy):
    assert not minidl.cuda.is_available() and minidl.cuda.device_count() == 0
    minidl.cuda.synchronize()  # nothing to wait for
    with pytest.raises(RuntimeError, match=r"needs CuPy, which is not installed.*minidl\[gpu\].*CUDA 12 or 13"):
        minidl.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"'cuda:1' needs CuPy"):
        minidl.tensor([1.0]).to("cuda:1")


@pytest.mark.parametrize("count", [None, 0])
def test_cupy_without_gpu(monkeypatch, count):
    monkeypatch.setattr(backend, "_cupy", _fake_cupy(count))
    assert not minidl.cuda.is_available() and minidl.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"CuPy is installed but .*GPU.*nvidia-smi"):
        minidl.ones(2, device="cuda")


def test_cupy_with_one_gpu(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", _fake_cupy(1))
    assert minidl.cuda.is_available() and minidl.cuda.device_count() == 1
    minidl.cuda.synchronize()
    minidl.cuda.synchronize("cuda:0")
    with pytest.raises(RuntimeError, match=r"'cuda:2' does not exist: 1 CUDA device"):
        backend.require_cuda(Device("cuda:2"))


def test_manual_seed_seeds_host_and_device_generators(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", _fake_cupy(1))
    monkeypatch.setattr(backend, "_device_rngs", {})

    def draws():
        rngs = [backend.rng_for(Device(d)) for d in ("cpu", "cuda", "strict")]
        return [backend.as_numpy(g.normal(0.0, 1.0, size=3)) for g in rngs]

    minidl.manual_seed(11)
    first = draws()
    minidl.cuda.manual_seed(11)
    again = draws()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    minidl.manual_seed(12)
    assert not np.array_equal(draws()[1], first[1])


def test_dropout_masks_repeat_after_manual_seed_on_the_device():
    x = minidl.ones(8, 8, device="strict")

    def mask():
        y = F.dropout(x, 0.5)
        assert y.device == "strict"
        return backend.as_numpy(y.array).copy()

    minidl.manual_seed(4)
    a = mask()
    minidl.manual_seed(4)
    np.testing.assert_array_equal(mask(), a)


def test_device_generator_draws():
    g = backend.DeviceGenerator(np.random.default_rng(0))
    assert g.random((2, 3), dtype=np.float32).dtype == np.float32
    u = g.uniform(2.0, 3.0, size=1000)
    assert 2.0 <= u.min() and u.max() < 3.0
    n = g.normal(5.0, 0.1, size=1000)
    assert abs(n.mean() - 5.0) < 0.05
    assert sorted(g.permutation(5).tolist()) == [0, 1, 2, 3, 4] and g.integers(0, 3, size=4).max() < 3


# ---- benchmarks/gpu_check.py without a GPU -------------------------------------------------------
def _gpu_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_without_gpu_says_so_and_exits_0(no_cupy, capsys):
    assert _gpu_check().main([]) == 0
    out = capsys.readouterr().out
    assert "no GPU check here: CuPy is not installed" in out and "pip install minidl[gpu]" in out


def test_gpu_check_runs_its_steps_on_the_strict_device(capsys):
    gpu_check = _gpu_check()
    assert gpu_check.main(["--device", "strict", "--quick", "--repeats", "1", "--skip", "tests", "mnist", "torch"]) == 0
    out = capsys.readouterr().out
    for name in ("cnn", "lstm", "attention", "transformer", "cnn b16"):
        assert f"\n{name} " in out
    assert "faster than the CPU backend" in out
    rows = [("cnn b256", 0.01, 0.2, 0.005)]
    assert gpu_check.verdict(rows) == [
        "cnn b256: 20.0x faster than the CPU backend (target >= 10x)",
        "cnn b256: 2.00x torch's time on the same device (target <= 3x)",
    ]
