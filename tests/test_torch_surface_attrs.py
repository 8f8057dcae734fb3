"""The module attributes, constructors and tensor attributes PyTorch programs reach for, with torch
as the oracle where it has them: Size, stride, format, dtypes, backends, typed constructors,
*_like, new_*, out=, axis=/keepdims=, normal, multinomial, submodules."""

import math
import subprocess
import sys

import numpy as np
import pytest

import minidl


def test_size_stride_and_contiguity_match_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(24.0).reshape(2, 3, 4)
    for make in (lambda t: t, lambda t: t.transpose(0, 2), lambda t: t[:, 1:, ::2], lambda t: t[:, :1].expand(2, 5, 4)):
        ours, theirs = make(minidl.tensor(a)), make(torch.tensor(a))
        assert ours.stride() == theirs.stride() and ours.is_contiguous() == theirs.is_contiguous()
        assert ours.size() == theirs.size() and ours.size().numel() == theirs.size().numel()
        assert ours.stride(1) == theirs.stride(1) and ours.size(-1) == theirs.size(-1)
    size = minidl.zeros(2, 3).size()
    assert isinstance(size, minidl.Size) and isinstance(size, tuple) and size == (2, 3)
    assert isinstance(size[1:], minidl.Size) and repr(size) == "minidl.Size([2, 3])"


def test_format_of_a_0d_tensor():
    assert f"{minidl.tensor(3.14159):.2f}" == "3.14" and f"{minidl.tensor(7):>3d}" == "  7"
    with pytest.raises((TypeError, ValueError)):
        f"{minidl.tensor([1.0, 2.0]):.2f}"


def test_dtypes_numpy_holds_and_the_ones_it_does_not():
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                 "complex64", "complex128", "half", "double", "long", "short", "cfloat", "cdouble"):
        assert isinstance(getattr(minidl, name), np.dtype), name
    assert minidl.zeros(2, dtype=minidl.complex64).dtype == np.complex64
    assert minidl.zeros(2).dtype != minidl.bfloat16
    with pytest.raises(TypeError, match="bfloat16: NumPy has no bfloat16 dtype"):
        minidl.zeros(2, dtype=minidl.bfloat16)
    with pytest.raises(TypeError, match="bfloat16"):
        minidl.ones(2).to(minidl.bfloat16)
    assert minidl.finfo(minidl.float32).eps == np.finfo(np.float32).eps and minidl.iinfo(minidl.int8).max == 127


def test_hardware_questions_have_answers():
    assert minidl.cuda.is_available() == minidl.backends.cuda.is_available() == minidl.accelerator.is_available()
    assert minidl.backends.mps.is_available() is False and minidl.backends.cudnn.is_available() is False
    minidl.backends.cudnn.benchmark = True  # programs set it; minidl runs no cuDNN algorithms
    assert minidl.backends.cudnn.benchmark is True
    minidl.backends.cudnn.benchmark = False
    if not minidl.cuda.is_available():
        assert minidl.accelerator.current_accelerator() is None and minidl.cuda.device_count() == 0
    assert minidl.device("cpu").type == "cpu" and str(minidl.device("cuda:1")) == "cuda:1"


def test_submodules_are_attributes_after_import_minidl():
    code = ("import sys, minidl; f = minidl.nn.functional.relu; a = minidl.autograd.Function; "
            "u = minidl.utils; assert 'keras' not in sys.modules and 'minidl.keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_typed_constructors_as_in_torch():
    torch = pytest.importorskip("torch")
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ByteTensor", "BoolTensor"):
        ours, theirs = getattr(minidl, name)([1, 0, 2]), getattr(torch, name)([1, 0, 2])
        assert ours.tolist() == theirs.tolist() and str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        assert isinstance(ours, getattr(minidl, name)) and not isinstance(ours, minidl.HalfTensor)
    assert minidl.FloatTensor(2, 3).shape == (2, 3) and minidl.LongTensor(4).dtype == minidl.int64
    assert minidl.Tensor(2, 3).shape == (2, 3) and minidl.Tensor([1, 2]).dtype == minidl.float32
    assert minidl.Tensor().shape == (0,) and minidl.Tensor([[1.0]]).tolist() == [[1.0]]


def test_like_and_new_constructors_keep_dtype_and_shape_as_torch():
    torch = pytest.importorskip("torch")
    pairs = [(minidl.zeros(2, 3, dtype=minidl.float64), torch.zeros(2, 3, dtype=torch.float64)),
             (minidl.tensor([[1, 2]]), torch.tensor([[1, 2]]))]
    for ours, theirs in pairs:
        for name in ("new_zeros", "new_ones", "new_empty"):
            a, b = getattr(ours, name)(4, 1), getattr(theirs, name)(4, 1)
            assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).removeprefix("torch.")
        assert ours.new_full((2,), 7).tolist() == theirs.new_full((2,), 7).tolist()
        assert ours.new_tensor([3, 4]).dtype == ours.dtype
        assert minidl.randint_like(ours, 5).shape == ours.shape and minidl.randint_like(ours, 2, 5).dtype == ours.dtype
    x = minidl.zeros(3, 2)
    assert minidl.rand_like(x).shape == (3, 2) and minidl.randn_like(x, dtype=minidl.float64).dtype == minidl.float64
    r = minidl.rand_like(minidl.tensor([[1, 2]]), dtype=minidl.float32)
    assert r.dtype == minidl.float32 and bool(((r >= 0) & (r < 1)).all())
    with pytest.raises(RuntimeError, match="pass dtype="):
        minidl.randn_like(minidl.tensor([1, 2]))


