"""Assignment notebooks: one source, two versions, and grading.

An assignment notebook (nbformat 4 JSON) holds the instructor's solutions and hidden tests in
its code cells, between the markers nbgrader made familiar::

    ### TASK softmax_backward points=2
    def softmax_backward(y, dy):
        ### BEGIN SOLUTION
        return y * (dy - (dy * y).sum(-1, keepdims=True))
        ### END SOLUTION

    ### TASK softmax_backward
    assert softmax_backward(y, dy).shape == (2, 3)
    ### BEGIN HIDDEN TESTS
    assert abs(softmax_backward(y, dy)).max() < 1
    ### END HIDDEN TESTS

``make_student`` writes the student version: each solution block becomes ``# YOUR CODE HERE`` and
``raise NotImplementedError`` at the block's indentation, hidden-test blocks disappear, outputs
and execution counts are cleared, and the JSON is written with sorted keys and a fixed layout, so
the same source always gives the same bytes (and the student version of a student version is
itself). It refuses to overwrite a file without ``force`` and writes nothing when the markers are
unbalanced or nested, or when a solution or hidden-test line would still be visible anywhere in
the student version's cells, code or markdown (a *non-trivial* line, stripped: not blank, not a
comment, not ``pass``/``return x``/``else:``/brackets alone; see ``_TRIVIAL``).

Tasks. A code cell with a ``### TASK name`` line (optionally ``points=N``, default 1) starts a
task; it and the code cells after it belong to that task until the next ``### TASK`` line. Cells
before the first task are setup: they run but are not scored.

``grade(submission, key)`` scores the key's tasks for a submission: the submission's own cells run
in a sandboxed child process and the key's test cells (visible and hidden) run in the grader,
calling the submission's functions through proxies (see ``minidl.classroom.grading`` and the
threat model in docs/classroom.md). A task scores its points when its cells ran in the child and
its tests passed in the grader, else 0 with the error as the message; a submission that is not a
readable notebook scores 0 everywhere with a clear message. The grader itself never raises on a
bad submission (only on a bad key).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._files import FileFormatError, read_text, write_text

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError")
TASK_RE = re.compile(r"^\s*###\s*TASK\s+(?P<name>[A-Za-z0-9_.\-]+)(?:\s+points\s*=\s*(?P<points>\d+(?:\.\d+)?))?\s*$")
_TRIVIAL = re.compile(
    r"^(|#.*|pass|break|continue|else:|try:|finally:|return|return\s+\w+"
    r"|raise NotImplementedError(\(\))?|[()\[\]{},:;\s]*)$"
)
MAX_OUTPUT = 2000  # characters of a task's captured output kept in the report


class AssignmentError(ValueError):
    """An assignment notebook that cannot be turned into a student version (markers, leaks)."""


# ---- reading and writing notebooks ----------------------------------------------------------------
def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _set_source(cell, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def read_notebook(path) -> dict:
    """The notebook at ``path`` as a dict; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        nb = json.loads(read_text(path))  # size-limited (MINIDL_MAX_LOAD_BYTES)
    except FileFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not a readable notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or \
            not all(isinstance(c, dict) and "cell_type" in c for c in nb["cells"]):
        raise ValueError(f"{path}: not a notebook (expected a JSON object with a list of cells)")
    return nb


def dumps_notebook(nb: dict) -> str:
    """Deterministic text of a notebook: sorted keys, one-space indent, trailing newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ---- the student version ----------------------------------------------------------------------------
def _blocks(text: str, where: str):
    """Split ``text`` into lines tagged None, "solution" or "hidden"; markers tagged "marker".
    Raise AssignmentError on unbalanced or nested markers."""
    out, state, start = [], None, None
    for n, line in enumerate(text.splitlines(keepends=True), start=1):
        s = line.strip()
        opener = "solution" if s.startswith(BEGIN_SOLUTION) else "hidden" if s.startswith(BEGIN_HIDDEN) else None
        closer = "solution" if s.startswith(END_SOLUTION) else "hidden" if s.startswith(END_HIDDEN) else None
        if opener:
            if state:
                raise AssignmentError(f"{where}, line {n}: {s!r} inside the {state} block opened at line {start} "
                                      "(blocks cannot be nested)")
            state, start = opener, n
            out.append(("begin", opener, line))
        elif closer:
            if state != closer:
                opened = f"the {state} block opened at line {start} is still open" if state else "no block is open"
                raise AssignmentError(f"{where}, line {n}: {s!r} without its BEGIN marker ({opened})")
            state = None
            out.append(("end", closer, line))
        else:
            out.append((state, None, line))
    if state:
        raise AssignmentError(f"{where}, line {start}: the {state} block is never closed")
    return out


def _student_source(text: str, where: str):
    """(student text, secret lines) of one code cell's source."""
    kept, secret = [], []
    for state, kind, line in _blocks(text, where):
        if state == "begin":
            if kind == "solution":
                indent = line[: len(line) - len(line.lstrip())]
                kept += [indent + STUB[0] + "\n", indent + STUB[1] + "\n"]
        elif state in ("solution", "hidden"):
            secret.append(line.strip())
        elif state != "end":
            kept.append(line)
    result = "".join(kept)
    if result.endswith("\n") and not text.endswith("\n"):
        result = result[:-1]
    return result, secret


