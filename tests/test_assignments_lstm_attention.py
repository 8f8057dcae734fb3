"""Assignments 3 (LSTM cell forward and backward) and 4 (causal attention): the student
versions hide every solution line and fail politely, and the solutions score full marks (wrong
solutions: the mutation suite, tests/test_classroom_mutations.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minidl.classroom.notebooks import _TRIVIAL, BEGIN_SOLUTION, END_SOLUTION, grade, make_student

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "notebooks" / "assignments"
NOTEBOOKS = ["03_lstm_cell.ipynb", "04_causal_attention.ipynb"]
TASKS = {"03_lstm_cell.ipynb": {"lstm_cell_forward": 2, "lstm_cell_backward": 3},
         "04_causal_attention.ipynb": {"causal_mask": 1, "causal_attention": 3}}


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
