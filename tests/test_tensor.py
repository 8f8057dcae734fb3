"""Tensor: creation, dtype rules (as in PyTorch), attributes, conversions, devices and the
errors a user meets first."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import Tensor, backend, tensor
from minidl.backend import CPU, Device
from minidl.testing import assert_close


@pytest.fixture
def default_float64():
    minidl.set_default_dtype(minidl.float64)
    yield
    minidl.set_default_dtype(minidl.float32)


# ---- creation and dtype rules -----------------------------------------------------------------
@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2], [3, 4]], np.int64),
        (7, np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        ([1, 2.5], np.float32),
        (np.array([1.0, 2.0]), np.float64),
        (np.array([1, 2], dtype=np.int32), np.int32),
        (np.array([1.0], dtype=np.float16), np.float16),
        (np.float64(2.0), np.float64),
    ],
)
def test_tensor_dtype_rules(data, dtype):
    t = tensor(data)
    assert t.dtype == dtype
    assert_close(t, np.asarray(data))
    if hasattr(data, "dtype"):  # an array keeps its dtype in Tensor(array) too
        assert Tensor(data).dtype == dtype
    elif not isinstance(data, int):  # Tensor(7) is a tensor of 7 elements; Python numbers become floats
        assert Tensor(data).dtype == minidl.get_default_dtype()


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0])
    t = tensor(a)
    a[0] = 5.0
    assert t.tolist() == [1.0, 2.0]
    u = tensor(t)
    t.array[1] = 7.0
    assert u.tolist() == [1.0, 2.0]


def test_explicit_dtype_does_not_round_through_float32():
    t = tensor([0.1, 1 / 3], dtype=minidl.float64)
    assert t.array[0] == 0.1 and t.array[1] == 1 / 3
    assert tensor([1.7, 2.2], dtype=minidl.int64).dtype == np.int64


def test_from_numpy_and_as_tensor_share_memory():
    a = np.zeros(3)
    t = minidl.from_numpy(a)
    a[0] = 5.0
    assert t.tolist() == [5.0, 0.0, 0.0] and t.dtype == np.float64
    t.array[1] = 2.0
    assert a[1] == 2.0
    assert np.shares_memory(minidl.as_tensor(a).array, a)
    with pytest.raises(TypeError, match="from_numpy.*list"):
        minidl.from_numpy([1.0])


def test_set_default_dtype(default_float64):
    assert minidl.get_default_dtype() == np.float64
    assert tensor(1.0).dtype == np.float64
    assert tensor([1, 2]).dtype == np.int64
    for t in (minidl.zeros(2), minidl.ones(2), minidl.rand(2), minidl.randn(2), minidl.arange(0.0, 1.0, 0.5)):
        assert t.dtype == np.float64
    assert (minidl.arange(3) / 2).dtype == np.float64


def test_set_default_dtype_rejects_integers():
    with pytest.raises(TypeError, match="set_default_dtype.*floating.*int64"):
        minidl.set_default_dtype(minidl.int64)
    assert minidl.get_default_dtype() == np.float32


def test_zeros_ones_full_empty():
    assert_close(minidl.zeros(2, 3), np.zeros((2, 3)))
    assert_close(minidl.ones((2, 3)), np.ones((2, 3)))
    assert minidl.zeros(2, 3).dtype == np.float32
    assert minidl.empty(4, 1).shape == (4, 1)
    assert minidl.zeros(2, dtype=minidl.int64).dtype == np.int64
    f = minidl.full((2, 2), 1.5)
    assert f.dtype == np.float32 and f.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert minidl.full((2,), 3).dtype == np.int64
    assert minidl.full((2,), True).dtype == np.bool_
    z = minidl.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf


def test_like_functions_keep_shape_and_dtype():
    x = minidl.randn(2, 3, dtype=minidl.float64, requires_grad=True)
    for make, value in [(minidl.zeros_like, 0.0), (minidl.ones_like, 1.0), (lambda t: minidl.full_like(t, 2.5), 2.5)]:
        y = make(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and not y.requires_grad
        assert (y.numpy() == value).all()
    assert minidl.empty_like(x).shape == (2, 3)
    assert minidl.zeros_like(x, dtype=minidl.int64).dtype == np.int64


def test_arange_linspace_eye():
    assert minidl.arange(5).tolist() == [0, 1, 2, 3, 4] and minidl.arange(5).dtype == np.int64
    assert minidl.arange(2, 8, 3).tolist() == [2, 5]
    a = minidl.arange(0, 1, 0.25)
    assert a.dtype == np.float32 and a.tolist() == [0.0, 0.25, 0.5, 0.75]
    l = minidl.linspace(0, 1, 5)
    assert l.dtype == np.float32 and l.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert_close(minidl.eye(3), np.eye(3))
    assert minidl.eye(2, 3).shape == (2, 3)


def test_random_creation_functions():
    minidl.manual_seed(0)
    r = minidl.rand(1000)
    assert r.dtype == np.float32 and r.shape == (1000,)
    assert 0.0 <= r.numpy().min() and r.numpy().max() < 1.0
    n = minidl.randn(2, 500, dtype=minidl.float64)
    assert n.shape == (2, 500) and n.dtype == np.float64
    assert abs(n.numpy().mean()) < 0.2 and 0.8 < n.numpy().std() < 1.2
    i = minidl.randint(3, 7, (200,))
    assert i.dtype == np.int64 and set(i.tolist()) == {3, 4, 5, 6}
    assert minidl.randint(4, (3, 2)).shape == (3, 2)
    p = minidl.randperm(10)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
    assert minidl.randn(3, requires_grad=True).requires_grad


def test_manual_seed_makes_runs_repeat():
    def draw():
        return (minidl.rand(3).tolist(), minidl.randn(2, 2).tolist(), minidl.randint(0, 100, (4,)).tolist(),
                minidl.randperm(6).tolist(), minidl.empty(3).uniform_().tolist())

    minidl.manual_seed(123)
    first = draw()
    minidl.manual_seed(123)
    assert draw() == first
    minidl.manual_seed(124)
    assert draw() != first


@pytest.mark.parametrize(
    "make",
    [
        lambda: tensor([1, 2], requires_grad=True),
        lambda: tensor([True], requires_grad=True),
        lambda: minidl.zeros(2, dtype=minidl.int64, requires_grad=True),
        lambda: minidl.arange(3, requires_grad=True),
        lambda: minidl.arange(3).requires_grad_(),
        lambda: Tensor(np.array([1, 2]), requires_grad=True),
    ],
)
def test_integer_and_bool_tensors_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients.*(int64|bool)"):
        make()


def test_unsupported_data_raises():
    with pytest.raises(TypeError, match=r"tensor\(\).*list.*<U1"):
        tensor(["a", "b"])


# ---- attributes ------------------------------------------------------------------------------
def test_attributes():
    x = minidl.randn(2, 3, 4, requires_grad=True)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.numel() == 24
    assert x.dtype == np.float32 and x.device == CPU and x.device == "cpu" and not x.is_cuda
    assert str(x.device) == "cpu"
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)
    assert_close(x.T, x.detach().numpy().T)
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert x.is_floating_point() and not minidl.arange(2).is_floating_point()
    assert x.element_size() == 4


# ---- conversions -------------------------------------------------------------------------------
def test_numpy_item_tolist_array():
    x = tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(x.numpy(), np.ndarray) and np.shares_memory(x.numpy(), x.array)
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.sum().item() == 10.0 and isinstance(x.sum().item(), float)
    assert isinstance(minidl.arange(3).sum().item(), int)
    assert tensor([[5.0]]).item() == 5.0
    assert_close(np.asarray(x), [[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert float(tensor(2.5)) == 2.5 and int(tensor(3)) == 3 and bool(tensor(True))
    assert [10, 20, 30][tensor(1)] == 20
    with pytest.raises(ValueError, match=r"item.*\(2, 2\)"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)


def test_numpy_of_a_tensor_that_requires_grad_raises():
    x = tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_len_and_iteration():
    x = tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [3.0, 4.0]
    sum(r.sum() for r in rows).backward()  # rows are differentiable views
    assert_close(x.grad, np.ones((3, 2)))
    with pytest.raises(TypeError, match="0-d"):
        len(tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(tensor(1.0))


def test_repr():
    assert repr(tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tensor([1, 2])) == "tensor([1, 2])"
    x = tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert "dtype=minidl.float64" in repr(tensor([1.0], dtype=minidl.float64))
    assert repr(x.sum()).endswith("grad_fn=<SumBackward>)")


def test_to_dtype_is_differentiable():
    x = tensor([1.5, -2.5], dtype=minidl.float64, requires_grad=True)
    y = x.to(minidl.float32)
    assert y.dtype == np.float32 and y.requires_grad and y.grad_fn is not None
    (y * tensor([2.0, 3.0])).sum().backward()
    assert x.grad.dtype == np.float64
    assert_close(x.grad, [2.0, 3.0])
    assert x.to(minidl.float64) is x
    assert x.double() is x
    assert x.float().dtype == np.float32 and x.half().dtype == np.float16
    assert x.detach().long().tolist() == [1, -2] and x.detach().int().dtype == np.int32
    assert x.detach().bool().tolist() == [True, True]
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to(tensor([1], dtype=minidl.int32)).dtype == np.int32
    c = x.to(minidl.float64, copy=True)
    assert c is not x and not np.shares_memory(c.array, x.array)
    assert x.type() == "float64"


def test_comparisons_give_bool_tensors_without_grad():
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = tensor([3.0, 2.0, 1.0])
    for r, expected in [
        (x < y, [True, False, False]),
        (x <= y, [True, True, False]),
        (x > y, [False, False, True]),
        (x >= y, [False, True, True]),
        (x == y, [False, True, False]),
        (x != y, [True, False, True]),
        (x.eq(2.0), [False, True, False]),
    ]:
        assert r.dtype == np.bool_ and not r.requires_grad and r.grad_fn is None
        assert r.tolist() == expected


def test_tensor_is_hashable_by_identity():
    a, b = tensor([1.0]), tensor([1.0])
    assert len({a, b}) == 2


# ---- errors -------------------------------------------------------------------------------------
def _pretend_on_cuda(monkeypatch, special):
    """Make ``special`` (only that object) report device cuda:0; no GPU is needed."""
    real = Tensor.device

    def device(self):
        return Device("cuda:0") if self is special else real.fget(self)

    monkeypatch.setattr(Tensor, "device", property(device))


@pytest.mark.parametrize(
    "op, name",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a @ b, "MatMul"),
        (lambda a, b: F.where(a > 0, a, b), "Where"),
    ],
)
def test_mixing_devices_raises(monkeypatch, op, name):
    a = minidl.ones(2, 2)
    b = minidl.ones(2, 2)
    _pretend_on_cuda(monkeypatch, b)
    assert b.device == "cuda:0" and a.device == "cpu"
    with pytest.raises(RuntimeError, match=rf"{name}: expected all tensors on the same device, got cpu and cuda:0"):
        op(a, b)


def test_cuda_without_cupy_says_how_to_install():
    if backend.cupy_available() or backend._load_cupy() is not None:
        pytest.skip("CuPy is importable here")
    for make in (
        lambda: minidl.zeros(2, device="cuda"),
        lambda: tensor([1.0], device="cuda:0"),
        lambda: minidl.ones(2).to("cuda"),
        lambda: minidl.ones(2).cuda(),
        lambda: minidl.randn(2, device="cuda"),
    ):
        with pytest.raises(RuntimeError, match=r"pip install minidl\[gpu\]"):
            make()


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:0", "CUDA", "", "cuda:-1"])
def test_bad_device_strings(spec):
    with pytest.raises(ValueError, match=r"unknown device.*'cpu', 'cuda' or 'cuda:N'"):
        minidl.zeros(2, device=spec)


def test_device_objects():
    assert Device("cuda") == Device("cuda:0") == "cuda:0"
    assert Device("cuda:1").index == 1 and Device("cpu").index is None
    assert minidl.device("cpu") == CPU
    assert repr(Device("cuda:1")) == "device(type='cuda', index=1)"
    with pytest.raises(TypeError, match="device must be a string"):
        Device(0)


def test_on_device_fixture_creation(device):
    # runs once per backend present (NumPy always; CuPy where a GPU is usable)
    x = minidl.ones(2, 3, device=device, requires_grad=True)
    assert x.device == device
    y = (x * 2).sum()
    y.backward()
    assert x.grad.device == device
    assert_close(x.grad.cpu(), np.full((2, 3), 2.0))
