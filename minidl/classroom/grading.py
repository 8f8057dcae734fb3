"""Grading a notebook with the student's code sandboxed and the key's tests in the grader.

The key's cells fall in three kinds: *setup* (before the first ``### TASK``), *solution* cells (a
``### BEGIN SOLUTION`` block: the student writes these) and *test* cells (every other cell of a
task, visible and hidden tests alike). For each task of the key, in order:

1. a fresh sandboxed child (``minidl.classroom.sandbox``) runs the submission's cells, except the
   ones standing for the key's test cells (same cell id), up to and including the task (earlier
   tasks' cells that crashed or hung in their own child are left out);
2. the grader runs the key's setup cells (once) and the task's test cells in its own namespace,
   where each function or ``Function`` class the submission defined appears as a proxy (names the
   key defines, builtins and names starting with ``_`` are never taken from the submission);
3. the task scores its points when the child ran its cells without an exception and every test
   cell ran in the grader without one. The child is killed with everything it started.

The hidden tests, the reference, the key and its path never reach the child.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import time
import traceback

from .._files import read_bytes
from . import sandbox
from .asserts import explain_assertion
from .notebooks import (
    BEGIN_SOLUTION,
    MAX_OUTPUT,
    SubmissionReport,
    TaskResult,
    _runnable,
    _source,
    _tasks_of,
    read_notebook,
)


class KeyIntegrityError(ValueError):
    """The answer key's bytes do not have the recorded SHA-256."""


def read_key(path, sha256=None):
    """The key notebook at ``path``, read once; KeyIntegrityError when ``sha256`` (hex) is given and
    the bytes differ."""
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.strip().lower():
        raise KeyIntegrityError(f"{path}: SHA-256 {digest} is not the recorded {sha256.strip().lower()}; "
                                "the key was changed since it was recorded (refusing to grade)")
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a notebook (expected a JSON object with a list of cells)")
    return nb


def _is_solution(cell):
    return any(line.strip().startswith(BEGIN_SOLUTION) for line in _source(cell).splitlines())


def _plan(key_nb):
    """(setup sources, {task: [test sources]}, {task: points}, ids of the key's test cells)."""
    setup, tests, points, test_ids = [], {}, {}, set()
    for cell, task, pts in _tasks_of(key_nb):
        if task is None:
            setup.append(_source(cell))
            continue
        points.setdefault(task, pts)
        tests.setdefault(task, [])
        if not _is_solution(cell):
            tests[task].append(_source(cell))
            if cell.get("id") is not None:
                test_ids.add(cell["id"])
    return setup, tests, points, test_ids


def _child_units(sub_nb, test_ids):
    """[{"index", "task", "cells"}] of the submission's own cells (not the key's test cells)."""
    units = []
    for cell, task, _ in _tasks_of(sub_nb):
        if cell.get("id") in test_ids:
            continue
        src = _runnable(_source(cell))
        if units and units[-1]["task"] == task:
            units[-1]["cells"].append(src)
        else:
            units.append({"index": len(units), "task": task, "cells": [src]})
    return units


class _Capped(io.StringIO):
    def text(self):
        t = self.getvalue()
        return t if len(t) <= MAX_OUTPUT else t[:MAX_OUTPUT] + f"\n... [output truncated: {len(t)} characters]"


def _run_child(units, task, bad, limits, deadline):
    """(child or None, status, message, output) after the child ran the cells up to ``task``."""
    last = max((u["index"] for u in units if u["task"] == task), default=-1)
    job = [dict(u, report=u["task"] == task) for u in units if u["index"] <= last and u["index"] not in bad]
    child = sandbox.Child(limits)
    try:
        child.send({"units": job, "timeout": limits.check_seconds, "max_output": limits.max_output})
        status, message, output = "passed", "", ""
        for unit in [u for u in job if u["report"]] + [None]:
            n_before = sum(1 for u in job if not u["report"] and (unit is None or u["index"] < unit["index"]))
            end = time.monotonic() + (limits.check_seconds + sandbox.GRACE) * (1 + n_before)
            header, _ = child.receive(min(end, deadline))
            if unit is None:
                if header.get("kind") != "ready" or not isinstance(header.get("names"), dict):
                    child._stop("malformed", "the submission's process did not report its functions")
                return child, status, message, output, header["names"]
            if header.get("kind") != "unit" or header.get("index") != unit["index"]:
                child._stop("malformed", "the submission's process reported out of order (process stopped)")
            output += str(header.get("output", ""))[:limits.max_output]
            if header.get("status") != "passed" and status == "passed":
                status = "timeout" if header.get("status") == "timeout" else "failed"
                message = str(header.get("message", ""))[:2000]
    except sandbox.SubmissionStopped as stop:
        bad.add(min((u["index"] for u in job if u["report"]), default=-1))
        return None, stop.status, stop.message, "", {}


