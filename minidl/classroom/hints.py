"""The hint of a failed check, and how it is made deterministic.

A hint names the most likely kind of mistake (``HINTS``). It is decided in two steps:

1. *structural* hints come from the smallest failing input itself: ``shape``, ``broadcasting``,
   ``exception`` and ``overflow`` (the student's result is inf/NaN where the reference's is finite);
2. *value* hints (``zeros``, ``sign``, ``scale``, ``bias``, ``mask``, ``other``) are decided on
   ``PROBES`` inputs of the counterexample's shapes with generic values drawn from a fixed seed,
   never on the shrunk values (full of zeros, equal rows and single elements, where a forgotten
   bias looks like "zeros" and swapped gates like a constant factor). The hint stands when every
   probe that shows the error agrees, else it is ``other`` with a note. The probes do not depend
   on the number of generated examples or the seed of the search, only on the counterexample's
   shapes, so neither changes a hint once the search has shrunk to the same shapes.

Before ``mask`` or ``other`` is given for an output, two explanations are tried on the probes:
the result equals the reference's plus or minus one input broadcast along an axis (``bias``: a
bias left out, added twice or along the wrong axis), and the result equals the reference's with
one input multiplied by a factor c taken from the shapes (√n, 1/√n, n, 1/n, 2, ½): ``scale``,
as for a forgotten 1/√d_k, which changes a softmax's temperature rather than the result's size.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..tensor import Tensor

HINTS = ("shape", "broadcasting", "overflow", "zeros", "sign", "scale", "bias", "mask", "exception", "other")
STRUCTURAL = ("shape", "broadcasting", "overflow", "exception")
PROBES = 3  # generic inputs of the counterexample's shapes on which a value hint is decided
PROBE_SEED = 20240917  # fixed: the probes never depend on the search's seed

EXPLAIN = {
    "shape": "the result has the wrong shape",
    "broadcasting": "shapes were broadcast where they should not be (or a broadcast axis was not summed)",
    "overflow": "the result is inf or NaN where the expected one is finite: does an exp overflow for large "
                "inputs? (subtract the row maximum before exp)",
    "zeros": "the result is all zeros: is the backward returning zeros, or is the input detached?",
    "sign": "the result has the right size but the wrong sign (got ≈ −expected)",
    "scale": "the result is off by a constant factor",
    "bias": "the result is off by one of the inputs added along an axis: a bias left out, added twice or "
            "added along the wrong axis",
    "mask": "the error sits only at positions that the mask touches (or only at those it leaves alone)",
    "exception": "the code raised an exception",
    "other": "the values differ",
}


def root_form(c):
    """" (= √3)" or " (= 1/√3)" when c is the square root of an integer (not itself one), else ""."""
    if c <= 0:
        return ""
    for value, form in ((c, "√{}"), (1 / c, "1/√{}")):
        sq = value * value
        if abs(sq - round(sq)) < 1e-6 * sq and abs(value - round(value)) > 1e-6 * value and round(sq) > 1:
            return " (= " + form.format(round(sq)) + ")"
    return ""


def classify(expected, got, atol, rtol, touched=None, min_elements=2):
    """(hint, factor) for two arrays of the same shape that differ: zeros, sign, scale, mask or other.
    A constant factor needs ``min_elements`` nonzero expected elements (one element differs by *some*
    factor whatever the bug; the probes ask for one, and for the same factor on every probe)."""
    close = numpy.isclose(got, expected, atol=atol, rtol=rtol)
    size = max(float(numpy.abs(expected).max()), atol) if expected.size else atol
    if numpy.all(numpy.abs(got) <= atol) and not numpy.all(numpy.abs(expected) <= atol):
        return "zeros", None
    if numpy.allclose(got, -expected, atol=atol, rtol=rtol):
        return "sign", None
    # the factor is estimated where the error shows, then must hold everywhere
    show = ~close & (numpy.abs(expected) > atol)
    denom = float((expected[show] ** 2).sum())
    if denom > 0 and int((numpy.abs(expected) > atol).sum()) >= min_elements:
        c = float((got[show] * expected[show]).sum()) / denom
        if abs(c - 1) > 1e-3 and numpy.allclose(got, c * expected, atol=atol + 1e-6 * size, rtol=max(rtol, 1e-6)):
            return "scale", c
    if touched is not None:
        touched = numpy.broadcast_to(numpy.asarray(touched, dtype=bool), expected.shape)
        wrong, nonzero = ~close, numpy.abs(expected) > atol
        for right_side in (touched, ~touched):  # wrong only on one side, right on a side that matters
            if right_side.any() and not wrong[right_side].any() and nonzero[right_side].any() and wrong.any():
                return "mask", None
    return "other", None


def _float_arrays(inputs):
    return [(i, backend.as_numpy(x.array if isinstance(x, Tensor) else x)) for i, x in enumerate(inputs)
            if isinstance(x, (Tensor, numpy.ndarray)) and numpy.asarray(
                backend.as_numpy(x.array if isinstance(x, Tensor) else x)).dtype.kind == "f"]


def generic(inputs, rng, positive=False):
    """Inputs of the same shapes (integer, boolean and non-array values kept) with standard normal
    floats (absolute values when ``positive``): distinct values, no zeros, no ties."""
    out = []
    for x in inputs:
        is_float = isinstance(x, (Tensor, numpy.ndarray)) and numpy.asarray(
            backend.as_numpy(x.array if isinstance(x, Tensor) else x)).dtype.kind == "f"
        if not is_float:
            out.append(x)
            continue
        values = rng.standard_normal(tuple(x.shape))
        values = numpy.abs(values) + 0.1 if positive else values
        if isinstance(x, Tensor):
            xp = backend.get_array_module(x.array)
            out.append(Tensor._make(xp.asarray(values, dtype=x.array.dtype), x.requires_grad))
        else:
            out.append(values.astype(x.dtype))
    return tuple(out)


def offset_by_input(expected, got, inputs, atol, rtol):
    """"±input i along axis a" when got − expected is ± a 1-D input broadcast along one axis of
    the result (a bias left out, added twice, or added along the wrong axis), else None."""
    diff = got - expected
    if not expected.ndim or numpy.allclose(diff, 0, atol=atol, rtol=rtol):
        return None
    tol = atol + rtol * float(numpy.abs(expected).max())
    for i, x in _float_arrays(inputs):
        if x.ndim != 1 or x.size < 1:
            continue
        for axis in range(expected.ndim):
            if expected.shape[axis] != x.size:
                continue
            shape = [1] * expected.ndim
            shape[axis] = x.size
            b = x.reshape(shape)
            for sign, word in ((-1.0, "minus"), (1.0, "plus")):
                if numpy.allclose(diff, sign * b, atol=tol, rtol=0):
                    return f"the result is the expected one {word} input {i} along axis {axis}"
    return None


def candidate_factors(inputs):
    """Factors a forgotten or doubled scale inside a function could have, from the input shapes."""
    sizes = sorted({int(s) for _, x in _float_arrays(inputs) for s in x.shape if s >= 2})
    out = [2.0, 0.5]
    for n in sizes:
        out += [n ** 0.5, n ** -0.5, float(n), 1.0 / n]
    return [c for k, c in enumerate(out) if all(abs(c - d) > 1e-9 for d in out[:k])]


def scaled_input(inputs, i, c):
    out = list(inputs)
    x = out[i]
    if isinstance(x, Tensor):
        out[i] = Tensor._make(x.array * c, x.requires_grad)
    else:
        out[i] = x * c
    return tuple(out)
