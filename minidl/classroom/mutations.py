"""Mutation testing of an assignment's checks: plausible wrong answers, and the hint each one gets.

A ``Mutation`` is one edit of the reference solution in a key notebook (``old`` must occur in
the cell exactly once), of a named ``kind`` (a transpose, a missing scale, a sign error in a
backward, ...) with the hints that are right for it. ``run`` applies it and runs the key the way
the grader does, in this process (mutants are the instructor's own code): the setup cells, the
solution cells of the earlier tasks, then the mutated task's cells and its test cells, visible
and hidden, with ``check_function``/``check_op`` recorded. The outcome's hint is the first
failing check's hint, ``assert`` when a plain ``assert`` of the key failed, ``exception`` when the
mutated solution itself raised, and ``passed`` when nothing caught the mutant.

``python -m minidl classroom mutations`` runs the suite (``minidl.classroom.mutation_suite``)
and prints the confusion table: mutation kind × hint given.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .notebooks import BEGIN_SOLUTION, _runnable, _source, _tasks_of, read_notebook

ASSIGNMENTS = Path(__file__).resolve().parents[2] / "notebooks" / "assignments"


@dataclass(frozen=True)
class Mutation:
    notebook: str  # file name under notebooks/assignments
    name: str
    kind: str
    cell: str  # id of the cell the edit applies to
    old: str
    new: str
    hints: tuple  # the hints that are right for this mutant

    @property
    def id(self):
        return f"{self.notebook.split('_')[0]}-{self.name}"


@dataclass
class Outcome:
    mutation: Mutation
    hint: str  # the hint given, "assert", "exception" or "passed"
    message: str = ""
    elements: int | None = None  # array elements in the failing check's counterexample

    @property
    def ok(self):
        return self.hint in self.mutation.hints


def _recording(fn, reports):
    def wrapper(*args, **kwargs):
        report = fn(*args, **kwargs)
        reports.append(report)
        return report

    wrapper.__name__ = wrapper.__qualname__ = getattr(fn, "__name__", "check")
    return wrapper


def _edited(src, mutation):
    if src.count(mutation.old) != 1:
        raise ValueError(f"mutation {mutation.id}: {mutation.old!r} occurs {src.count(mutation.old)} times in cell "
                         f"{mutation.cell!r} (must be once)")
    return src.replace(mutation.old, mutation.new)


def _plan(nb, mutation):
    """[(source, kind)] of the cells to run: kind is "setup", "solution" or "test"."""
    cells = _tasks_of(nb)
    task = next((t for c, t, _ in cells if c.get("id") == mutation.cell), None)
    if task is None:
        raise ValueError(f"mutation {mutation.id}: no task cell with id {mutation.cell!r} in {mutation.notebook}")
    order = [t for _, t, _ in cells if t is not None]
    last = max(i for i, t in enumerate(order) if t == task)
    plan = []
    for cell, t, _ in cells:
        src = _source(cell)
        if cell.get("id") == mutation.cell:
            src = _edited(src, mutation)
        if t is None:
            plan.append((src, "setup"))
        elif order.index(t) > last:
            break
        elif any(line.strip().startswith(BEGIN_SOLUTION) for line in _source(cell).splitlines()):
            plan.append((src, "solution"))
        elif t == task:
            plan.append((src, "test"))
    return plan


def run(mutation, root=ASSIGNMENTS) -> Outcome:
    """Apply ``mutation`` to its key notebook and run the mutated task's checks (module docstring)."""
    nb = read_notebook(Path(root) / mutation.notebook)
    ns, reports, out = {"__name__": "__main__"}, [], io.StringIO()
    for src, kind in _plan(nb, mutation):
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a mutant's overflow is judged by its result
                exec(compile(_runnable(src), f"<{mutation.id}: {kind}>", "exec"), ns)  # noqa: S102 - the key's code
        except Exception as exc:  # noqa: BLE001 - the mutant is caught (or a setup cell is broken)
            if kind == "setup":
                raise
            failed = [r for r in reports if not r]
            if kind == "test" and failed:
                return Outcome(mutation, failed[0].hint, str(failed[0]), failed[0].input_elements)
            hint = "assert" if kind == "test" and isinstance(exc, AssertionError) else "exception"
            return Outcome(mutation, hint, f"{type(exc).__name__}: {exc}"[:2000])
        if kind == "setup":
            for name in ("check_function", "check_op"):
                if name in ns and not getattr(ns[name], "_recording", False):
                    ns[name] = _recording(ns[name], reports)
                    ns[name]._recording = True
    return Outcome(mutation, "passed", out.getvalue()[-2000:])


def confusion(outcomes):
    """Text table: one row per mutation kind, one column per hint given, counts; then the mutants
    whose hint is not one of theirs."""
    kinds = sorted({o.mutation.kind for o in outcomes})
    hints = sorted({o.hint for o in outcomes}, key=lambda h: (h == "passed", h))
    w = max([len("kind")] + [len(k) for k in kinds])
    lines = [f"{'kind':<{w}}  " + "  ".join(hints)]
    for k in kinds:
        row = [sum(1 for o in outcomes if o.mutation.kind == k and o.hint == h) for h in hints]
        lines.append(f"{k:<{w}}  " + "  ".join(f"{(str(n) if n else '.'):>{len(h)}}" for n, h in zip(row, hints)))
    wrong = [o for o in outcomes if not o.ok]
    lines.append(f"{len(outcomes)} mutants, {len(outcomes) - len(wrong)} caught with a right hint")
    for o in wrong:
        lines.append(f"  {o.mutation.id}: got {o.hint!r}, expected one of {list(o.mutation.hints)}")
    return "\n".join(lines) + "\n"


def main(pattern=None, verbose=False) -> int:
    """Run the suite (mutants whose id contains ``pattern``), print each outcome and the table;
    exit status 0 when every mutant is caught with a right hint."""
    from .mutation_suite import SUITE

    os.environ.setdefault("MINIDL_FAST", "1")
    outcomes = []
    for m in SUITE:
        if pattern and pattern not in m.id:
            continue
        o = run(m)
        outcomes.append(o)
        print(f"{m.id:<40} {m.kind:<34} {o.hint:<12} {'ok' if o.ok else 'WRONG'}", flush=True)
        if verbose and not o.ok:
            print(o.message)
    print()
    print(confusion(outcomes), end="")
    return 0 if all(o.ok for o in outcomes) else 1
