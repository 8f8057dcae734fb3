"""``python -m minidl classroom student|hash|grade``: the instructor's commands.

    python -m minidl classroom student key.ipynb --out handout/     # the student version
    python -m minidl classroom hash key.ipynb                       # writes key.ipynb.sha256
    python -m minidl classroom grade submissions/ --key key.ipynb --out grades/
    python -m minidl classroom mutations                            # the hints against the mutation suite

``grade`` takes one submission or a folder of them (every ``*.ipynb`` in it, the key excepted),
checks the key against its recorded SHA-256 (``--key-sha256`` or the file ``KEY.sha256`` next to
it) before anything runs, grades each submission in its own sandbox, and writes
``grades/gradebook.csv`` (one row per student: total, maximum, each task's score) and one
``grades/<student>.txt`` per student with each failed check's message, counterexample and hint.
Exit status: 0 when every submission has full marks, 1 when any lost points or could not be
graded, 2 for a usage error or a key that is missing, unreadable or altered.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from .._files import read_bytes, write_text


class UsageError(ValueError):
    """A command line that cannot be carried out (said in words)."""


def hash_file(key) -> Path:
    """Write ``KEY.sha256`` (``sha256sum`` format) next to the key and return its path."""
    key = Path(key)
    digest = hashlib.sha256(read_bytes(key)).hexdigest()
    target = key.with_name(key.name + ".sha256")
    write_text(target, f"{digest}  {key.name}\n")
    return target


def recorded_hash(key, given=None) -> str:
    """The key's recorded SHA-256: ``given``, else the first word of ``KEY.sha256``."""
    if given:
        return given
    record = Path(str(key) + ".sha256")
    if not record.exists():
        raise UsageError(f"no recorded hash for the key: pass --key-sha256 or run "
                         f"'python -m minidl classroom hash {key}' first (writes {record.name})")
    words = record.read_text(encoding="utf-8").split()
    if not words or len(words[0]) != 64:
        raise UsageError(f"{record}: not a SHA-256 record (expected '<64 hex digits>  {Path(key).name}')")
    return words[0]


def submissions_of(path, key):
    """The submissions at ``path``: the file itself, or the notebooks of a folder (sorted, key excepted)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.ipynb") if p.resolve() != Path(key).resolve())
        if not found:
            raise UsageError(f"{path}: no .ipynb submissions in this folder")
        return found
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    return [path]


def feedback(report) -> str:
    """The feedback text of one submission: the score table, then each failed task in full."""
    parts = [report.table()]
    for t in report.tasks:
        if t.status != "passed":
            parts.append(f"\n== {t.task}: {t.status}, 0/{t.points:g} ==\n{t.message}\n")
            if t.output.strip():
                parts.append(f"-- output and report of the checks --\n{t.output.rstrip()}\n")
    return "".join(parts)


def gradebook(reports) -> str:
    """CSV text: student, score, max_score, status, then one column per task."""
    tasks = [t.task for t in reports[0].tasks] if reports else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", "status", *tasks])
    for r in reports:
        bad = sorted({t.status for t in r.tasks if t.status != "passed"})
        writer.writerow([Path(r.submission).stem, f"{r.score:g}", f"{r.max_score:g}", ",".join(bad) or "passed",
                         *[f"{t.score:g}" for t in r.tasks]])
    return out.getvalue()


def grade_command(args) -> int:
    """Carry out ``classroom grade`` (see the module docstring); returns the exit status."""
    from . import grading, sandbox

    limits = sandbox.Limits(check_seconds=args.timeout, submission_seconds=args.total_timeout)
    sha = recorded_hash(args.key, args.key_sha256)
    grading.read_key(args.key, sha)  # refuse an altered key before any submission runs
    subs = submissions_of(args.submission, args.key)
    out = Path(args.out)
    reports = []
    for sub in subs:
        report = grading.grade_sandboxed(sub, args.key, limits=limits, key_sha256=sha)
        reports.append(report)
        write_text(out / f"{sub.stem}.txt", feedback(report))
        if len(subs) == 1:
            print(report.table(), end="")
        else:
            print(f"{sub.stem}: {report.score:g}/{report.max_score:g}")
    write_text(out / "gradebook.csv", gradebook(reports))
    if args.json:
        write_text(args.json, reports[0].to_json() if len(reports) == 1 else
                   "[\n" + ",\n".join(r.to_json().rstrip() for r in reports) + "\n]\n")
    print(f"gradebook: {out / 'gradebook.csv'} ({len(reports)} submission(s)); feedback: {out}/<student>.txt")
    return 0 if all(r.score == r.max_score for r in reports) else 1


def add_parser(sub):
    """The ``classroom`` subcommand and its actions on the ``python -m minidl`` parser."""
    c = sub.add_parser("classroom", help="assignment notebooks: student versions, key hashes and grading")
    csub = c.add_subparsers(dest="action", required=True)
    cs = csub.add_parser("student", help="write the student version of an assignment notebook")
    cs.add_argument("src", help="assignment notebook with solutions and hidden tests")
    cs.add_argument("--out", required=True, help="folder for the student version (same file name)")
    cs.add_argument("--force", action="store_true", help="overwrite an existing file")
    ch = csub.add_parser("hash", help="record the key's SHA-256 in KEY.sha256 (checked before grading)")
    ch.add_argument("key")
    cg = csub.add_parser("grade", help="grade one submission or a folder of them into a gradebook")
    cg.add_argument("submission", help="a submitted notebook, or a folder of them")
    cg.add_argument("--key", required=True, help="the assignment notebook with solutions and hidden tests")
    cg.add_argument("--key-sha256", default=None, help="the key's SHA-256 (default: read KEY.sha256)")
    cg.add_argument("--out", default="grades", help="folder for gradebook.csv and the feedback files")
    cg.add_argument("--timeout", type=float, default=60.0, help="seconds per task and per call (default 60)")
    cg.add_argument("--total-timeout", type=float, default=900.0, help="seconds per submission (default 900)")
    cg.add_argument("--json", default=None, help="also write the scores as JSON into this file")
    cm = csub.add_parser("mutations", help="run the assignments' mutation suite and print the confusion table "
                                           "(mutation kind x hint given)")
    cm.add_argument("--only", default=None, help="only the mutants whose id contains this text (e.g. 04-)")
    cm.add_argument("--verbose", action="store_true", help="print the report of each mutant with a wrong hint")


def main(args, parser) -> int:
    """``classroom`` dispatch for ``python -m minidl``."""
    from . import notebooks

    where = f"python -m minidl classroom {args.action}"
    try:
        if args.action == "student":
            print(f"wrote {notebooks.make_student(args.src, args.out, force=args.force)}")
            return 0
        if args.action == "hash":
            print(f"wrote {hash_file(args.key)}")
            return 0
        if args.action == "mutations":
            from . import mutations

            return mutations.main(args.only, args.verbose)
        return grade_command(args)
    except (OSError, ValueError) as exc:  # existing output, bad markers, leaks, unreadable or altered key
        parser.exit(2, f"{where}: error: {exc}\n")