def student_notebook(nb: dict, name: str = "notebook") -> dict:
    """The student version of notebook ``nb`` (a new dict); AssignmentError on bad markers or leaks."""
    nb = json.loads(json.dumps(nb))
    secrets = []
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            text, secret = _student_source(_source(cell), f"{name}: cell {i}")
            secrets += [(i, s) for s in secret if not _TRIVIAL.match(s)]
            _set_source(cell, text)
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
        else:
            _set_source(cell, _source(cell))
    texts = [_source(cell) for cell in nb["cells"]]
    leaks = [(i, s, j) for i, s in secrets for j in [next((j for j, t in enumerate(texts) if s in t), None)]
             if j is not None]
    if leaks:
        shown = "; ".join(f"{s!r} (from cell {i}, visible in cell {j})" for i, s, j in leaks[:5])
        raise AssignmentError(f"{name}: {len(leaks)} solution or hidden-test line(s) would leak into the student "
                              f"version: {shown}. Remove them from the visible cells or change them.")
    return nb


def make_student(src_path, out_dir, force: bool = False) -> Path:
    """Write the student version of the assignment notebook ``src_path`` into ``out_dir`` (same
    file name) and return its path. FileExistsError when the file exists and ``force`` is false;
    AssignmentError (nothing written) on unbalanced or nested markers or a leaking line."""
    src_path, out_dir = Path(src_path), Path(out_dir)
    target = out_dir / src_path.name
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass force=True (--force) to overwrite it")
    text = dumps_notebook(student_notebook(read_notebook(src_path), src_path.name))
    write_text(target, text)  # atomic: temporary file, fsync, rename
    return target


# ---- grading --------------------------------------------------------------------------------------------
@dataclass
class TaskResult:
    task: str
    points: float
    score: float = 0.0
    status: str = "missing"  # passed, failed, timeout, crashed, missing, malformed
    message: str = ""
    output: str = ""
    seconds: float = 0.0


@dataclass
class SubmissionReport:
    """The grade of one submitted notebook: one result per task, their total and a message
    (the property-based check of one function is ``minidl.classroom.GradeReport``)."""

    submission: str
    key: str
    tasks: list = field(default_factory=list)
    message: str = ""

    @property
    def score(self):
        return sum(t.score for t in self.tasks)

    @property
    def max_score(self):
        return sum(t.points for t in self.tasks)

    def to_dict(self):
        return {"submission": self.submission, "key": self.key, "score": self.score, "max_score": self.max_score,
                "message": self.message, "tasks": [asdict(t) for t in self.tasks]}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def table(self):
        """Per-task score table as plain text."""
        w = max([4] + [len(t.task) for t in self.tasks])
        lines = [f"{'task':<{w}}  {'score':>9}  status    message", "-" * (w + 40)]
        for t in self.tasks:
            msg = t.message.splitlines()[-1] if t.message else ""
            lines.append(f"{t.task:<{w}}  {_num(t.score):>4}/{_num(t.points):<4}  {t.status:<8}  {msg[:100]}")
        lines.append("-" * (w + 40))
        lines.append(f"{'total':<{w}}  {_num(self.score):>4}/{_num(self.max_score):<4}")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines) + "\n"


def _num(x):
    return f"{x:g}"


def _tasks_of(nb):
    """[(cell, task name or None, points)] for the code cells of ``nb``."""
    out, task, points = [], None, 1.0
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for line in _source(cell).splitlines():
            m = TASK_RE.match(line)
            if m:
                task, points = m["name"], float(m["points"] or 1)
                break
        out.append((cell, task, points))
    return out


def _has_hidden(cell):
    return any(line.strip().startswith(BEGIN_HIDDEN) for line in _source(cell).splitlines())


def _runnable(text):
    """Cell source as Python: IPython magics and shell lines (``%``, ``!``) are commented out."""
    return "\n".join(re.sub(r"^(\s*)([%!])", r"\1# \2", line) for line in text.splitlines())


def grade(submission, key, timeout: float = 60, limits=None, key_sha256=None) -> SubmissionReport:
    """Score each of the key's tasks for notebook ``submission``: the submission's code runs
    sandboxed, the key's tests run in the grader (``minidl.classroom.grading``; the threat model is
    in docs/classroom.md). ``timeout``: seconds per task and per call of a student function (unless
    ``limits``, a ``minidl.classroom.sandbox.Limits``, says otherwise). ``key_sha256``: the key's
    recorded hash, checked before anything runs. ValueError only for an unreadable or altered key."""
    from . import grading, sandbox

    limits = limits or sandbox.Limits(check_seconds=timeout)
    return grading.grade_sandboxed(submission, key, limits=limits, key_sha256=key_sha256)
