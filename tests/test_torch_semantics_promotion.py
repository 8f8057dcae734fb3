"""dtype promotion against PyTorch, one ``@given`` property per rule.

PyTorch's rules (``torch.result_type``), not NumPy's: a tensor with dims decides the dtype within
its category (bool < integer < floating), a 0-d tensor and then a Python or NumPy number only
raise the category (a Python float gives the default dtype); int64 with float16 is float16;
true division of integers gives the default float; in-place ops never change the dtype and
raise where the result would need a higher category; matrix products do not promote at all.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import Raised, assert_same, dtype_name, outcome

import minidl
import minidl.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}
COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
               ">=": operator.ge}


def _values(draw, dtype, shape, nonzero=False, nonnegative=False):
    """Small values every dtype holds exactly (no overflow in any op below)."""
    if dtype == "bool":
        pool = [True] if nonzero else [False, True]
    else:
        low = 0 if dtype == "uint8" or nonnegative else -3
        pool = [v for v in range(low, 4) if not (nonzero and v == 0)]
    flat = [draw(st.sampled_from(pool)) for _ in range(int(np.prod(shape)))]
    return np.array(flat, dtype=dtype).reshape(shape)


def _both(array):
    return minidl.tensor(array, dtype=array.dtype), torch.tensor(array)


def _run(op, a, b):
    with np.errstate(all="ignore"):
        return outcome(op, a, b)


def _assert_same(ours, theirs, what):
    # values in float16 round like PyTorch's only to about 1e-3
    assert_same(ours, theirs, rtol=2e-3, atol=1e-3, what=what)


@given(st.sampled_from(sorted(BINARY)), st.sampled_from(DTYPES), st.sampled_from([True, False, 2, -3, 2.5, -0.5]),
       st.booleans(), st.data())
def test_tensor_with_a_python_number(name, dtype, number, number_first, data):
    op = BINARY[name]
    shape = data.draw(st.sampled_from([(3,), (2, 2), ()]))
    array = _values(data.draw, dtype, shape, nonzero=number_first and name in ("//", "%"),
                    nonnegative=name == "**" and number_first is False)
    if name in ("//", "%") and not number_first and number in (False, 0):
        return  # integer division by zero: its own test below
    ours_t, theirs_t = _both(array)
    args = (number, ours_t) if number_first else (ours_t, number)
    targs = (number, theirs_t) if number_first else (theirs_t, number)
    _assert_same(_run(op, *args), _run(op, *targs), f"{args[0]!r} {name} {args[1]!r}")


@given(st.sampled_from(sorted(BINARY)), st.sampled_from(DTYPES), st.sampled_from(DTYPES),
       st.sampled_from([((3,), (3,)), ((2, 3), ()), ((), (2, 1)), ((), ())]), st.data())
def test_two_tensors_of_any_dtypes_and_dims(name, dtype_a, dtype_b, shapes, data):
    op = BINARY[name]
    a = _values(data.draw, dtype_a, shapes[0])
    b = _values(data.draw, dtype_b, shapes[1], nonzero=name in ("//", "%"), nonnegative=name == "**")
    (am, at), (bm, bt) = _both(a), _both(b)
    _assert_same(_run(op, am, bm), _run(op, at, bt), f"{dtype_a}{shapes[0]} {name} {dtype_b}{shapes[1]}")


NUMPY_SCALARS = [np.float64(2.5), np.float32(-1.5), np.float16(0.5), np.int64(2), np.int32(-3), np.int8(1),
                 np.uint8(3)]


@given(st.sampled_from(["+", "*", "/", "-"]), st.sampled_from(DTYPES[1:]), st.sampled_from(NUMPY_SCALARS),
       st.booleans(), st.data())
def test_numpy_scalars_promote_as_the_python_numbers_they_hold(name, dtype, scalar, scalar_first, data):
    op = BINARY[name]
    ours_t, theirs_t = _both(_values(data.draw, dtype, (3,)))
    ours = _run(op, scalar, ours_t) if scalar_first else _run(op, ours_t, scalar)
    theirs = _run(op, scalar, theirs_t) if scalar_first else _run(op, theirs_t, scalar)
    _assert_same(ours, theirs, f"{dtype} {name} {scalar!r}")


@given(st.sampled_from(DTYPES[1:]), st.sampled_from([np.array(2.5), np.array(2, np.int32), np.array(1.5, np.float32)]),
       st.data())
def test_zero_dim_numpy_arrays_promote_as_zero_dim_tensors(dtype, array, data):
    """PyTorch hands ``tensor + ndarray`` to NumPy (a NumPy array comes back); minidl treats the
    array as the 0-d tensor it would make of it, which PyTorch then promotes like this."""
    ours_t, theirs_t = _both(_values(data.draw, dtype, (3,)))
    _assert_same(_run(operator.add, ours_t, array), _run(operator.add, theirs_t, torch.tensor(array)), "0-d array")


@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.sampled_from([((3,), ()), ((), (3,)), ((2,), (2,))]),
       st.sampled_from([None, True, 3, 1.5]))
def test_result_type_and_promote_types_match_torch(dtype_a, dtype_b, shapes, number):
    a = np.zeros(shapes[0], dtype_a)
    b = np.zeros(shapes[1], dtype_b)
    ours = [minidl.tensor(a, dtype=a.dtype), minidl.tensor(b, dtype=b.dtype)] + ([number] if number is not None else [])
    theirs = [torch.tensor(a), torch.tensor(b)]
    expected = torch.result_type(theirs[0], theirs[1])
    if number is not None:  # torch.result_type takes two operands: fold the number in
        expected = torch.result_type(torch.zeros(shapes[0], dtype=expected) if shapes[0] or shapes[1]
                                     else torch.tensor(0, dtype=expected), number)
    assert str(minidl.result_type(*ours)) == dtype_name(torch.empty(0, dtype=expected))
    assert str(minidl.promote_types(dtype_a, dtype_b)) == dtype_name(
        torch.empty(0, dtype=torch.promote_types(getattr(torch, dtype_a), getattr(torch, dtype_b)))
    )


@given(st.sampled_from(["int64", "int32", "uint8", "bool"]), st.sampled_from(["int64", "int32", "bool"]),
       st.sampled_from(["float32", "float64"]), st.data())
def test_true_division_of_integers_gives_the_default_float(dtype_a, dtype_b, default, data):
    a = _values(data.draw, dtype_a, (4,))
    b = _values(data.draw, dtype_b, (4,), nonzero=True)
    (am, at), (bm, bt) = _both(a), _both(b)
    previous_m, previous_t = minidl.get_default_dtype(), torch.get_default_dtype()
    try:
        minidl.set_default_dtype(default)
        torch.set_default_dtype(getattr(torch, default))
        _assert_same(_run(operator.truediv, am, bm), _run(operator.truediv, at, bt), "a / b")
        _assert_same(_run(operator.truediv, am, 2), _run(operator.truediv, at, 2), "a / 2")
    finally:
        minidl.set_default_dtype(previous_m)
        torch.set_default_dtype(previous_t)


@given(st.sampled_from(["//", "%"]), st.sampled_from(["int64", "int8", "float32", "float64"]), st.data())
def test_floor_division_and_remainder_round_towards_minus_infinity(name, dtype, data):
    """Signs as in Python: -7 // 2 = -4, -7 % 2 = 1, 7 % -2 = -1; integer division by zero raises
    (ZeroDivisionError in PyTorch), float division by zero gives inf or NaN."""
    op = BINARY[name]
    n = data.draw(st.integers(1, 6))
    a = np.array(data.draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n)), dtype)
    b = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=n, max_size=n)), dtype)
    if dtype.startswith("float"):
        a = a * np.asarray(data.draw(st.sampled_from([1.0, 0.5, 1.25])), dtype)
    (am, at), (bm, bt) = _both(a), _both(b)
    _assert_same(_run(op, am, bm), _run(op, at, bt), f"{a} {name} {b}")


@given(st.data())
def test_remainder_gradient_matches_torch(data):
    n = data.draw(st.integers(1, 5))
    a = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(st.sampled_from([-2.5, -1.0, 0.75, 3.0]), min_size=n, max_size=n)))
    results = []
    for lib in (minidl, torch):
        x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        (x % y).sum().backward()
        results.append((x.grad, y.grad))
    assert_same(results[0], results[1], rtol=1e-12, what="gradients of a % b")
    # away from the jumps of ⌊a / b⌋ (where finite differences straddle one) the derivatives are exact
    away = np.abs(a / b - np.round(a / b)) > 1e-3
    if away.all():
        x, y = minidl.tensor(a, requires_grad=True), minidl.tensor(b, requires_grad=True)
        minidl.gradcheck(lambda p, q: p % q, (x, y))
        minidl.gradgradcheck(lambda p, q: p % q, (x, y))


INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


@given(st.sampled_from(sorted(INPLACE)), st.sampled_from(DTYPES), st.sampled_from(DTYPES + ["py_int", "py_float"]),
       st.data())
def test_inplace_ops_keep_the_dtype_or_raise_like_torch(name, dtype, other_dtype, data):
    """PyTorch: "result type Float can't be cast to the desired output type Long"."""
    op = INPLACE[name]
    a = _values(data.draw, dtype, (3,))
    (am, at) = _both(a)
    if other_dtype == "py_int":
        om = ot = 2
    elif other_dtype == "py_float":
        om = ot = 1.5
    else:
        om, ot = _both(_values(data.draw, other_dtype, (3,), nonzero=True))
    ours, theirs = _run(op, am, om), _run(op, at, ot)
    _assert_same(ours, theirs, f"{dtype} {name} {other_dtype}")
    if isinstance(theirs, Raised):
        assert name in str(ours.exc) and str(a.dtype) in str(ours.exc)
        np.testing.assert_array_equal(am.numpy(), a)  # nothing was written


MATRIX_DTYPES = ["float16", "float32", "float64", "int64"]


@given(st.sampled_from(["matmul", "linear", "linear_bias"]), st.sampled_from(MATRIX_DTYPES),
       st.sampled_from(MATRIX_DTYPES))
def test_matrix_products_do_not_promote(op, dtype_a, dtype_b):
    a, w = np.ones((2, 3), dtype_a), np.ones((4, 3), dtype_b)
    (am, at), (wm, wt) = _both(a), _both(w)
    if op == "matmul":
        ours, theirs = outcome(lambda: am @ wm.T), outcome(lambda: at @ wt.T)
    elif op == "linear":
        ours, theirs = outcome(F.linear, am, wm), outcome(TF.linear, at, wt)
    else:
        (bm, bt) = _both(np.ones(4, dtype_b))
        (wm, wt) = _both(np.ones((4, 3), dtype_a))
        ours, theirs = outcome(F.linear, am, wm, bm), outcome(TF.linear, at, wt, bt)
    _assert_same(ours, theirs, f"{op} of {dtype_a} and {dtype_b}")
    if isinstance(ours, Raised):
        assert op.split("_")[0] in str(ours.exc) and dtype_a in str(ours.exc) and dtype_b in str(ours.exc)


@given(st.sampled_from(sorted(COMPARISONS)), st.sampled_from(DTYPES), st.sampled_from([True, 1, 2, -1, 1.5, 2.0]),
       st.data())
def test_comparisons_give_bool_tensors_with_torch_values(name, dtype, number, data):
    """Numbers inside the dtype's range (out of range PyTorch compares with the wrapped value,
    uint8 < -1 being True; minidl compares the true values)."""
    if dtype == "uint8" and not isinstance(number, bool) and number < 0:
        return
    ours_t, theirs_t = _both(_values(data.draw, dtype, (4,)))
    _assert_same(_run(COMPARISONS[name], ours_t, number), _run(COMPARISONS[name], theirs_t, number), name)
    other = _values(data.draw, data.draw(st.sampled_from(DTYPES)), (4,))
    om, ot = _both(other)
    _assert_same(_run(COMPARISONS[name], ours_t, om), _run(COMPARISONS[name], theirs_t, ot), name)


@given(st.sampled_from(["sum", "sum_dim", "mean", "amax", "amin", "var", "std", "argmax", "max", "logsumexp",
                        "softmax"]),
       st.sampled_from(DTYPES), st.data())
def test_reductions_of_integer_and_bool_tensors(name, dtype, data):
    """sum of bool or integers is int64; mean/var/std/softmax of them raise; amax keeps the dtype;
    logsumexp of integers is the default float."""
    call = {
        "sum": lambda t: t.sum(), "sum_dim": lambda t: t.sum(0), "mean": lambda t: t.mean(),
        "amax": lambda t: t.amax(), "amin": lambda t: t.amin(0), "var": lambda t: t.var(), "std": lambda t: t.std(),
        "argmax": lambda t: t.argmax(), "max": lambda t: t.max(), "logsumexp": lambda t: t.logsumexp(0),
        "softmax": lambda t: t.softmax(0),
    }[name]
    ours_t, theirs_t = _both(_values(data.draw, dtype, (3, 2)))
    _assert_same(_run(lambda a, _: call(a), ours_t, None), _run(lambda a, _: call(a), theirs_t, None), name)


@given(st.sampled_from(["cat", "stack", "where"]), st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.data())
def test_joining_and_selecting_promote_like_arithmetic(name, dtype_a, dtype_b, data):
    a, b = _values(data.draw, dtype_a, (2,)), _values(data.draw, dtype_b, (2,))
    (am, at), (bm, bt) = _both(a), _both(b)
    mask = np.array([True, False])
    ops = {
        "cat": (lambda: F.cat([am, bm]), lambda: torch.cat([at, bt])),
        "stack": (lambda: F.stack([am, bm]), lambda: torch.stack([at, bt])),
        "where": (lambda: F.where(minidl.tensor(mask), am, bm), lambda: torch.where(torch.tensor(mask), at, bt)),
    }[name]
    _assert_same(outcome(ops[0]), outcome(ops[1]), f"{name} of {dtype_a} and {dtype_b}")


PY_VALUES = st.one_of(st.booleans(), st.integers(-300, 300), st.floats(-1e3, 1e3), st.sampled_from([float("nan"),
                      float("inf"), 2**63, -(2**63) - 1, 2**63 - 1]))


@given(st.lists(PY_VALUES, min_size=0, max_size=4), st.sampled_from([None] + DTYPES))
def test_tensor_from_python_data_infers_the_dtype_or_refuses_to_overflow(values, dtype):
    """Python ints → int64, floats → the default dtype, bools → bool, mixtures promote; a value that
    an integer dtype cannot hold (300 as uint8, NaN as int64, 2**63) raises."""
    ours_dtype = None if dtype is None else getattr(minidl, "bool_" if dtype == "bool" else dtype)
    ours = outcome(lambda: minidl.tensor(values, dtype=ours_dtype))
    theirs = outcome(lambda: torch.tensor(values, dtype=None if dtype is None else getattr(torch, dtype)))
    _assert_same(ours, theirs, f"tensor({values!r}, dtype={dtype})")
