"""A grader that explains: compare a student's function with a reference over
hypothesis-generated inputs, shrink a failure to the smallest input, and say in plain words
what is wrong.

For each input tuple drawn from ``args``:

1. forward: every output of the student against the reference (shape, then values);
2. gradients (float64): one random upstream gradient v per output (never all ones), and the
   vector-Jacobian products vᵀ ∂y/∂x of both functions, from ``minidl.grad``, for every input
   that requires grad;
3. for ``check_op`` also the student's backward against central differences of the student's
   own forward (``minidl.gradcheck``).

The first failure hypothesis finds is shrunk (``hypothesis.find``) and reported with the
input's shapes and values, the output or gradient that is wrong, the worst element (expected
against got) and a hint:

    shape          the output has the wrong shape
    broadcasting   an output with extra dims, a gradient of the wrong shape, or a broadcast error
    zeros          the student's result is all zeros where the expected one is not
    sign           got ≈ −expected
    scale          got ≈ c·expected for one constant c (reported; e.g. a forgotten 1/√d_k)
    mask           wrong only inside (or only outside) the positions a mask touches
    exception      the student's code raised
    other          none of the above
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hypothesis
import numpy
from hypothesis import HealthCheck, Phase, settings

from .. import backend
from ..autograd import grad, no_grad
from ..gradcheck import GradcheckError, gradcheck
from ..tensor import Tensor

HINTS = ("shape", "broadcasting", "zeros", "sign", "scale", "mask", "exception", "other")

_EXPLAIN = {
    "shape": "the result has the wrong shape",
    "broadcasting": "shapes were broadcast where they should not be (or a broadcast axis was not summed)",
    "zeros": "the result is all zeros: is the backward returning zeros, or is the input detached?",
    "sign": "the result has the right size but the wrong sign (got ≈ −expected)",
    "scale": "the result is off by a constant factor",
    "mask": "the error sits only at positions that the mask touches (or only at those it leaves alone)",
    "exception": "the code raised an exception",
    "other": "the values differ",
}


@dataclass
class GradeReport:
    """The outcome of ``check_function``/``check_op``; ``bool(report)`` is True when it passed.

    On failure: ``where`` ("output 0", "gradient of input 1", ...), ``hint`` (one of ``HINTS``),
    ``inputs`` (the smallest failing input found), ``index``/``expected``/``got`` (the worst
    element), ``factor`` (c for a ``scale`` hint) and ``detail`` (extra words)."""

    passed: bool
    name: str = ""
    examples: int = 0
    where: str = ""
    hint: str = ""
    inputs: tuple = ()
    index: tuple | None = None
    expected: float | None = None
    got: float | None = None
    factor: float | None = None
    detail: str = ""
    expected_shape: tuple | None = None
    got_shape: tuple | None = None
    _extra: dict = field(default_factory=dict, repr=False)

    def __bool__(self):
        return self.passed

    @property
    def input_elements(self) -> int:
        """Total number of elements in the array inputs of the counterexample."""
        return sum(int(numpy.prod(_shape(x))) for x in self.inputs if _is_array(x))

    def __str__(self):
        if self.passed:
            return f"{self.name}: passed on {self.examples} generated inputs"
        lines = [f"{self.name}: FAILED — {self.where} is wrong.", "Smallest failing input:"]
        for i, x in enumerate(self.inputs):
            lines.append(f"  input {i}: {_describe(x)}")
        if self.expected_shape is not None or self.got_shape is not None:
            lines.append(f"Expected shape {self.expected_shape}, got shape {self.got_shape}.")
        if self.index is not None:
            lines.append(
                f"Worst element {self.index}: expected {self.expected:.6g}, got {self.got:.6g}."
            )
        if self.detail:
            lines.append(self.detail)
        hint = _EXPLAIN.get(self.hint, "")
        if self.hint == "scale" and self.factor is not None:
            hint += f": got ≈ {self.factor:.4g} × expected" + _root_form(self.factor)
        lines.append(f"Hint ({self.hint}): {hint}.")
        return "\n".join(lines)


def _root_form(c):
    """" (= √3)" or " (= 1/√3)" when c is the square root of an integer (not itself one), else ""."""
    if c <= 0:
        return ""
    for value, form in ((c, "√{}"), (1 / c, "1/√{}")):
        sq = value * value
        if abs(sq - round(sq)) < 1e-6 * sq and abs(value - round(value)) > 1e-6 * value and round(sq) > 1:
            return " (= " + form.format(round(sq)) + ")"
    return ""


class GradingError(AssertionError):
    """Raised by ``check_function``/``check_op`` with ``raise_on_failure=True``; ``.report``
    holds the ``GradeReport``."""

    def __init__(self, report):
        super().__init__(str(report))
        self.report = report


def _is_array(x):
    return isinstance(x, (Tensor, numpy.ndarray))


def _shape(x):
    return tuple(x.shape)


def _np(x):
    return backend.as_numpy(x.array if isinstance(x, Tensor) else x)


def _describe(x):
    if isinstance(x, Tensor):
        values = numpy.array2string(_np(x), precision=4, separator=", ", threshold=60)
        return f"Tensor of shape {_shape(x)}, dtype {x.dtype}, values {values}"
    if isinstance(x, numpy.ndarray):
        return f"array of shape {x.shape}: {numpy.array2string(x, precision=4, threshold=60)}"
    return repr(x)


def _fresh(inputs):
    """Copies of the inputs, so a student function that mutates them cannot spoil the check."""
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            out.append(Tensor._make(x.array.copy(), x.requires_grad))
        else:
            out.append(x)
    return tuple(out)


def _as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _classify(expected, got, atol, rtol, touched=None):
    """Hint for two arrays of the same shape that differ: zeros, sign, scale, mask or other."""
    close = numpy.isclose(got, expected, atol=atol, rtol=rtol)
    scale = max(float(numpy.abs(expected).max()), atol)
    if numpy.all(numpy.abs(got) <= atol) and not numpy.all(numpy.abs(expected) <= atol):
        return "zeros", None
    if numpy.allclose(got, -expected, atol=atol, rtol=rtol):
        return "sign", None
    # the factor is estimated where the error shows (wrong positions with a nonzero expected
    # value), then must hold everywhere
    show = ~close & (numpy.abs(expected) > atol)
    denom = float((expected[show] ** 2).sum())
    # one element differs by *some* factor whatever the bug: a constant factor needs two
    if denom > 0 and int((numpy.abs(expected) > atol).sum()) >= 2:
        c = float((got[show] * expected[show]).sum()) / denom
        if abs(c - 1) > 1e-3 and numpy.allclose(got, c * expected, atol=atol + 1e-6 * scale, rtol=max(rtol, 1e-6)):
            return "scale", c
    if touched is not None:
        touched = numpy.broadcast_to(numpy.asarray(touched, dtype=bool), expected.shape)
        wrong = ~close
        nonzero = numpy.abs(expected) > atol
        for right_side in (touched, ~touched):  # wrong only on one side, and right on a side that matters
            if right_side.any() and not wrong[right_side].any() and nonzero[right_side].any() and wrong.any():
                return "mask", None
    return "other", None


def _worst(expected, got, atol, rtol):
    excess = numpy.abs(got - expected) - (atol + rtol * numpy.abs(expected))
    idx = numpy.unravel_index(int(numpy.argmax(excess)), expected.shape) if expected.ndim else ()
    return tuple(int(i) for i in idx), float(expected[idx]), float(got[idx])


def _compare_arrays(where, expected, got, atol, rtol, touched=None, is_grad=False):
    """None when they agree, else a dict of report fields."""
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
    if not numpy.all(numpy.isfinite(got) == numpy.isfinite(expected)):
        bad = numpy.argwhere(numpy.isfinite(got) != numpy.isfinite(expected))[0]
        idx = tuple(int(i) for i in bad)
        return dict(where=where, hint="other", index=idx, expected=float(expected[idx]), got=float(got[idx]),
                    detail="One of the two results is not finite (inf or NaN) there.")
    fe, fg = numpy.nan_to_num(expected), numpy.nan_to_num(got)
    if numpy.allclose(fg, fe, atol=atol, rtol=rtol):
        return None
    hint, factor = _classify(fe, fg, atol, rtol, touched)
    idx, e, g = _worst(fe, fg, atol, rtol)
    return dict(where=where, hint=hint, factor=factor, index=idx, expected=e, got=g,
                _nonzero=int((numpy.abs(fe) > atol).sum()))


def _exception_fields(who, exc):
    text = f"{type(exc).__name__}: {exc}"
    hint = "exception"
    if "broadcast" in str(exc) or "cannot be summed to input shape" in str(exc):
        hint = "broadcasting"
    return dict(where=f"the {who}", hint=hint, detail=f"The {who} raised {text}")


def _vjp(fn, inputs, vs):
    """Run ``fn`` on the inputs with gradients on and return vᵀ ∂y/∂x for each float input."""
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _as_tuple(fn(*inputs))
    live = [(o, v) for o, v in zip(outs, vs) if isinstance(o, Tensor) and o.requires_grad and v is not None]
    if not live or not diff:
        return [None] * len(diff)
    xp = backend.get_array_module(live[0][0].array)
    return grad(
        [o for o, _ in live],
        diff,
        [Tensor._make(xp.asarray(v, dtype=o.dtype), False) for o, v in live],
        allow_unused=True,
    )


def _check_one(student, reference, inputs, atol, rtol, check_grad, mask, op_gradcheck, seed, forward_only=False,
               collect=None):
    """The first disagreement on one input tuple, as a dict of report fields (None if none).

    ``collect``: a dict that receives ``where -> (expected, got, mask positions)`` for every
    compared result of matching shape (gradients too, even after a wrong output), and
    ``_skip`` when the reference's result is not finite."""
    try:
        with no_grad():
            expected = _as_tuple(reference(*_fresh(inputs)))
    except Exception:  # the reference rejects this input: not the student's fault
        return None
    try:
        with no_grad():
            got = _as_tuple(student(*_fresh(inputs)))
    except Exception as exc:  # noqa: BLE001 - any failure of student code is reported
        return _exception_fields("student's function", exc)
    if len(got) != len(expected):
        return dict(where="the number of outputs", hint="shape",
                    detail=f"Expected {len(expected)} output(s), got {len(got)}.")
    touched = None if mask is None else _np_mask(mask, inputs)
    for k, (e, g) in enumerate(zip(expected, got)):
        if not _is_array(g):
            return dict(where=f"output {k}", hint="other",
                        detail=f"Expected a Tensor, got {type(g).__name__}.")
        ea, ga = _np(e).astype(numpy.float64), _np(g).astype(numpy.float64)
        _keep(collect, f"output {k}", ea, ga, touched)
        fields = _compare_arrays(f"output {k}", ea, ga, atol, rtol, touched)
        if fields and collect is None:
            return fields
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if forward_only or not check_grad or not diff_idx:
        return None
    rng = numpy.random.default_rng(seed)
    vs = [rng.standard_normal(_shape(e)) if _is_array(e) and _np(e).dtype.kind == "f" else None for e in expected]
    ref_inputs, stu_inputs = _fresh(inputs), _fresh(inputs)
    try:
        ref_grads = _vjp(reference, ref_inputs, vs)
    except Exception:
        return None
    try:
        stu_grads = _vjp(student, stu_inputs, vs)
    except Exception as exc:  # noqa: BLE001
        return _exception_fields("student's backward", exc)
    failures, wrong_pairs = [], []
    for i, rg, sg in zip(diff_idx, ref_grads, stu_grads):
        shape = _shape(inputs[i])
        re = numpy.zeros(shape) if rg is None else _np(rg).astype(numpy.float64)
        sv = numpy.zeros(shape) if sg is None else _np(sg).astype(numpy.float64)
        _keep(collect, f"the gradient of input {i}", re, sv, _fits(touched, shape))
        fields = _compare_arrays(f"the gradient of input {i}", re, sv, atol, rtol, _fits(touched, shape),
                                 is_grad=True)
        if fields:
            if sg is None and fields["hint"] == "zeros":
                fields["detail"] = "The student's output does not depend on this input in the graph."
            failures.append(fields)
            if re.shape == sv.shape:
                wrong_pairs.append((re.ravel(), sv.ravel()))
    if failures:
        first = failures[0]
        if len(wrong_pairs) > 1 and first["hint"] in ("other", "mask"):
            # one factor shared by all the wrong gradients (e.g. a forgotten scale in dQ and dK)
            hint, factor = _classify(numpy.concatenate([e for e, _ in wrong_pairs]),
                                     numpy.concatenate([g for _, g in wrong_pairs]), atol, rtol)
            if hint in ("sign", "scale", "zeros"):
                first.update(hint=hint, factor=factor, _joint=[f["where"] for f in failures if f.get("index")])
        if len(failures) > 1:
            others = ", ".join(f["where"].replace("the gradient of ", "") for f in failures[1:])
            first["detail"] = (first.get("detail", "") + f" The gradients of {others} are wrong too.").strip()
        return first
    if op_gradcheck and collect is None:
        try:
            fd_atol, fd_rtol = op_gradcheck  # central differences need looser tolerances
            gradcheck(student, _fresh(inputs), atol=fd_atol, rtol=fd_rtol, seed=seed)
        except GradcheckError as exc:
            return dict(where="the backward against finite differences of the student's own forward",
                        hint="other", detail=str(exc))
        except Exception as exc:  # noqa: BLE001
            return _exception_fields("student's backward", exc)
    return None


