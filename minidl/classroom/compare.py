"""One comparison of a student's function with the reference on one input tuple.

``check_one`` runs both (forward, then vector-Jacobian products for a random upstream gradient,
then, for a ``Function``, the student's backward against central differences of the student's
own forward) and returns the first disagreement as a dict of report fields, or None. With
``collect`` (a dict) it instead keeps every compared result, ``where -> (expected, got, mask
positions)``, which is what the hints are decided on (``minidl.classroom.hints``).
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import grad, no_grad
from ..gradcheck import GradcheckError, gradcheck
from ..tensor import Tensor
from .hints import classify


def is_array(x):
    return isinstance(x, (Tensor, numpy.ndarray))


def shape_of(x):
    return tuple(x.shape)


def as_np(x):
    return backend.as_numpy(x.array if isinstance(x, Tensor) else x)


def fresh(inputs):
    """Copies of the inputs, so a student function that mutates them cannot spoil the check."""
    return tuple(Tensor._make(x.array.copy(), x.requires_grad) if isinstance(x, Tensor) else x for x in inputs)


def as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _worst(expected, got, atol, rtol):
    excess = numpy.abs(got - expected) - (atol + rtol * numpy.abs(expected))
    idx = numpy.unravel_index(int(numpy.argmax(excess)), expected.shape) if expected.ndim else ()
    return tuple(int(i) for i in idx), float(expected[idx]), float(got[idx])


LARGE = 50.0  # inputs this large can make a naive exp overflow


def compare_arrays(where, expected, got, atol, rtol, touched=None, is_grad=False, large=False):
    """None when they agree, else a dict of report fields. ``large``: some input is large, so a
    result that is not finite where the expected one is says ``overflow``."""
    if expected.shape != got.shape:
        hint = "shape"
        if is_grad:
            hint = "broadcasting"
        elif got.ndim != expected.ndim:
            try:
                numpy.broadcast_shapes(expected.shape, got.shape)
                hint = "broadcasting"
            except ValueError:
                pass
        return dict(where=where, hint=hint, expected_shape=expected.shape, got_shape=got.shape)
    finite_e, finite_g = numpy.isfinite(expected), numpy.isfinite(got)
    if not numpy.array_equal(finite_e, finite_g):
        idx = tuple(int(i) for i in numpy.argwhere(finite_e != finite_g)[0])
        mine = bool(finite_e[idx])
        detail = ("The student's result is not finite (inf or NaN) there" + (
            "." if large else ": a 0/0, a log of 0, or a row where every entry is masked?")) if mine else \
            "The expected result is not finite there, the student's is."
        return dict(where=where, hint="overflow" if mine and large else "other", index=idx,
                    expected=float(expected[idx]), got=float(got[idx]), detail=detail)
    fe, fg = numpy.nan_to_num(expected), numpy.nan_to_num(got)
    if numpy.allclose(fg, fe, atol=atol, rtol=rtol):
        return None
    hint, factor = classify(fe, fg, atol, rtol, touched)
    idx, e, g = _worst(fe, fg, atol, rtol)
    return dict(where=where, hint=hint, factor=factor, index=idx, expected=e, got=g)


def exception_fields(who, exc):
    text = f"{type(exc).__name__}: {exc}"
    hint = "exception"
    if "broadcast" in str(exc) or "cannot be summed to input shape" in str(exc):
        hint = "broadcasting"
    elif isinstance(exc, (ArithmeticError, RuntimeWarning)) and "overflow" in str(exc):
        hint = "overflow"  # numpy's warnings raised as errors (warnings filter), or FloatingPointError
    return dict(where=f"the {who}", hint=hint, detail=f"The {who} raised {text}")


def _vjp(fn, inputs, vs):
    """Run ``fn`` on the inputs with gradients on and return vᵀ ∂y/∂x for each float input."""
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = as_tuple(fn(*inputs))
    live = [(o, v) for o, v in zip(outs, vs) if isinstance(o, Tensor) and o.requires_grad and v is not None]
    if not live or not diff:
        return [None] * len(diff)
    xp = backend.get_array_module(live[0][0].array)
    return grad([o for o, _ in live], diff, [Tensor._make(xp.asarray(v, dtype=o.dtype), False) for o, v in live],
                allow_unused=True)


def mask_positions(mask, inputs):
    if mask is None:
        return None
    try:
        return numpy.asarray(mask(*inputs), dtype=bool)
    except Exception:  # a mask helper that does not fit this input gives no mask hint
        return None


def fits(touched, shape):
    """The mask positions when they broadcast to ``shape`` (a gradient's), else None."""
    if touched is None:
        return None
    try:
        return numpy.broadcast_to(touched, shape)
    except ValueError:
        return None


def keep(collect, where, expected, got, touched):
    if collect is None:
        return
    if not numpy.all(numpy.isfinite(expected)):
        collect["_skip"] = True
    elif expected.shape == got.shape:
        collect[where] = (expected, numpy.nan_to_num(got), touched)


class Comparison:
    """The fixed parts of a check: the two functions, tolerances and what to compare."""

    def __init__(self, student, reference, atol, rtol, check_grad=True, mask=None, op_gradcheck=None):
        self.student, self.reference, self.atol, self.rtol = student, reference, atol, rtol
        self.check_grad, self.mask, self.op_gradcheck = check_grad, mask, op_gradcheck

    def check_one(self, inputs, seed, forward_only=False, collect=None, reference=None):
        """The first disagreement on one input tuple, as a dict of report fields (None if none)."""
        reference = reference or self.reference
        try:
            with no_grad():
                expected = as_tuple(reference(*fresh(inputs)))
        except Exception:  # the reference rejects this input: not the student's fault
            return None
        try:
            with no_grad():
                got = as_tuple(self.student(*fresh(inputs)))
        except Exception as exc:  # noqa: BLE001 - any failure of student code is reported
            return exception_fields("student's function", exc)
        if len(got) != len(expected):
            return dict(where="the number of outputs", hint="shape",
                        detail=f"Expected {len(expected)} output(s), got {len(got)}.")
        touched = mask_positions(self.mask, inputs)
        large = any(is_array(x) and as_np(x).dtype.kind == "f" and as_np(x).size and
                    float(numpy.abs(as_np(x)).max()) > LARGE for x in inputs)
        for k, (e, g) in enumerate(zip(expected, got)):
            if not is_array(g):
                return dict(where=f"output {k}", hint="other", detail=f"Expected a Tensor, got {type(g).__name__}.")
            ea, ga = as_np(e).astype(numpy.float64), as_np(g).astype(numpy.float64)
            keep(collect, f"output {k}", ea, ga, touched)
            fields = compare_arrays(f"output {k}", ea, ga, self.atol, self.rtol, touched, large=large)
            if fields and collect is None:
                return fields
        if forward_only or not self.check_grad or not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
            return None
        fields = self._gradients(inputs, expected, seed, touched, collect, reference)
        if fields or collect is not None or not self.op_gradcheck:
            return fields
        try:
            fd_atol, fd_rtol = self.op_gradcheck  # central differences need looser tolerances
            gradcheck(self.student, fresh(inputs), atol=fd_atol, rtol=fd_rtol, seed=seed)
        except GradcheckError as exc:
            return dict(where="the backward against finite differences of the student's own forward",
                        hint="other", detail=str(exc))
        except Exception as exc:  # noqa: BLE001
            return exception_fields("student's backward", exc)
        return None

    def _gradients(self, inputs, expected, seed, touched, collect, reference):
        diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
        rng = numpy.random.default_rng(seed)
        vs = [rng.standard_normal(shape_of(e)) if is_array(e) and as_np(e).dtype.kind == "f" else None
              for e in expected]
        try:
            ref_grads = _vjp(reference, fresh(inputs), vs)
        except Exception:
            return None
        try:
            stu_grads = _vjp(self.student, fresh(inputs), vs)
        except Exception as exc:  # noqa: BLE001
            return exception_fields("student's backward", exc)
        failures = []
        for i, rg, sg in zip(diff_idx, ref_grads, stu_grads):
            shape = shape_of(inputs[i])
            re = numpy.zeros(shape) if rg is None else as_np(rg).astype(numpy.float64)
            sv = numpy.zeros(shape) if sg is None else as_np(sg).astype(numpy.float64)
            where = f"the gradient of input {i}"
            keep(collect, where, re, sv, fits(touched, shape))
            fields = compare_arrays(where, re, sv, self.atol, self.rtol, fits(touched, shape), is_grad=True)
            if fields:
                if sg is None and fields["hint"] == "zeros":
                    fields["detail"] = "The student's output does not depend on this input in the graph."
                failures.append(fields)
        if not failures:
            return None
        first = failures[0]
        first["_also"] = [f["where"] for f in failures[1:] if f.get("index") is not None]
        if len(failures) > 1:
            others = ", ".join(f["where"].replace("the gradient of ", "") for f in failures[1:])
            first["detail"] = (first.get("detail", "") + f" The gradients of {others} are wrong too.").strip()
        return first
