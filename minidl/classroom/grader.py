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
against got) and a hint (``minidl.classroom.hints``, which says how a hint is decided so that
it does not change with the number of generated examples or the seed):

    shape          the output has the wrong shape
    broadcasting   an output with extra dims, a gradient of the wrong shape, or a broadcast error
    overflow       inf or NaN where the expected result is finite (exp without max-subtraction)
    zeros          the student's result is all zeros where the expected one is not
    sign           got ≈ −expected
    scale          got ≈ c·expected for one constant c, or got = the reference of the inputs with
                   one input multiplied by c (a forgotten 1/√d_k); c is reported
    bias           got = expected ± an input broadcast along an axis (a forgotten bias)
    mask           wrong only inside (or only outside) the positions a mask touches
    exception      the student's code raised
    other          none of the above
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hypothesis
import numpy
from hypothesis import HealthCheck, Phase, settings

from ..tensor import Tensor
from .compare import Comparison, as_np, is_array, shape_of
from .hints import EXPLAIN, HINTS, root_form
from .probes import decide

__all__ = ["HINTS", "GradeReport", "GradingError", "check_function", "check_op"]


@dataclass
class GradeReport:
    """The outcome of ``check_function``/``check_op``; ``bool(report)`` is True when it passed.

    On failure: ``where`` ("output 0", "the gradient of input 1", ...), ``hint`` (one of
    ``HINTS``), ``inputs`` (the smallest failing input found), ``index``/``expected``/``got`` (the
    worst element), ``factor`` (c for a ``scale`` hint), ``scaled_input`` (for a scale inside the
    function: the input whose multiple by c the student's result matches) and ``detail``."""

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
    scaled_input: int | None = None
    _extra: dict = field(default_factory=dict, repr=False)

    def __bool__(self):
        return self.passed

    @property
    def input_elements(self) -> int:
        """Total number of elements in the array inputs of the counterexample."""
        return sum(int(numpy.prod(shape_of(x))) for x in self.inputs if is_array(x))

    def __str__(self):
        if self.passed:
            return f"{self.name}: passed on {self.examples} generated inputs"
        lines = [f"{self.name}: FAILED — {self.where} is wrong.", "Smallest failing input:"]
        for i, x in enumerate(self.inputs):
            lines.append(f"  input {i}: {_describe(x)}")
        if self.expected_shape is not None or self.got_shape is not None:
            lines.append(f"Expected shape {self.expected_shape}, got shape {self.got_shape}.")
        if self.index is not None:
            lines.append(f"Worst element {self.index}: expected {self.expected:.6g}, got {self.got:.6g}.")
        if self.detail:
            lines.append(self.detail)
        lines.append(f"Hint ({self.hint}): {self._hint_text()}.")
        return "\n".join(lines)

    def _hint_text(self):
        text = EXPLAIN.get(self.hint, "")
        if self.hint != "scale" or self.factor is None:
            return text
        c = f"{self.factor:.4g}{root_form(self.factor)}"
        if self.scaled_input is not None:
            return (f"a scale inside the function: the result is the expected one for input {self.scaled_input} "
                    f"multiplied by {c} (a forgotten or extra factor: 1/√d_k before a softmax, a mean for a sum, ...)")
        return text + f": got ≈ {c} × expected"


class GradingError(AssertionError):
    """Raised by ``check_function``/``check_op`` with ``raise_on_failure=True``; ``.report``
    holds the ``GradeReport``."""

    def __init__(self, report):
        super().__init__(str(report))
        self.report = report


def _describe(x):
    if isinstance(x, Tensor):
        values = numpy.array2string(as_np(x), precision=4, separator=", ", threshold=60)
        return f"Tensor of shape {shape_of(x)}, dtype {x.dtype}, values {values}"
    if isinstance(x, numpy.ndarray):
        return f"array of shape {x.shape}: {numpy.array2string(x, precision=4, threshold=60)}"
    return repr(x)


def _settings(max_examples):
    return settings(max_examples=max_examples, database=None, derandomize=True, deadline=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False)


def _search(comparison, args, max_examples, seed, count):
    """(smallest failing input, forward_only) or (None, None). Forward errors first: they are
    easier to read, and a gradient error found on a shrunk input can hide the forward error."""
    for forward_only in (True, False):
        def fails(inputs, forward_only=forward_only):
            count[0] += 1
            return comparison.check_one(inputs, seed, forward_only) is not None

        try:
            return hypothesis.find(args, fails, settings=_settings(max_examples)), forward_only
        except hypothesis.errors.NoSuchExample:
            continue
    return None, None


def _grade(name, comparison, args, max_examples, seed, raise_on_failure):
    count = [0]
    example, forward_only = _search(comparison, args, max_examples, seed, count)
    if example is None:
        return GradeReport(True, name=name, examples=count[0])
    fields = comparison.check_one(example, seed, forward_only)
    fields = fields or dict(where="an unstable result", hint="other",
                            detail="This input failed once and passed on a second run (is the code random?).")
    fields = decide(fields, tuple(example), comparison)
    fields.pop("_also", None)
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
    comparison = Comparison(student, reference, atol, rtol, check_grad=check_grad, mask=mask)
    return _grade(_fn_name(student), comparison, args, max_examples, seed, raise_on_failure)


def check_op(function_class, reference, args, max_examples=50, atol=1e-6, rtol=1e-5, mask=None, seed=0,
             raise_on_failure=False):
    """``check_function`` for a student's ``minidl.autograd.Function`` subclass, called through
    ``function_class.apply``; in addition the student's backward is checked against central
    differences of the student's own forward (``minidl.gradcheck``)."""

    def student(*inputs):
        return function_class.apply(*inputs)

    student.__qualname__ = f"{function_class.__name__}.apply"
    comparison = Comparison(student, reference, atol, rtol, check_grad=True, mask=mask,
                            op_gradcheck=(max(atol, 1e-5), max(rtol, 1e-3)))
    return _grade(student.__qualname__, comparison, args, max_examples, seed, raise_on_failure)
