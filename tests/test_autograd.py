"""The autograd engine: graph shapes, accumulation, retain_graph, grad modes, minidl.grad,
higher derivatives, in-place rules and anomaly detection."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import Tensor, tensor
from minidl.autograd import Function
from minidl.testing import assert_close


def leaf(values, dtype="float64"):
    return tensor(values, dtype=dtype, requires_grad=True)


# ---- graph shapes --------------------------------------------------------------------------
def test_reused_non_leaf_node_sums_both_paths():
    x = leaf([0.5, -1.5, 2.0])
    h = x * x  # used three times below
    y = (h * h + 3 * h + h.sin()).sum()
    y.backward()
    xv = x.detach().numpy()
    hv = xv * xv
    expected = (2 * hv + 3 + np.cos(hv)) * 2 * xv
    assert_close(x.grad, expected, rtol=1e-12)


def test_diamond_graph():
    # x -> a, x -> b, (a, b) -> c: the gradient of x is the sum over both branches
    x = leaf([0.3, 1.2])
    a = x.exp()
    b = x.tanh()
    c = (a * b).sum()
    c.backward()
    xv = x.detach().numpy()
    expected = np.exp(xv) * np.tanh(xv) + np.exp(xv) * (1 - np.tanh(xv) ** 2)
    assert_close(x.grad, expected, rtol=1e-12)


def test_same_tensor_twice_in_one_op():
    x = leaf([1.5, -2.0])
    (x * x).sum().backward()
    assert_close(x.grad, [3.0, -4.0])
    y = leaf([2.0])
    (y / y).sum().backward()
    assert_close(y.grad, [0.0], atol=1e-15)


def test_gradient_accumulates_over_two_backward_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert_close(x.grad, [2.0 + 3.0, 4.0 + 3.0])


def test_second_backward_without_retain_graph_raises_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    assert_close(x.grad, 2 * first, rtol=1e-12)


def test_backward_of_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        y.backward()
    y.backward(tensor([1.0, -1.0], dtype="float64"))
    assert_close(x.grad, [2.0, -2.0])


def test_backward_gradient_of_wrong_shape_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(tensor([1.0, 1.0, 1.0], dtype="float64"))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor([1.0, 2.0]).sum().backward()


def test_long_chain_backpropagates_without_recursion():
    x = leaf(1.0)
    h = x
    for _ in range(100_000):
        h = h + 0.5
    h.backward()
    assert h.item() == pytest.approx(50_001.0)
    assert x.grad.item() == 1.0


def test_leaf_grads_are_independent_arrays():
    # x + y hands the very same gradient to both leaves
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    x.grad.array[0] = 100.0
    assert_close(y.grad, [1.0, 1.0])
    assert not np.shares_memory(x.grad.array, y.grad.array)


def test_leaf_grad_never_shares_memory_with_the_given_gradient():
    x = leaf([1.0, 2.0])
    y = leaf([[3.0, 4.0]])
    g = tensor([[5.0, 6.0]], dtype="float64")
    # the reshape's backward hands x a view of g; y receives g itself
    (x.reshape(1, 2) + y).backward(g)
    for t in (x, y):
        assert not np.shares_memory(t.grad.array, g.array)
    assert not np.shares_memory(x.grad.array, y.grad.array)
    x.grad = None
    x.reshape(1, 2).backward(g)
    assert not np.shares_memory(x.grad.array, g.array)
    x.grad.zero_()
    assert_close(g, [[5.0, 6.0]])


def test_leaf_grad_is_writable_after_a_broadcasting_backward():
    x = leaf([[1.0, 2.0]])
    x.expand(3, 2).sum().backward()
    x.grad.zero_()  # would fail on a read-only broadcast view
    assert_close(x.grad, [[0.0, 0.0]])


# ---- grad mode ------------------------------------------------------------------------------
def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    assert minidl.is_grad_enabled()
    with minidl.no_grad():
        assert not minidl.is_grad_enabled()
        y = x * 2
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @minidl.no_grad()
    def f(t):
        assert not minidl.is_grad_enabled()
        return t * 2

    assert not f(x).requires_grad
    assert f.__name__ == "f"
    assert minidl.is_grad_enabled()


def test_no_grad_and_enable_grad_as_bare_decorators():
    x = leaf([1.0])

    @minidl.no_grad
    def f(t):
        return t * 2

    @minidl.enable_grad
    def g(t):
        return t * 2

    assert f.__name__ == "f" and not f(x).requires_grad
    with minidl.no_grad():
        assert g(x).requires_grad
    assert minidl.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with minidl.no_grad():
        with minidl.enable_grad():
            y = x * 2
        z = x * 2

        @minidl.enable_grad()
        def g(t):
            return t * 2

        w = g(x)
    assert y.requires_grad and not z.requires_grad and w.requires_grad


@pytest.mark.parametrize("mode", [True, False])
def test_set_grad_enabled_context_and_decorator(mode):
    x = leaf([1.0])
    with minidl.set_grad_enabled(mode):
        assert minidl.is_grad_enabled() is mode
        assert (x * 2).requires_grad is mode
    assert minidl.is_grad_enabled()

    @minidl.set_grad_enabled(mode)
    def f():
        return minidl.is_grad_enabled()

    assert f() is mode
    assert minidl.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with minidl.no_grad():
            raise ValueError("boom")
    assert minidl.is_grad_enabled()


def test_detach_shares_data_and_has_no_grad():
    x = leaf([1.0, 2.0])
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.array, y.array)
    with minidl.no_grad():
        d.add_(1.0)
    assert_close(y.detach(), [4.0, 7.0])


def test_requires_grad_():
    x = tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0])
    x.requires_grad_(False)
    assert not (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="only floating point"):
        minidl.arange(3).requires_grad_()
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h = x * 3
    assert h.retain_grad() is h and h.retains_grad
    other = x * 4  # not retained
    (h * h + other).sum().backward()
    assert_close(h.grad, 2 * h.detach().numpy())
    assert other.grad is None
    assert_close(x.grad, 3 * 2 * h.detach().numpy() + 4)


# ---- minidl.grad ------------------------------------------------------------------------------
def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = leaf([1.0, 2.0]), leaf([3.0])
    out = (x * x * y).sum()
    gx, gy = minidl.grad(out, [x, y])
    assert_close(gx, 2 * np.array([1.0, 2.0]) * 3)
    assert_close(gy, [5.0])
    assert x.grad is None and y.grad is None
    assert not gx.requires_grad


def test_grad_single_input_and_non_leaf_input():
    x = leaf([1.0, 2.0])
    h = x * 2
    out = (h * h).sum()
    (gh,) = minidl.grad(out, h, retain_graph=True)
    assert_close(gh, 2 * h.detach().numpy())
    (gx,) = minidl.grad(out, x)
    assert_close(gx, 8 * x.detach().numpy())


def test_grad_unused_input():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    out = (x * x).sum()
    with pytest.raises(RuntimeError, match="input 1.*allow_unused=True"):
        minidl.grad(out, [x, unused], retain_graph=True)
    gx, gu = minidl.grad(out, [x, unused], allow_unused=True)
    assert gu is None
    assert_close(gx, [2.0, 4.0])


def test_grad_create_graph_gives_differentiable_gradients():
    x = leaf([0.5, 2.0])
    (g,) = minidl.grad((x**3).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    assert_close(g, 3 * np.array([0.5, 2.0]) ** 2)
    (h,) = minidl.grad(g.sum(), x)
    assert_close(h, 6 * np.array([0.5, 2.0]))
    assert x.grad is None


def test_backward_create_graph_keeps_grad_in_graph():
    x = leaf([0.5, 2.0])
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    assert_close(x.grad, 6 * np.array([0.5, 2.0]))


def _rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.parametrize("point", [(0.5, -0.3), (-1.2, 1.0), (1.0, 1.0)])
def test_hessian_vector_product_of_rosenbrock(point):
    p = leaf(point)
    v = np.array([0.7, -1.3])
    (g,) = minidl.grad(_rosenbrock(p), p, create_graph=True)
    (hv,) = minidl.grad((g * tensor(v)).sum(), p)
    x, y = point
    hessian = np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])
    assert_close(g, [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], rtol=1e-12, atol=1e-12)
    assert_close(hv, hessian @ v, rtol=1e-12)


def test_derivatives_of_tanh_up_to_fourth_order():
    x = leaf(np.linspace(-2.0, 2.0, 9))
    t = np.tanh(x.detach().numpy())
    s = 1 - t * t
    closed = [
        s,
        -2 * t * s,
        s * (6 * t * t - 2),
        8 * t * s * (2 - 3 * t * t),
    ]
    current = x.tanh()
    for k, expected in enumerate(closed, start=1):
        (current,) = minidl.grad(current.sum(), x, create_graph=True)
        assert_close(current, expected, rtol=1e-10, atol=1e-12, what=f"derivative {k} of tanh")


# ---- in-place updates --------------------------------------------------------------------------
def test_inplace_updates_of_leaves_under_no_grad():
    w = leaf([1.0, -2.0])
    (w * w).sum().backward()
    lr = 0.1
    with minidl.no_grad():
        w -= lr * w.grad
        assert_close(w, [0.8, -1.6])
        w.add_(tensor([1.0, 1.0], dtype="float64"), alpha=0.5)
        assert_close(w, [1.3, -1.1])
        w.mul_(2)
        assert_close(w, [2.6, -2.2])
        w.copy_(tensor([5.0, 6.0]))
        assert_close(w, [5.0, 6.0])
        w.fill_(3.0)
        assert_close(w, [3.0, 3.0])
        w.zero_()
        assert_close(w, [0.0, 0.0])
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    assert w.dtype == np.float64
    w.grad.zero_()
    assert_close(w.grad, [0.0, 0.0])


@pytest.mark.parametrize(
    "update",
    [
        lambda w: w.add_(1.0),
        lambda w: w.zero_(),
        lambda w: w.fill_(2.0),
        lambda w: w.copy_(tensor([1.0, 2.0])),
        lambda w: w.mul_(2.0),
        lambda w: w.__isub__(1.0),
        lambda w: w.__setitem__(0, 1.0),
    ],
    ids=["add_", "zero_", "fill_", "copy_", "mul_", "isub", "setitem"],
)
def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad(update):
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf.*no_grad"):
        update(w)
    assert_close(w, [1.0, 2.0])


def test_inplace_on_non_leaf_raises_outside_no_grad():
    h = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="in-place"):
        h.add_(1.0)


def test_copy_with_shape_mismatch_names_shapes():
    w = tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        w.copy_(tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize(
    "op",
    [
        lambda h: h * h,
        lambda h: h.sin(),
        lambda h: h.log(),
        lambda h: h @ h,
    ],
    ids=["mul", "sin", "log", "matmul"],
)
def test_modifying_a_saved_tensor_makes_backward_raise(op):
    x = leaf([1.0, 2.0])
    h = x * 2  # a non-leaf that the op saves for backward
    y = op(h).sum()
    with minidl.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place.*version 1, expected 0"):
        y.backward()


def test_modifying_a_saved_leaf_makes_backward_raise():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    with minidl.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="Mul.*modified in place"):
        y.backward()


def test_modifying_a_saved_output_makes_backward_raise():
    x = leaf([1.0, 2.0])
    e = x.exp()  # Exp saves its own output
    y = e.sum()
    with minidl.no_grad():
        e.zero_()
    with pytest.raises(RuntimeError, match="Exp.*modified in place"):
        y.backward()


def test_modifying_an_unsaved_tensor_is_fine():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = (h + 1).sum()  # Add saves nothing
    with minidl.no_grad():
        h.add_(1.0)
    y.backward()
    assert_close(x.grad, [2.0, 2.0])


# ---- anomaly detection -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_forward_op():
    x = leaf([-1.0, 2.0])
    with minidl.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"Log\.forward.*NaN"):
            x.log()
    with np.errstate(invalid="ignore"):
        y = x.log()  # outside the block: NaN passes silently
    assert np.isnan(y.detach().numpy()[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_backward_op():
    x = leaf([0.0, 4.0])
    with minidl.detect_anomaly():
        y = x.sqrt().sum()  # the forward is finite
        with pytest.raises(FloatingPointError, match=r"Sqrt\.backward.*inf"):
            y.backward()


# ---- custom Functions ---------------------------------------------------------------------------
class Cube(Function):
    """y = x³        dL/dx = dy · 3x²"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * 3 * x * x


