"""The engine-building track, assignments 5-8 (a scalar autograd Value, broadcasting in the
backward, conv2d's backward from unfold, causal attention's backward): each student version hides
every solution line, is its own student version, and scores zero without crashing the grader;
each key scores full marks (wrong answers: the mutation suite, tests/test_classroom_mutations.py)."""

import json
from pathlib import Path

import pytest

from minidl.classroom.notebooks import (
    _TRIVIAL,
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    grade,
    make_student,
)

ASSIGNMENTS = Path(__file__).resolve().parents[1] / "notebooks" / "assignments"
TASKS = {
    "05_value_autograd.ipynb": {"value": 5},
    "06_broadcasting_backward.ipynb": {"unbroadcast": 2, "mul_div_backward": 3},
    "07_conv2d_backward.ipynb": {"conv2d_weight_grads": 2, "conv2d_input_grad": 2},
    "08_attention_backward.ipynb": {"causal_softmax": 2, "attention_backward": 4},
}


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("MINIDL_FAST", "1")


def _secret_lines(path):
    lines = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            s = line.strip()
            if s.startswith((BEGIN_SOLUTION, BEGIN_HIDDEN)):
                inside = True
            elif s.startswith((END_SOLUTION, END_HIDDEN)):
                inside = False
            elif inside and not _TRIVIAL.match(s):
                lines.append(s)
    return lines


@pytest.mark.parametrize("name", sorted(TASKS))
def test_student_version_hides_the_solution_and_scores_zero(name, tmp_path):
    key = ASSIGNMENTS / name
    nb = json.loads(key.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb["cells"]
               if c["cell_type"] == "code")
    assert "MINIDL_FAST" in key.read_text(encoding="utf-8")
    student = make_student(key, tmp_path / "a")
    text = student.read_text(encoding="utf-8")
    secret = _secret_lines(key)
    assert len(secret) >= 4 and not [s for s in secret if s in text]
    assert make_student(student, tmp_path / "b").read_text(encoding="utf-8") == text
    report = grade(student, key, timeout=60)
    assert {t.task: t.points for t in report.tasks} == TASKS[name]
    assert report.score == 0 and all(t.status == "failed" for t in report.tasks), report.table()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_key_scores_full_marks(name):
    key = ASSIGNMENTS / name
    report = grade(key, key, timeout=60)
    assert report.score == report.max_score == sum(TASKS[name].values()), report.table()
    assert "Visible check" in "".join(t.output for t in report.tasks)  # each check says what it checks
