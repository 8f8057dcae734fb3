"""Assignments 3 (LSTM cell forward and backward) and 4 (causal attention): the student
versions hide every solution line and fail politely, the solutions score full marks, and seeded
wrong solutions are each caught by the grader with a small counterexample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.autograd import Function
from minidl.classroom import check_function, check_op
from minidl.classroom.notebooks import _TRIVIAL, BEGIN_SOLUTION, END_SOLUTION, grade, make_student
from minidl.testing import attention_shapes, tensors

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "notebooks" / "assignments"
NOTEBOOKS = ["03_lstm_cell.ipynb", "04_causal_attention.ipynb"]
TASKS = {"03_lstm_cell.ipynb": {"lstm_cell_forward": 2, "lstm_cell_backward": 3},
         "04_causal_attention.ipynb": {"causal_mask": 1, "causal_attention": 3}}
MAX_EXAMPLES = 15
MAX_ELEMENTS = 24  # a shrunk counterexample (the smallest LSTM input has 19 elements, B = 2 gives 22)


def _cells(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def _solution_lines(path):
    lines = []
    for cell in _cells(path):
        inside = False
        for line in "".join(cell["source"]).splitlines():
            s = line.strip()
            if s.startswith(BEGIN_SOLUTION) or s.startswith("### BEGIN HIDDEN TESTS"):
                inside = True
            elif s.startswith(END_SOLUTION) or s.startswith("### END HIDDEN TESTS"):
                inside = False
            elif inside and not _TRIVIAL.match(s):
                lines.append(s)
    return lines


# ---- the notebooks -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_is_committed_clean_and_reads_the_fast_setting(name):
    path = ASSIGNMENTS / name
    assert "MINIDL_FAST" in path.read_text(encoding="utf-8")
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None
    assert len(_solution_lines(path)) >= 3


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_version_hides_solutions_is_idempotent_and_fails_politely(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_FAST", "1")
    src = ASSIGNMENTS / name
    student = make_student(src, tmp_path / "a")
    text = student.read_text(encoding="utf-8")
    code = "\n".join("".join(c["source"]) for c in _cells(student))
    for line in _solution_lines(src):
        assert line not in code, f"solution line visible in the student version: {line!r}"
    assert "raise NotImplementedError" in text and "BEGIN SOLUTION" not in text and "HIDDEN" not in text
    again = make_student(student, tmp_path / "b")
    assert again.read_text(encoding="utf-8") == text  # the student version of a student version is itself
    assert make_student(src, tmp_path / "c").read_text(encoding="utf-8") == text  # deterministic

    report = grade(student, src, timeout=60)
    scores = {t.task: (t.score, t.points, t.status) for t in report.tasks}
    assert {k: v[1] for k, v in scores.items()} == TASKS[name]
    assert all(score == 0 and status == "failed" for score, _, status in scores.values()), scores
    messages = " ".join(t.message for t in report.tasks)
    assert "NotImplementedError" in messages, messages


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_scores_full_marks(name, monkeypatch):
    monkeypatch.setenv("MINIDL_FAST", "1")
    src = ASSIGNMENTS / name
    report = grade(src, src, timeout=60)
    assert report.score == report.max_score == sum(TASKS[name].values()), report.table()


# ---- LSTM cell: seeded wrong solutions -----------------------------------------------------------
@st.composite
def lstm_inputs(draw):
    H, B, I = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))  # H first: shrinks to H = 1
    shapes = [(B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    return tuple(draw(tensors(shape=s, low=-2, high=2)) for s in shapes)


def lstm_reference(x, h, c, w_ih, w_hh, b_ih, b_hh):
    return F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)


def lstm_packed_reference(x, h, c, w_ih, w_hh, b_ih, b_hh):
    return F.stack(list(F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)), dim=0)


def make_lstm_forward(mutation=None):
    def student_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        H, I = h.shape[1], x.shape[1]
        w = w_ih.reshape(I, 4 * H) if mutation == "reshaped_weight" else w_ih.T  # (I, 4H)
        a = x @ w + b_ih + h @ w_hh.T + (0 if mutation == "no_b_hh" else b_hh)  # (B, 4H)
        order = (1, 0, 2, 3) if mutation == "gate_order" else (0, 1, 2, 3)  # f and i swapped
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in order)
        i, f, g, o = F.sigmoid(i), F.sigmoid(f), F.tanh(g), F.sigmoid(o)
        c_new = (c if mutation == "no_forget" else f * c) + i * g
        h_new = o * (c_new if mutation == "no_tanh" else F.tanh(c_new))
        return (-h_new if mutation == "sign" else h_new), c_new

    return student_cell


def make_lstm_function(mutation=None):
    class StudentLSTMCell(Function):
        def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
            xp, H = ctx.xp, h.shape[1]
            a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, 4H)
            i, f, o = (1 / (1 + xp.exp(-a[:, k * H : (k + 1) * H])) for k in (0, 1, 3))
            g = xp.tanh(a[:, 2 * H : 3 * H])
            c_new = f * c + i * g
            t = xp.tanh(c_new)
            ctx.save_for_backward(x, h, c, w_ih, w_hh, i, f, g, o, t)
            return xp.stack([o * t, c_new])  # (2, B, H)

        def backward(ctx, dy):
            x, h, c, w_ih, w_hh, i, f, g, o, t = ctx.saved_tensors
            dh_new, dc_new = dy[0], dy[1]
            dc = dc_new if mutation == "no_h_path" else dc_new + dh_new * o * (1 - t * t)
            do = dh_new * t
            parts = [dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g), do * o * (1 - o)]
            if mutation == "gate_order":
                parts[0], parts[1] = parts[1], parts[0]
            da = F.cat(parts, dim=1)  # (B, 4H)
            db = da.sum(dim=0)
            dx = da @ w_ih
            dw_ih = (da.T @ x) * (1.0 if mutation != "sign" else -1.0)
            dc_prev = dc if mutation == "no_forget" else dc * f
            db_hh = None if mutation == "no_b_hh" else db
            return dx, da @ w_hh, dc_prev, dw_ih, da.T @ h, db, db_hh

    return StudentLSTMCell


# On the shrunk inputs (zeros, equal gates σ(0) = ½) swapped i/f gates, a missing forget gate or
# tanh look like a constant factor and a reshaped weight or a missing b_hh like zeros; the grader
# checks such hints on generic inputs, where none of these is a factor or zeros: "other".
LSTM_FORWARD_MUTATIONS = [("sign", "sign"), ("reshaped_weight", "other"), ("gate_order", "other"),
                          ("no_forget", "other"), ("no_tanh", "other"), ("no_b_hh", "other")]
LSTM_BACKWARD_MUTATIONS = [("sign", "sign"), ("gate_order", "other"), ("no_forget", "other"),
                           ("no_h_path", "other"), ("no_b_hh", "zeros")]


# ---- causal attention: seeded wrong solutions ----------------------------------------------------
@st.composite
def attention_inputs(draw):
    cfg = draw(attention_shapes(max_batch=2, max_heads=2, max_len=4, max_dim=3))
    B, H, L, E, Ev = cfg["B"], cfg["H"], cfg["L"], cfg["E"], cfg["Ev"]
    return tuple(draw(tensors(shape=s, low=-2, high=2)) for s in ((B, H, L, E), (B, H, L, E), (B, H, L, Ev)))


def attention_reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def causal_rows(q, k, v):
    L = q.shape[-2]
    return (np.arange(L) < L - 1)[:, None]


def make_attention(mutation=None):
    def student_attention(q, k, v):
        L, d_k = q.shape[-2], q.shape[-1]
        first = {"diagonal_excluded": 0, "future_leak": 2}.get(mutation, 1)
        m = np.triu(np.full((L, L), -np.inf), k=first)  # -inf from diagonal `first` up
        if mutation == "anti_causal":
            m = m.T
        scale = {"no_scale": 1.0, "d_k": 1.0 / d_k}.get(mutation, 1.0 / math.sqrt(d_k))
        s = q @ k.mT * scale  # (..., L, L)
        if mutation in ("mask_after", "no_mask"):
            p = F.softmax(s, dim=-1)
            if mutation == "mask_after":
                p = p * minidl.tensor(np.isfinite(m).astype(np.float64))
        else:
            p = F.softmax(s + minidl.tensor(m), dim=-2 if mutation == "query_axis" else -1)
        out = p @ v  # (..., L, d_v)
        return -out if mutation == "sign" else out

    return student_attention


# A forgotten 1/√d_k changes the softmax temperature: the output is off by no constant factor,
# and on L = 2 it is wrong only in the last row, which looks like a mask error; the un-shrunk
# inputs show it in masked and unmasked rows alike, so it must not be called "mask".
ATTENTION_MUTATIONS = [("no_scale", {"scale", "other"}), ("mask_after", "mask"),
                       ("diagonal_excluded", {"other", "exception"}),
                       ("future_leak", "mask"), ("no_mask", "mask"), ("anti_causal", "other"),
                       ("d_k", {"scale", "other"}), ("query_axis", "other"), ("sign", "sign")]


def run_check(kind, mutation):
    if kind == "lstm_forward":
        return check_function(make_lstm_forward(mutation), lstm_reference, lstm_inputs(), max_examples=MAX_EXAMPLES)
    if kind == "lstm_backward":
        return check_op(make_lstm_function(mutation), lstm_packed_reference, lstm_inputs(),
                        max_examples=MAX_EXAMPLES)
    return check_function(make_attention(mutation), attention_reference, attention_inputs(), mask=causal_rows,
                          max_examples=MAX_EXAMPLES)


CASES = ([("lstm_forward", m, h) for m, h in LSTM_FORWARD_MUTATIONS]
         + [("lstm_backward", m, h) for m, h in LSTM_BACKWARD_MUTATIONS]
         + [("attention", m, h) for m, h in ATTENTION_MUTATIONS])


@pytest.mark.parametrize("kind", ["lstm_forward", "lstm_backward", "attention"])
def test_correct_reference_solutions_pass(kind):
    report = run_check(kind, None)
    assert report.passed, str(report)


@pytest.mark.parametrize("kind,mutation,hint", CASES, ids=[f"{k}-{m}" for k, m, _ in CASES])
def test_wrong_solution_is_caught_with_a_small_counterexample(kind, mutation, hint):
    report = run_check(kind, mutation)
    text = str(report)
    assert not report.passed, f"{kind}/{mutation} was not caught"
    assert report.input_elements <= MAX_ELEMENTS, text
    assert "Smallest failing input" in text
    assert report.hint in (hint if isinstance(hint, set) else {hint}), text