def test_custom_function_first_and_second_derivative():
    x = leaf([0.5, -2.0])
    y = Cube.apply(x)
    assert repr(y.grad_fn) == "<CubeBackward>"
    (g,) = minidl.grad(y.sum(), x, create_graph=True)
    assert_close(g, 3 * np.array([0.25, 4.0]))
    (h,) = minidl.grad(g.sum(), x)
    assert_close(h, 6 * np.array([0.5, -2.0]))


def test_backward_returning_wrong_number_of_gradients_raises():
    class Broken(Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, dy):
            return dy, dy

    with pytest.raises(RuntimeError, match="Broken.backward returned 2 gradients for 1 inputs"):
        Broken.apply(leaf([1.0])).sum().backward()


def test_function_needs_a_tensor_argument():
    with pytest.raises(TypeError, match="Cube: needs at least one Tensor"):
        Cube.apply(np.ones(2))


def test_gradient_is_cast_to_the_input_dtype():
    x = leaf([1.0, 2.0], dtype="float32")
    y = (x.double() * tensor([2.0, 3.0], dtype="float64")).sum()
    y.backward()
    assert x.grad.dtype == np.float32
    assert_close(x.grad, [2.0, 3.0])


def test_integer_results_carry_no_gradient():
    x = leaf([1.0, 3.0, 2.0])
    assert not x.argmax().requires_grad
    assert not (x > 1).requires_grad
    assert x.long().requires_grad is False


def test_ops_on_tensors_without_grad_build_no_graph():
    a, b = tensor([1.0]), tensor([2.0])
    c = a * b + a.exp()
    assert c.grad_fn is None and c.is_leaf and not c.requires_grad


def test_tensor_subclass_free_function_api():
    x = leaf([1.0, 2.0])
    minidl.autograd.backward([(x * x).sum(), (x * 3).sum()])
    assert_close(x.grad, [2.0 + 3.0, 4.0 + 3.0])
    assert isinstance(x.grad, Tensor)


def test_functional_and_method_forms_agree():
    x = leaf([0.2, 0.4])
    assert_close(F.tanh(x), x.tanh())
    assert_close(F.exp(x), x.exp())