def _keep(collect, where, expected, got, touched):
    if collect is None:
        return
    if not numpy.all(numpy.isfinite(expected)):
        collect["_skip"] = True
    elif expected.shape == got.shape:
        collect[where] = (expected, numpy.nan_to_num(got), touched)


GENERIC_EXAMPLES = 3  # generic inputs of the counterexample's shapes used to confirm a hint


def _generic(inputs, rng, like=None):
    """Inputs of the same shapes (and integer, boolean and non-array values) with seeded
    standard normal floats: distinct rows, no zeros, no ties. An input whose values in ``like``
    (an un-shrunk example) are all non-negative gets absolute values."""
    out = []
    for n, x in enumerate(inputs):
        if not _is_array(x) or _np(x).dtype.kind != "f":
            out.append(x)
            continue
        values = rng.standard_normal(_shape(x))
        ref = like[n] if like is not None and n < len(like) and _is_array(like[n]) else None
        if ref is not None and _np(ref).size and float(_np(ref).min()) >= 0:
            values = numpy.abs(values)
        if isinstance(x, Tensor):
            xp = backend.get_array_module(x.array)
            out.append(Tensor._make(xp.asarray(values, dtype=x.array.dtype), x.requires_grad))
        else:
            out.append(values.astype(x.dtype))
    return tuple(out)


