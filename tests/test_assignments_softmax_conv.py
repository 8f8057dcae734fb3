"""Assignments 1 (softmax / log-softmax / cross-entropy backward) and 2 (conv2d via unfold):
the student version hides every solution line and fails politely, and the solution scores full
marks (wrong solutions: the mutation suite, tests/test_classroom_mutations.py)."""

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
