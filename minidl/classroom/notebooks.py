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

``grade(submission, key)`` builds the program to run from the submission's code cells, with every
key cell that holds a hidden-test block put in the place of the submission cell with the same
cell id (``make_student`` keeps ids), so the instructor's visible and hidden tests run exactly as
written where they stand in the key. A key test cell whose id is not in the submission goes after
the submission's last cell of its task (or at the end). The program runs in a fresh Python
subprocess, task by task in one namespace: a task scores its points when all of its cells run
without an exception within ``timeout`` seconds, else 0 with the error as the message. A task
that loops forever is stopped (an alarm in the child, and the child killed and restarted with the
earlier cells replayed if that is not enough); a submission that prints a lot has its captured
output truncated; a submission that is not a readable notebook scores 0 everywhere with a clear
message. The grader itself never raises on a bad submission (only on a bad key).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
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


_RUNNER = r'''
import contextlib, io, json, os, signal, sys, time, traceback
proto = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
job = json.loads(sys.stdin.read())
limit, timeout = job["max_output"], job["timeout"]
class TaskTimeout(BaseException):
    pass
def alarm(signum, frame):
    raise TaskTimeout()
if hasattr(signal, "setitimer"):
    signal.signal(signal.SIGALRM, alarm)
class Capped(io.TextIOBase):
    def __init__(self):
        self.parts, self.size = [], 0
    def writable(self):
        return True
    def write(self, s):
        if self.size < limit:
            self.parts.append(s[: limit - self.size])
        self.size += len(s)
        return len(s)
    def text(self):
        t = "".join(self.parts)
        return t + (f"\n... [output truncated: {self.size} characters in all]" if self.size > limit else "")
ns = {"__name__": "__main__"}
for unit in job["units"]:
    out, status, message = Capped(), "passed", ""
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                for i, src in enumerate(unit["cells"]):
                    exec(compile(src, f"<cell {unit['index']}.{i}>", "exec"), ns)
            finally:
                if hasattr(signal, "setitimer"):
                    signal.setitimer(signal.ITIMER_REAL, 0)
    except TaskTimeout:
        status, message = "timeout", f"stopped after the time limit of {timeout:g} s"
    except BaseException as exc:
        status = "failed"
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:limit]
    if unit["report"]:
        proto.write(json.dumps({"index": unit["index"], "status": status, "message": message,
                                "output": out.text(), "seconds": time.perf_counter() - start}) + "\n")
        proto.flush()
'''


def _program(sub, key):
    """Units to run: [{"index", "task", "cells"}], and the key's tasks {name: points} in order."""
    key_cells = _tasks_of(key)
    tasks = {}
    for _, task, points in key_cells:
        if task is not None:
            tasks.setdefault(task, points)
    tests = {c.get("id"): (c, t) for c, t, _ in key_cells if _has_hidden(c)}
    placed, cells = set(), []
    for cell, task, _ in _tasks_of(sub):
        cid = cell.get("id")
        if cid is not None and cid in tests:
            kcell, ktask = tests[cid]
            placed.add(cid)
            cells.append((ktask, _source(kcell)))
        else:
            cells.append((task, _source(cell)))
    for cid, (kcell, ktask) in tests.items():  # test cells the submission lacks (no matching id)
        if cid in placed:
            continue
        last = max((i for i, (t, _) in enumerate(cells) if t == ktask), default=len(cells) - 1)
        cells.insert(last + 1, (ktask, _source(kcell)))
    units = []
    for task, src in cells:
        if units and units[-1]["task"] == task:
            units[-1]["cells"].append(_runnable(src))
        else:
            units.append({"index": len(units), "task": task, "cells": [_runnable(src)]})
    return units, tasks


def _run_units(units, timeout, cwd):
    """{unit index: result dict} for the units, in a fresh child; restarts after a hang or a crash."""
    results, dead = {}, set()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else root
    while len(results) < len(units):
        first = min(u["index"] for u in units if u["index"] not in results)
        job = [dict(u, report=u["index"] >= first) for u in units if u["index"] not in dead]
        payload = json.dumps({"units": job, "timeout": timeout, "max_output": MAX_OUTPUT})
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([sys.executable, "-c", _RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, cwd=cwd, env=env)
            try:
                proc.stdin.write(payload.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            pending = [u["index"] for u in job if u["report"]]
            # replayed earlier units have their own alarms: allow for them before the first report
            grace = 1 + 0.5 * timeout  # beyond the child's own alarm, before it is killed
            deadline = time.monotonic() + (timeout + grace) * (1 + sum(not u["report"] for u in job))
            buf = b""
            while pending:
                wait = deadline - time.monotonic()
                ready = select.select([proc.stdout], [], [], max(wait, 0))[0] if wait > 0 else []
                if not ready:
                    why = ("timeout", f"did not finish within the time limit of {timeout:g} s (process stopped)")
                    break
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    proc.wait()
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
                    why = ("crashed", f"the Python process running the notebook died (exit code {proc.returncode})"
                           + (": " + " ".join(tail) if tail else ""))
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    r = json.loads(line)
                    results[r["index"]] = r
                    pending.remove(r["index"])
                    deadline = time.monotonic() + timeout + grace
            else:
                why = None
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        if why:
            bad = pending[0]
            results[bad] = {"index": bad, "status": why[0], "message": why[1], "output": "", "seconds": 0.0}
            dead.add(bad)
    return results


def grade(submission, key, timeout: float = 60) -> SubmissionReport:
    """Run notebook ``submission`` with the hidden tests of the key notebook ``key`` and score each
    of the key's tasks (see the module docstring). ValueError only for an unreadable key."""
    key_nb = read_notebook(key)
    _, tasks = _program(key_nb, key_nb)
    report = SubmissionReport(str(submission), str(key))
    results = {name: TaskResult(name, points) for name, points in tasks.items()}
    report.tasks = list(results.values())
    try:
        sub_nb = read_notebook(submission)
    except (OSError, ValueError) as exc:
        report.message = f"submission scored 0: {exc}"
        for t in report.tasks:
            t.status, t.message = "malformed", str(exc)
        return report
    units, _ = _program(sub_nb, key_nb)
    ran = _run_units(units, timeout, str(Path(submission).resolve().parent))
    for unit in units:
        r, t = ran[unit["index"]], results.get(unit["task"])
        if t is None:
            continue
        t.seconds += r["seconds"]
        if t.status in ("missing", "passed"):
            t.status, t.message = r["status"], r["message"]
        t.output = (t.output + r["output"])[: MAX_OUTPUT + 100]
    for t in report.tasks:
        if t.status == "missing":
            t.message = f"no cell of task {t.task!r} in the submission"
        t.score = t.points if t.status == "passed" else 0.0
    return report