def _confirm(fields, example, unshrunk, run, atol, rtol, seed):
    """Check a value hint (zeros, sign, scale, mask) of the shrunk ``example`` on inputs that are
    not degenerate: generic inputs of the same shapes and, when there is one, the first failing
    (un-shrunk) input of the search with generic inputs of its shapes. Shrunk inputs are full of
    zeros, equal rows and single elements, where many bugs look like a constant factor or like
    zeros; the hint stands only when every one of them agrees (a ``scale`` with the same factor on
    the inputs of the counterexample's shapes), else it becomes ``other``."""
    hint = fields["hint"]
    wheres = fields.get("_joint") or [fields["where"]]
    rng = numpy.random.default_rng([seed, 7])
    cases = [(_generic(example, rng, unshrunk), True) for _ in range(GENERIC_EXAMPLES)]
    if unshrunk is not None:
        cases.append((unshrunk, False))
        cases += [(_generic(unshrunk, rng, unshrunk), False) for _ in range(GENERIC_EXAMPLES - 1)]
    forward_only = not any("gradient" in w for w in wheres)
    verdicts = []
    for inputs, same_shapes in cases:
        collect = {}
        try:
            run(inputs, forward_only, collect)
        except Exception:  # noqa: BLE001 - no evidence from this input
            continue
        if collect.get("_skip") or not collect:
            continue  # the reference rejects this input or is not finite there
        if any(w not in collect for w in wheres):
            verdicts.append(("other", None, same_shapes))
            continue
        parts = [collect[w] for w in wheres]
        e = numpy.concatenate([p[0].ravel() for p in parts])
        g = numpy.concatenate([p[1].ravel() for p in parts])
        touched = None
        if len(parts) == 1 and parts[0][2] is not None:
            e, g = parts[0][0], parts[0][1]
            touched = parts[0][2]
        if numpy.allclose(g, e, atol=atol, rtol=rtol) or int((numpy.abs(e) > atol).sum()) < 2:
            continue  # the bug does not show here, or one element cannot show a sign or a factor
        verdicts.append((*_classify(e, g, atol, rtol, touched), same_shapes))
    shown = verdicts
    agree = bool(shown) and all(v[0] == hint for v in shown)
    if agree and hint == "scale" and fields.get("factor") is not None:
        c0 = fields["factor"]
        agree = all(abs(c - c0) <= 1e-3 * abs(c0) for _, c, same in shown if same)
    if not agree and shown:
        seen = sorted({v[0] for v in shown if v[0] != hint})
        fields.update(hint="other", factor=None)
        note = (f"On this small input it looks like '{hint}', but not on larger, generic inputs"
                + (f" (there: {', '.join(seen)})" if seen else "") + ".")
        fields["detail"] = (fields.get("detail", "") + " " + note).strip()
    return fields


