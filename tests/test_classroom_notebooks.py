"""Assignment notebooks: student versions (no solution lines, idempotent, refusals) and grading."""

import json
import subprocess
import sys

import pytest

from minidl.__main__ import main
from minidl.classroom.notebooks import AssignmentError, grade, make_student, read_notebook

SETUP = "import math\n"
SOLUTION_1 = """### TASK scale points=2
def scale(xs, k):
    out = []
    for x in xs:
        ### BEGIN SOLUTION
        out.append(x * k)
        ### END SOLUTION
    return out"""
TESTS_1 = """### TASK scale
assert scale([1, 2], 3) == [3, 6]
### BEGIN HIDDEN TESTS
assert scale([], 5) == []
assert scale([-1.5], 2) == [-3.0]
### END HIDDEN TESTS"""
SOLUTION_2 = """### TASK norm
def norm(xs):
    ### BEGIN SOLUTION
    total = sum(x * x for x in xs)
    return math.sqrt(total)
    ### END SOLUTION"""
TESTS_2 = """### TASK norm
### BEGIN HIDDEN TESTS
assert norm([3, 4]) == 5.0
### END HIDDEN TESTS"""
SECRET = ["out.append(x * k)", "total = sum(x * x for x in xs)", "return math.sqrt(total)",
          "assert scale([], 5) == []", "assert norm([3, 4]) == 5.0"]


def notebook(*cells):
    out = []
    for i, src in enumerate(cells):
        kind = "markdown" if src.startswith("MD:") else "code"
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": src.removeprefix("MD:")}
        if kind == "code":
            cell.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "old\n"}], execution_count=i)
        out.append(cell)
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write(path, nb):
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def assignment(tmp_path):
    nb = notebook("MD:# Scaling", SETUP, SOLUTION_1, TESTS_1, SOLUTION_2, TESTS_2)
    return write(tmp_path / "hw.ipynb", nb)


def sub_with(tmp_path, assignment, name, replace):
    """A submission: the student version with cell sources replaced ({cell id: source})."""
    student = make_student(assignment, tmp_path / name)
    nb = read_notebook(student)
    for cell in nb["cells"]:
        if cell["id"] in replace:
            cell["source"] = replace[cell["id"]]
    return write(student, nb)


def test_student_version_has_no_solution_and_is_idempotent(tmp_path, assignment):
    out = make_student(assignment, tmp_path / "student")
    text = out.read_text()
    for line in SECRET:
        assert line not in text
    nb = read_notebook(out)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    src = "".join(code[1]["source"])
    assert "        # YOUR CODE HERE\n        raise NotImplementedError\n    return out" in src
    assert "assert scale([1, 2], 3) == [3, 6]" in "".join(code[2]["source"])
    again = make_student(out, tmp_path / "again")
    assert again.read_bytes() == out.read_bytes()
    third = make_student(assignment, tmp_path / "third")
    assert third.read_bytes() == out.read_bytes()  # deterministic


def test_refuses_to_overwrite(tmp_path, assignment):
    out = make_student(assignment, tmp_path / "s")
    out.write_text("mine")
    with pytest.raises(FileExistsError, match="force"):
        make_student(assignment, tmp_path / "s")
    assert out.read_text() == "mine"
    make_student(assignment, tmp_path / "s", force=True)
    assert out.read_text() != "mine"


