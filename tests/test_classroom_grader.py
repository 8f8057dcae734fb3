"""The classroom grader graded: a correct solution passes, and seeded wrong solutions are each
caught with the right hint and a small (shrunk) counterexample.

Three assignments: the backward of softmax (a Function), conv2d via unfold (a function) and
causal scaled dot-product attention (a Function with a hand-written backward)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.autograd import Function
from minidl.classroom import GradeReport, GradingError, check_function, check_op
from minidl.testing import attention_shapes, conv_configs, shapes, tensors

MAX_EXAMPLES = 20


# ---- softmax backward ------------------------------------------------------------------------
def make_softmax(mutation=None):
    class StudentSoftmax(Function):
        """y = softmax(x) along the last dim; dx = y ⊙ (dy − Σ dy ⊙ y)."""

        def forward(ctx, x):
            e = ctx.xp.exp(x - x.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
            ctx.save_for_backward(y, x)
            return y

        def backward(ctx, dy):
            y, x = ctx.saved_tensors
            if mutation == "zeros":
                return dy * 0
            if mutation == "diagonal":  # only the diagonal of the Jacobian
                return dy * y * (1 - y)
            if mutation == "no_y":
                return dy - (dy * y).sum(dim=-1, keepdim=True)
            if mutation == "sum_all":  # Σ over every element, not over the softmax dim
                return y * (dy - (dy * y).sum())
            dx = y * (dy - (dy * y).sum(dim=-1, keepdim=True))
            return -dx if mutation == "sign" else dx

    return StudentSoftmax


def softmax_reference(x):
    return F.softmax(x, dim=-1)


SOFTMAX_ARGS = st.tuples(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4)))
# no_y (dx = dy − Σ dy ⊙ y, the factor y left out) is 2·expected only where y is uniform, as on the
# shrunk all-equal input; on generic inputs it is no constant factor, so the hint is "other"
SOFTMAX_MUTATIONS = [("sign", "sign"), ("zeros", "zeros"), ("diagonal", "other"), ("no_y", "other"),
                     ("sum_all", "other")]


# ---- conv2d via unfold -----------------------------------------------------------------------
@st.composite
def conv_inputs(draw):
    cfg = draw(conv_configs(max_batch=2, max_channels=2, max_size=4, max_kernel=2, groups=False))
    cfg["dilation"] = (1, 1)
    N, C, OC = cfg["N"], cfg["C_in"], cfg["C_out"]
    KH, KW = cfg["kernel"]
    H, W = (max(n, k) for n, k in zip(cfg["size"], cfg["kernel"]))
    x = draw(tensors(shape=(N, C, H, W)))
    w = draw(tensors(shape=(OC, C, KH, KW)))
    b = draw(tensors(shape=(OC,)))
    return x, w, b, cfg["stride"][0], min(cfg["padding"][0], KH - 1, KW - 1)


def make_conv(mutation=None):
    def student_conv2d(x, w, b, stride, padding):
        N, C, H, W = x.shape
        OC, _, KH, KW = w.shape
        pad = padding + 1 if mutation == "padding" else padding
        OH, OW = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
        cols = F.unfold(x, (KH, KW), padding=pad, stride=stride)  # (N, C*KH*KW, OH*OW)
        weight = w.transpose(2, 3) if mutation == "transposed" else w
        if mutation == "mean":
            y = (weight.reshape(OC, 1, C * KH * KW, 1) * cols.unsqueeze(1)).mean(dim=2)  # (N, OC, OH*OW)
        else:
            y = weight.reshape(OC, C * KH * KW) @ cols  # (OC, C*KH*KW) @ (N, C*KH*KW, L) -> (N, OC, L)
        y = y.reshape(N, OC, OH, OW)
        bias = b.detach() if mutation == "detached_bias" else b
        shape = (1, OC, 1, 1, 1) if mutation == "bias_axis" else (1, OC, 1, 1)
        y = y + bias.reshape(*shape)
        return -y if mutation == "sign" else y

    return student_conv2d


def conv_reference(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


# mean instead of sum: (w ⋆ x)/K + b is no constant factor of the output (the bias is not divided), but
# it is the convolution of x/K: a scale inside the function
CONV_MUTATIONS = [("sign", "sign"), ("padding", "shape"), ("transposed", "other"), ("mean", "scale"),
                  ("detached_bias", "zeros"), ("bias_axis", "broadcasting")]


# ---- causal attention ------------------------------------------------------------------------
@st.composite
def attention_inputs(draw):
    cfg = draw(attention_shapes(max_batch=2, max_heads=2, max_len=4, max_dim=3))
    B, H, L, E, Ev = cfg["B"], cfg["H"], cfg["L"], cfg["E"], cfg["Ev"]
    return tuple(draw(tensors(shape=s, low=-2, high=2)) for s in ((B, H, L, E), (B, H, L, E), (B, H, L, Ev)))


def make_attention(mutation=None):
    class StudentCausalAttention(Function):
        """out = softmax(Q Kᵀ/√E + causal mask) V, with its backward by hand."""

        def forward(ctx, q, k, v):
            xp = ctx.xp
            L, E = q.shape[-2:]
            scale = 1.0 / math.sqrt(E)
            s = q @ xp.swapaxes(k, -1, -2) * scale  # (B, H, L, L)
            allowed = xp.tril(xp.ones((L, L), dtype=bool))
            if mutation != "mask_after" and mutation != "no_mask":
                s = xp.where(allowed, s, -xp.inf)
            e = xp.exp(s - s.max(axis=-1, keepdims=True))
            p = e / e.sum(axis=-1, keepdims=True)
            if mutation == "mask_after":
                p = p * allowed
            ctx.scale = scale
            ctx.save_for_backward(q, k, v, p)
            return p @ v  # (B, H, L, L) @ (B, H, L, Ev)

        def backward(ctx, dy):
            q, k, v, p = ctx.saved_tensors
            dv = (p if mutation == "transposed" else p.mT) @ dy
            dp = dy @ v.mT
            ds = p * (dp - (dp * p).sum(dim=-1, keepdim=True))
            dq = ds @ k * (1.0 if mutation == "no_scale" else ctx.scale)
            dk = ds.mT @ q * (1.0 if mutation == "no_scale" else ctx.scale)
            if mutation == "zeros":
                dq = dq * 0
            return dq, dk, (-dv if mutation == "sign" else dv)

    return StudentCausalAttention


def attention_reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def causal_rows(q, k, v):
    """Output rows that have a masked key: every query row but the last."""
    L = q.shape[-2]
    rows = minidl.arange(L).numpy() < L - 1
    return rows[:, None]


ATTENTION_MUTATIONS = [("sign", "sign"), ("zeros", "zeros"), ("no_scale", "scale"), ("mask_after", "mask"),
                       ("no_mask", "mask"), ("transposed", "other")]


def grade(assignment, mutation):
    if assignment == "softmax":
        return check_op(make_softmax(mutation), softmax_reference, SOFTMAX_ARGS, max_examples=MAX_EXAMPLES)
    if assignment == "conv":
        return check_function(make_conv(mutation), conv_reference, conv_inputs(), max_examples=MAX_EXAMPLES)
    return check_op(make_attention(mutation), attention_reference, attention_inputs(), max_examples=MAX_EXAMPLES,
                    mask=causal_rows)


CASES = (
    [("softmax", m, h) for m, h in SOFTMAX_MUTATIONS]
    + [("conv", m, h) for m, h in CONV_MUTATIONS]
    + [("attention", m, h) for m, h in ATTENTION_MUTATIONS]
)


@pytest.mark.parametrize("assignment", ["softmax", "conv", "attention"])
def test_correct_solution_passes(assignment):
    report = grade(assignment, None)
    assert isinstance(report, GradeReport)
    assert report.passed, str(report)
    assert "passed" in str(report)


@pytest.mark.parametrize("assignment,mutation,hint", CASES, ids=[f"{a}-{m}" for a, m, _ in CASES])
def test_wrong_solution_is_caught_with_hint_and_small_example(assignment, mutation, hint):
    report = grade(assignment, mutation)
    text = str(report)
    assert not report.passed
    assert report.hint == hint, text
    assert report.input_elements <= 24, text  # shrunk: a tiny counterexample
    assert "Smallest failing input" in text and f"Hint ({hint})" in text


def test_scale_hint_reports_the_factor():
    report = grade("attention", "no_scale")
    assert report.factor == pytest.approx(math.sqrt(report.inputs[0].shape[-1]))
    assert "√" in str(report)


def test_hint_from_a_degenerate_counterexample_is_checked_on_generic_inputs():
    report = grade("softmax", "no_y")
    assert report.hint == "other" and report.factor is None
    assert report.input_elements <= 4  # the counterexample stays the shrunk one


def test_scale_hint_is_kept_when_it_holds_on_generic_inputs():
    def halved(x):
        return F.softmax(x, dim=-1) * 0.5

    report = check_function(halved, softmax_reference, SOFTMAX_ARGS, max_examples=10)
    assert report.hint == "scale" and report.factor == pytest.approx(0.5)


def test_student_exception_is_reported_with_the_input():
    def broken(x):
        raise ValueError("not done yet")

    report = check_function(broken, softmax_reference, SOFTMAX_ARGS, max_examples=5)
    assert report.hint == "exception"
    assert "ValueError: not done yet" in str(report)
    assert "input 0: Tensor of shape" in str(report)


def test_raise_on_failure():
    with pytest.raises(GradingError) as info:
        check_op(make_softmax("sign"), softmax_reference, SOFTMAX_ARGS, max_examples=5, raise_on_failure=True)
    assert info.value.report.hint == "sign"


# ---- hints that do not depend on the search -------------------------------------------------------
def attention_forward(mutation):
    def student(q, k, v):
        L, d_k = q.shape[-2], q.shape[-1]
        scale = {"no_scale": 1.0, "d_k": 1.0 / d_k}.get(mutation, 1.0 / math.sqrt(d_k))
        m = minidl.tensor(np.triu(np.full((L, L), -np.inf), k=1))
        return F.softmax(q @ k.mT * scale + m, dim=-1) @ v

    return student


def forward_attention_reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def conv_without_bias(x, w, b, stride, padding):
    return F.conv2d(x, w, None, stride=stride, padding=padding)


@pytest.mark.parametrize("max_examples,seed", [(5, 0), (12, 3), (30, 1)])
def test_hints_do_not_depend_on_the_number_of_examples_or_the_seed(max_examples, seed):
    for mutation in ("no_scale", "d_k"):
        report = check_function(attention_forward(mutation), forward_attention_reference, attention_inputs(),
                                mask=causal_rows, max_examples=max_examples, seed=seed)
        d_k = report.inputs[0].shape[-1]
        assert report.hint == "scale" and report.scaled_input in (0, 1), str(report)  # never "mask"
        expected = math.sqrt(d_k) if mutation == "no_scale" else 1 / math.sqrt(d_k)
        assert report.factor == pytest.approx(expected), str(report)
    report = check_function(conv_without_bias, conv_reference, conv_inputs(), max_examples=max_examples, seed=seed)
    assert report.hint == "bias" and "minus input 2" in report.detail, str(report)  # never "zeros"


def test_softmax_without_max_subtraction_overflows_on_large_inputs():
    def naive(x):
        e = x.exp()
        return e / e.sum(dim=-1, keepdim=True)

    from minidl.classroom.inputs import with_offsets

    report = check_function(naive, softmax_reference, with_offsets(SOFTMAX_ARGS), max_examples=10)
    assert report.hint == "overflow" and abs(report.inputs[0].detach().numpy()).max() > 700, str(report)
    assert check_function(softmax_reference, softmax_reference, with_offsets(SOFTMAX_ARGS), max_examples=10)