def _fits(touched, shape):
    """The mask positions when they broadcast to ``shape`` (a gradient's), else None."""
    if touched is None:
        return None
    try:
        return numpy.broadcast_to(touched, shape)
    except ValueError:
        return None


def _np_mask(mask, inputs):
    try:
        return numpy.asarray(mask(*inputs), dtype=bool)
    except Exception:  # a mask helper that does not fit this input gives no mask hint
        return None


def _grade(name, student, reference, args, max_examples, atol, rtol, check_grad, mask, op_gradcheck,
           seed, raise_on_failure):
    count = [0]

    def check(inputs, forward_only, collect=None):
        return _check_one(student, reference, inputs, atol, rtol, check_grad, mask, op_gradcheck, seed, forward_only,
                          collect)

    conf = settings(
        max_examples=max_examples,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    # Forward errors first: they are easier to read, and a gradient error found on a shrunk
    # input (often all zeros) can hide the forward error that caused it.
    example = None
    for forward_only in (True, False):
        first_failing = []  # the first failing input of the search, before shrinking

        def fails(inputs, forward_only=forward_only, first_failing=first_failing):
            count[0] += 1
            bad = check(inputs, forward_only) is not None
            if bad and not first_failing:
                first_failing.append(inputs)
            return bad

        try:
            example = hypothesis.find(args, fails, settings=conf)
            break
        except hypothesis.errors.NoSuchExample:
            continue
    if example is None:
        return GradeReport(True, name=name, examples=count[0])
    fields = check(example, forward_only)
    if fields and fields["hint"] == "other" and fields.get("_nonzero", 2) < 2:
        # one nonzero element cannot show a sign or a constant factor: look for the smallest
        # failing input with at least two, and keep its hint if it says more
        def fails_richly(inputs):
            count[0] += 1
            found = check(inputs, forward_only)
            return found is not None and found.get("_nonzero", 0) >= 2

        try:
            richer = hypothesis.find(args, fails_richly, settings=conf)
            richer_fields = check(richer, forward_only)
            if richer_fields and richer_fields["hint"] != "other":
                example, fields = richer, richer_fields
        except hypothesis.errors.NoSuchExample:
            pass
    fields = fields or dict(where="an unstable result", hint="other",
                            detail="This input failed once and passed on a second run (is the code random?).")
    if fields["hint"] in ("zeros", "sign", "scale", "mask"):
        unshrunk = first_failing[0] if first_failing else None
        fields = _confirm(fields, example, unshrunk, check, atol, rtol, seed)
    fields.pop("_nonzero", None)
    fields.pop("_joint", None)
    report = GradeReport(False, name=name, examples=count[0], inputs=tuple(example), **fields)
    if raise_on_failure:
        raise GradingError(report)
    return report


def _fn_name(fn):
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def check_function(student, reference, args, max_examples=50, atol=1e-6, rtol=1e-5, check_grad=True,
                   mask=None, seed=0, raise_on_failure=False):
    """Compare ``student(*inputs)`` with ``reference(*inputs)`` for inputs drawn from ``args``
    (a hypothesis strategy of tuples; use float64 Tensors with requires_grad, e.g. from
    ``minidl.testing.tensors``): forward values and, with ``check_grad``, the gradient of every
    float input for a random upstream gradient.

    ``mask``: optional ``mask(*inputs) -> bool array`` broadcastable to the outputs, True where
    masking changes the output (e.g. query rows with a masked key); an error only inside or
    only outside those positions gets the hint ``mask``. It is used for the gradients too,
    for each input whose shape it broadcasts to.

    Returns a ``GradeReport`` (truthy when passed; ``str`` explains a failure with the smallest
    failing input). ``raise_on_failure=True`` raises ``GradingError`` instead."""
    return _grade(_fn_name(student), student, reference, args, max_examples, atol, rtol, check_grad, mask,
                  False, seed, raise_on_failure)


def check_op(function_class, reference, args, max_examples=50, atol=1e-6, rtol=1e-5, mask=None, seed=0,
             raise_on_failure=False):
    """``check_function`` for a student's ``minidl.autograd.Function`` subclass, called through
    ``function_class.apply``; in addition the student's backward is checked against central
    differences of the student's own forward (``minidl.gradcheck``)."""

    def student(*inputs):
        return function_class.apply(*inputs)

    student.__qualname__ = f"{function_class.__name__}.apply"
    fd_tolerances = (max(atol, 1e-5), max(rtol, 1e-3))
    return _grade(student.__qualname__, student, reference, args, max_examples, atol, rtol, True, mask,
                  fd_tolerances, seed, raise_on_failure)