def _install(ns, trusted, names, current):
    """Proxies of the submission's functions in the grader's namespace (never over a trusted name)."""
    for name in [n for n, v in ns.items() if isinstance(v, sandbox.RemoteFunction)]:
        del ns[name]
    for name, kind in names.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or name in trusted \
                or hasattr(builtins, name) or name in ns:
            continue
        cls = sandbox.RemoteFunctionClass if kind == "apply" else sandbox.RemoteFunction
        ns[name] = cls(current, name)


def _run_tests(sources, ns, result):
    out = _Capped()
    for src in sources:
        name = f"<test of {result.task}>"
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(_runnable(src), name, "exec"), ns)
        except sandbox.SubmissionStopped as stop:
            result.status, result.message = stop.status, stop.message
            break
        except sandbox.StudentError as exc:
            result.status, result.message = "failed", f"the submission's code raised {exc}"
            break
        except Exception as exc:  # noqa: BLE001 - a failed check, with its message
            result.status = "failed"
            result.message = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
            if isinstance(exc, AssertionError):
                try:
                    text = explain_assertion(exc, _runnable(src), name, stopped=(sandbox.SubmissionStopped,))
                except sandbox.SubmissionStopped as stop:
                    text = f"(the submission stopped while the check was explained: {stop.message})"
                result.message = (text or result.message)[:2000]
            break
    result.output = (result.output + out.text())[: MAX_OUTPUT + 100]


def grade_sandboxed(submission, key, limits=None, key_sha256=None) -> SubmissionReport:
    """Grade notebook ``submission`` against the key notebook ``key`` (see the module docstring).
    ValueError (KeyIntegrityError) only for an unreadable or altered key."""
    limits = limits or sandbox.Limits()
    key_nb = read_key(key, key_sha256)
    setup, tests, points, test_ids = _plan(key_nb)
    report = SubmissionReport(str(submission), str(key))
    report.tasks = [TaskResult(name, pts) for name, pts in points.items()]
    try:
        sub_nb = read_notebook(submission)
    except (OSError, ValueError) as exc:
        report.message = f"submission scored 0: {exc}"
        for t in report.tasks:
            t.status, t.message = "malformed", str(exc)
        return report
    units = _child_units(sub_nb, test_ids)
    deadline = time.monotonic() + limits.submission_seconds
    ns = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for src in setup:
            exec(compile(_runnable(src), "<key setup>", "exec"), ns)
    trusted, bad, session = set(ns), set(), [None]

    def current():
        if session[0] is None:
            raise sandbox.SubmissionStopped("crashed", "no running submission")
        return session[0]

    for result in report.tasks:
        start = time.monotonic()
        child, result.status, result.message, result.output, names = _run_child(units, result.task, bad, limits,
                                                                                deadline)
        if child is not None:
            try:
                if result.status == "passed" and not any(u["task"] == result.task for u in units) \
                        and not tests[result.task]:
                    result.status, result.message = "missing", f"no cell of task {result.task!r} in the submission"
                elif result.status == "passed":
                    session[0] = sandbox.Session(child, deadline)
                    _install(ns, trusted, names, current)
                    _run_tests(tests[result.task], ns, result)
                    result.output = (result.output + session[0].output)[: MAX_OUTPUT + 100]
                    trusted.update(n for n, v in ns.items() if not isinstance(v, sandbox.RemoteFunction))
            finally:
                session[0] = None
                child.close()
        result.seconds = time.monotonic() - start
        result.score = result.points if result.status == "passed" else 0.0
    return report