def test_out_argument_as_in_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(6.0).reshape(2, 3)
    for lib in (minidl, torch):
        x = lib.tensor(a)
        y = lib.zeros(2, 2, dtype=x.dtype)
        assert lib.matmul(x, x.T, out=y) is y and y.tolist() == (x @ x.T).tolist()
        z = lib.zeros(0, dtype=x.dtype)
        lib.add(x, x, alpha=2, out=z)  # resized, as PyTorch resizes an out of another shape
        assert z.tolist() == (3 * x).tolist()
        w = lib.tensor(a, requires_grad=True)
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            lib.mul(w, w, out=lib.zeros(2, 3, dtype=w.dtype))
    with pytest.raises(RuntimeError, match="result type float64 can't be cast to the desired output type int64"):
        minidl.mul(minidl.tensor(a), 2.0, out=minidl.zeros(2, 3, dtype=minidl.int64))


def test_axis_and_keepdims_aliases_match_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    x, t = minidl.tensor(a), torch.tensor(a)
    for name in ("sum", "mean", "amax", "argmax", "std", "var", "logsumexp"):
        ours, theirs = getattr(minidl, name)(x, axis=1, keepdims=True), getattr(torch, name)(t, axis=1, keepdims=True)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.sum(axis=(0, 2)).numpy(), t.sum(axis=(0, 2)).numpy(), rtol=1e-12)
    assert minidl.max(x, axis=2).values.shape == (2, 3) and minidl.max(x, x * 2).shape == (2, 3, 4)
    with pytest.raises(TypeError, match="got both dim and its alias axis"):
        minidl.sum(x, dim=0, axis=1)


def test_normal_draws_the_asked_distribution():
    minidl.manual_seed(0)
    z = minidl.normal(2.0, 3.0, size=(20000,))
    assert z.dtype == minidl.float32 and abs(float(z.mean()) - 2.0) < 0.1 and abs(float(z.std()) - 3.0) < 0.1
    mean, std = minidl.tensor([0.0, 100.0]), minidl.tensor([1.0, 0.0], dtype=minidl.float64)
    w = minidl.normal(mean, std)
    assert w.shape == (2,) and w[1].item() == 100.0 and not w.requires_grad
    assert minidl.normal(minidl.zeros(3, 1), 1.0).shape == (3, 1)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        minidl.normal(mean, -std)
    with pytest.raises(TypeError, match="size= is required"):
        minidl.normal(0.0, 1.0)


def test_multinomial_samples_in_proportion_and_without_repeats():
    minidl.manual_seed(0)
    p = minidl.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    draws = minidl.multinomial(p, 4000, replacement=True)
    assert draws.shape == (2, 4000) and draws.dtype == minidl.int64
    freq = np.bincount(draws[0].numpy(), minlength=4) / 4000
    assert abs(freq[0] - 0.1) < 0.03 and freq[1] == 0 and abs(freq[2] - 0.6) < 0.03
    rows = minidl.multinomial(p, 3).numpy()  # without replacement: distinct, never a zero weight
    assert all(len(set(r)) == 3 for r in rows) and 1 not in rows[0]
    firsts = [int(minidl.multinomial(minidl.tensor([0.2, 0.8]), 1)) for _ in range(400)]
    assert 0.7 < np.mean(firsts) < 0.9
    assert minidl.tensor([0.5, 0.5]).multinomial(2).shape == (2,)
    with pytest.raises(RuntimeError, match="not enough categories with a non-zero probability"):
        minidl.multinomial(p, 4)
    with pytest.raises(RuntimeError, match="`inf`, `nan` or element < 0"):
        minidl.multinomial(minidl.tensor([0.5, -0.1]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        minidl.multinomial(minidl.tensor([0.0, 0.0]), 1, replacement=True)


def test_default_device_and_small_module_functions():
    assert minidl.get_default_device() == minidl.device("cpu")
    minidl.set_default_device("cpu")
    assert minidl.tensor([1.0]).device.type == "cpu" and minidl.zeros(1).device.type == "cpu"
    x = minidl.ones(2, 3)
    assert minidl.is_tensor(x) and not minidl.is_tensor(x.array) and minidl.numel(x) == 6
    assert minidl.is_floating_point(x) and minidl.all(x > 0) and not minidl.any(x > 1)
    assert x.all(dim=1).tolist() == [True, True] and minidl.tensor([0, 2]).any().item()
    assert minidl.sinh(minidl.tensor([1])).dtype == minidl.float32  # integers become floats
    assert math.isclose(float(minidl.cosh(minidl.tensor(0.5))), math.cosh(0.5), rel_tol=1e-6)
