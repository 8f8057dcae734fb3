"""Assignments 1 (softmax / log-softmax / cross-entropy backward) and 2 (conv2d via unfold):
the student version hides every solution line and fails politely, the solution scores full
marks, and seeded wrong solutions (variants of the solution source) are each caught by the
grader with a small counterexample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minidl.classroom import notebooks as nbs

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "notebooks" / "assignments"
SOFTMAX = ASSIGNMENTS / "01_softmax_backward.ipynb"
CONV = ASSIGNMENTS / "02_conv2d_unfold.ipynb"
PATHS = [SOFTMAX, CONV]
MAX_EXAMPLES = 20
SMALL = 24  # elements in a shrunk counterexample


def _cells(path):
    return {c["id"]: "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]}


def _solution_lines(path):
    lines = []
    for src in _cells(path).values():
        inside = False
        for line in src.splitlines():
            s = line.strip()
            if s.startswith((nbs.BEGIN_SOLUTION, nbs.BEGIN_HIDDEN)):
                inside = True
            elif s.startswith((nbs.END_SOLUTION, nbs.END_HIDDEN)):
                inside = False
            elif inside and not nbs._TRIVIAL.match(s):
                lines.append(s)
    return lines


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_committed_clean_and_reads_the_fast_setting(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb["cells"] if c["cell_type"] == "code")
    assert "MINIDL_FAST" in path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return {p.name: nbs.make_student(p, out) for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_student_version_hides_solutions_and_is_idempotent(path, students, tmp_path):
    student = students[path.name]
    text = student.read_text(encoding="utf-8")
    secret = _solution_lines(path)
    assert len(secret) >= 4
    leaked = [s for s in secret if s in text]
    assert not leaked, leaked
    assert "raise NotImplementedError" in text and "### BEGIN" not in text
    again = nbs.make_student(student, tmp_path)
    assert again.read_text(encoding="utf-8") == text
    with pytest.raises(FileExistsError):
        nbs.make_student(path, student.parent)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_student_version_scores_zero_without_crashing(path, students):
    report = nbs.grade(students[path.name], path, timeout=60)
    assert report.max_score > 0 and report.score == 0, report.table()
    assert all(t.status != "passed" for t in report.tasks), report.table()


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_solution_scores_full_marks(path):
    report = nbs.grade(path, path, timeout=60)
    assert report.score == report.max_score > 0, report.table()


# ---- mutation check: wrong solutions written as edits of the solution source --------------------
def _load(path, cell_ids, edits):
    """Namespace after running the setup and the given cells, with each (old, new) edit applied
    (each old text must occur: the mutation really changes the solution)."""
    cells = _cells(path)
    ns = {}
    exec(compile(cells["setup"], f"{path.name}:setup", "exec"), ns)  # noqa: S102
    for cid in cell_ids:
        src = cells[cid]
        for old, new in edits:
            if old in src:
                src = src.replace(old, new)
                edits = [e for e in edits if e[0] != old]
        exec(compile(src, f"{path.name}:{cid}", "exec"), ns)  # noqa: S102
    assert not edits, f"edits that match no solution line: {edits}"
    return ns


def _softmax_grade(edit):
    from hypothesis import strategies as st

    import minidl.functional as F
    from minidl.classroom import check_op
    from minidl.testing import shapes, tensors

    ns = _load(SOFTMAX, ["softmax-task", "logsoftmax-task", "ce-task"], [edit])
    rows = st.tuples(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4)))
    results = [
        check_op(ns["Softmax"], lambda x: F.softmax(x, dim=-1), rows, max_examples=MAX_EXAMPLES),
        check_op(ns["LogSoftmax"], lambda x: F.log_softmax(x, dim=-1), rows, max_examples=MAX_EXAMPLES),
    ]
    import numpy as np

    import minidl

    @st.composite
    def logits_and_targets(draw):
        N, C = draw(st.integers(1, 3)), draw(st.integers(2, 4))
        x = draw(tensors(shape=(N, C)))
        t = minidl.Tensor(np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)), dtype=np.int64))
        return x, t

    results.append(check_op(ns["CrossEntropy"], lambda x, t: F.cross_entropy(x, t), logits_and_targets(),
                            max_examples=MAX_EXAMPLES))
    return results


def _conv_grade(edit):
    from hypothesis import strategies as st

    import minidl.functional as F
    from minidl.classroom import check_function
    from minidl.testing import conv_configs, tensors

    ns = _load(CONV, ["size-task", "conv-task"], [edit])

    @st.composite
    def conv_inputs(draw):
        cfg = draw(conv_configs(max_batch=2, max_channels=2, max_size=4, max_kernel=2, groups=False))
        N, C, OC = cfg["N"], cfg["C_in"], cfg["C_out"]
        KH, KW = cfg["kernel"]
        H, W = (max(n, k) for n, k in zip(cfg["size"], cfg["kernel"]))
        x, w, b = (draw(tensors(shape=s)) for s in ((N, C, H, W), (OC, C, KH, KW), (OC,)))
        return x, w, b, cfg["stride"][0], min(cfg["padding"][0], KH - 1, KW - 1)

    return [check_function(ns["conv2d"], lambda x, w, b, s, p: F.conv2d(x, w, b, stride=s, padding=p),
                           conv_inputs(), max_examples=MAX_EXAMPLES)]


SOFTMAX_MUTATIONS = {
    "softmax_sign": ("return y * (dy - dot)", "return -y * (dy - dot)"),
    "softmax_zeros": ("return y * (dy - dot)", "return dy * 0"),
    "softmax_missing_row_sum": ("(dy * y).sum(dim=-1, keepdim=True)", "(dy * y)"),
    "softmax_sum_over_all_axes": ("(dy * y).sum(dim=-1, keepdim=True)", "(dy * y).sum()"),
    "log_softmax_no_exp": ("y.exp() * total", "y * total"),
    "log_softmax_missing_row_sum": ("dy.sum(dim=-1, keepdim=True)", "dy"),
    "cross_entropy_no_mean": ("(p - onehot) / N", "(p - onehot)"),
    "cross_entropy_sign": ("(p - onehot) / N", "(onehot - p) / N"),
    "cross_entropy_ignores_dy": ("return dy * minidl.Tensor(", "return minidl.Tensor("),
}
CONV_MUTATIONS = {
    "sign": ("    return y\n", "    return -y\n"),
    "transposed_weight": ("weight.reshape(OC, C * KH * KW)", "weight.transpose(2, 3).reshape(OC, C * KH * KW)"),
    "off_by_one_padding": ("padding=padding, stride=stride", "padding=padding + 1, stride=stride"),
    "output_size_off_by_one": ("// stride + 1", "// stride + 2"),
    "stride_ignored": ("padding=padding, stride=stride", "padding=padding, stride=1"),
    "bias_wrong_axis": ("bias.reshape(1, OC, 1, 1)", "bias.reshape(1, 1, 1, OC)"),
    "bias_detached": ("bias.reshape(1, OC, 1, 1)", "bias.detach().reshape(1, OC, 1, 1)"),
}
CASES = [("softmax", k) for k in SOFTMAX_MUTATIONS] + [("conv", k) for k in CONV_MUTATIONS]


@pytest.mark.parametrize("assignment", ["softmax", "conv"])
def test_unmutated_solution_passes_the_grader(assignment):
    reports = _softmax_grade(("", "")) if assignment == "softmax" else _conv_grade(("", ""))
    assert all(reports), "\n".join(map(str, reports))


@pytest.mark.parametrize("assignment,mutation", CASES, ids=[f"{a}-{m}" for a, m in CASES])
def test_wrong_solution_is_caught_with_a_small_counterexample(assignment, mutation):
    if assignment == "softmax":
        reports = _softmax_grade(SOFTMAX_MUTATIONS[mutation])
    else:
        reports = _conv_grade(CONV_MUTATIONS[mutation])
    failed = [r for r in reports if not r]
    assert failed, f"{mutation} was not caught"
    for report in failed:
        text = str(report)
        assert report.input_elements <= SMALL, text
        assert "Smallest failing input" in text and "Hint (" in text