@pytest.mark.parametrize("cells, match", [
    ((SOLUTION_1, "MD:Hint: write `out.append(x * k)`"), "leak"),
    (("x = 1\n### BEGIN SOLUTION\ny = 2\n",), "never closed"),
    (("### END SOLUTION\n",), "without its BEGIN"),
    (("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",), "nested"),
])
def test_bad_assignments_write_nothing(tmp_path, cells, match):
    src = write(tmp_path / "bad.ipynb", notebook(*cells))
    with pytest.raises(AssignmentError, match=match):
        make_student(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_solution_scores_full_marks(tmp_path, assignment):
    report = grade(assignment, assignment, timeout=10)
    assert [(t.task, t.score, t.points, t.status) for t in report.tasks] == [
        ("scale", 2, 2, "passed"), ("norm", 1, 1, "passed")]
    assert report.score == report.max_score == 3
    assert "total" in report.table()


def test_student_version_fails_politely(tmp_path, assignment):
    report = grade(make_student(assignment, tmp_path / "s"), assignment, timeout=10)
    assert report.score == 0
    assert all("NotImplementedError" in t.message for t in report.tasks)


def test_hidden_tests_are_run(tmp_path, assignment):
    # passes the visible test, fails the hidden one
    sub = sub_with(tmp_path, assignment, "s", {"c2": "### TASK scale\ndef scale(xs, k):\n"
                                                     "    return [3, 6] if xs else None\n",
                                               "c4": SOLUTION_2})
    report = grade(sub, assignment, timeout=10)
    assert [t.score for t in report.tasks] == [0, 1]
    assert "AssertionError" in report.tasks[0].message


@pytest.mark.parametrize("body, status, message", [
    ("    raise RuntimeError('boom')\n", "failed", "RuntimeError: boom"),
    ("    while True:\n        pass\n", "timeout", "time limit"),
    ("    import signal\n    signal.setitimer(signal.ITIMER_REAL, 0)\n    while True:\n        pass\n",
     "timeout", "process stopped"),
    ("    import os\n    os._exit(3)\n", "crashed", "exit code 3"),
])
def test_broken_task_scores_zero_and_others_go_on(tmp_path, assignment, body, status, message):
    sub = sub_with(tmp_path, assignment, "s", {"c2": "### TASK scale\ndef scale(xs, k):\n" + body + "scale([], 1)\n",
                                               "c4": SOLUTION_2})
    report = grade(sub, assignment, timeout=1)
    scale, norm = report.tasks
    assert (scale.score, scale.status) == (0, status) and message in scale.message
    assert (norm.score, norm.status) == (1, "passed")


def test_loud_submission_is_truncated(tmp_path, assignment):
    sub = sub_with(tmp_path, assignment, "s", {"c2": SOLUTION_1.replace("return out", "print('x' * 10**6)\n"
                                                                        "    return out").replace(
        "### BEGIN SOLUTION\n", "").replace("        ### END SOLUTION\n", "")})
    report = grade(sub, assignment, timeout=10)
    assert report.tasks[0].score == 2
    assert len(report.tasks[0].output) < 3000 and "truncated" in report.tasks[0].output


def test_malformed_submission(tmp_path, assignment):
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [')
    report = grade(bad, assignment)
    assert report.score == 0 and all(t.status == "malformed" for t in report.tasks)
    assert "invalid JSON" in report.message
    write(bad, {"cells": "nope"})
    assert grade(bad, assignment).score == 0


def test_cli(tmp_path, assignment, capsys):
    assert main(["classroom", "student", str(assignment), "--out", str(tmp_path / "s")]) == 0
    with pytest.raises(SystemExit) as err:
        main(["classroom", "student", str(assignment), "--out", str(tmp_path / "s")])
    assert err.value.code == 2 and "--force" in capsys.readouterr().err
    assert main(["classroom", "student", str(assignment), "--out", str(tmp_path / "s"), "--force"]) == 0
    cmd = [sys.executable, "-m", "minidl", "classroom", "grade", str(assignment), "--key", str(assignment),
           "--timeout", "5", "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "grades")]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "hash" in refused.stderr  # no recorded hash: nothing graded
    assert main(["classroom", "hash", str(assignment)]) == 0
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "scale" in result.stdout and "3/3" in result.stdout
    scores = json.loads((tmp_path / "r.json").read_text())
    assert scores["score"] == 3 and [t["task"] for t in scores["tasks"]] == ["scale", "norm"]
