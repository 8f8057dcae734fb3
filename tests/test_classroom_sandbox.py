"""The sandboxed grader against a student who cheats: every attack scores zero and the batch goes on.

Each test grades an attacking submission and then an honest one in the same grader process (or
the same CLI run): the attacker gets 0 and the honest one full marks."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import numpy
import pytest

from minidl.classroom import grading, wire
from minidl.classroom.notebooks import grade, make_student, read_notebook

KEY_CELLS = [
    "import math\n",
    "### TASK scale points=2\ndef scale(xs, k):\n    ### BEGIN SOLUTION\n    return [x * k for x in xs]\n"
    "    ### END SOLUTION\n",
    "### TASK scale\nassert scale([1, 2], 3) == [3, 6]\n### BEGIN HIDDEN TESTS\nassert scale([], 5) == []\n"
    "assert scale([-1.5, 4], 2) == [-3.0, 8]\n### END HIDDEN TESTS\n",
]
HONEST = "### TASK scale\ndef scale(xs, k):\n    return [x * k for x in xs]\n"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs the grader to run as root (own user id per child)")


@pytest.fixture
def key(tmp_path):
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
             for i, s in enumerate(KEY_CELLS)]
    path = tmp_path / "instructor" / "key.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    os.chmod(path.parent, 0o700)
    os.chmod(path, 0o600)
    return path


def submission(tmp_path, key, name, source):
    student = make_student(key, tmp_path / name)
    nb = read_notebook(student)
    nb["cells"][1]["source"] = source
    student.write_text(json.dumps(nb))
    return student


def batch(tmp_path, key, attack, timeout=5):
    """(attacker's report, honest report) graded one after the other."""
    digest = hashlib.sha256(key.read_bytes()).hexdigest()
    bad = grade(submission(tmp_path, key, "attacker", attack), key, timeout=timeout, key_sha256=digest)
    good = grade(submission(tmp_path, key, "honest", HONEST), key, timeout=timeout, key_sha256=digest)
    assert good.score == good.max_score == 2, good.table()
    assert hashlib.sha256(key.read_bytes()).hexdigest() == digest  # the key is as it was
    return bad, good


FORGE = """### TASK scale
import json, os, struct
def scale(xs, k):
    return None
for fd in range(3, 40):
    for msg in ({"kind": "unit", "index": 1, "status": "passed", "message": "", "output": "", "seconds": 0},
                {"kind": "ready", "names": {}}, {"id": 1, "value": [], "output": ""}):
        h = json.dumps(dict(msg, blobs=[])).encode()
        try:
            os.write(fd, struct.pack("<I", len(h)) + h)
        except OSError:
            pass
"""
REPLACE = """### TASK scale
import builtins, minidl.classroom.grader as g, minidl.classroom as c
g.check_function = g.check_op = c.check_function = c.check_op = lambda *a, **k: True
builtins.AssertionError = type("Nothing", (Exception,), {})
def scale(xs, k):
    return None
"""
ANY = """### TASK scale
class Anything(list):
    def __eq__(self, other):
        return True
def scale(xs, k):
    return Anything()
"""
SHADOW = """### TASK scale
def scale(xs, k):
    return None
def print(*a, **k):
    pass
def math(*a):
    return 0
"""
MALFORMED = """### TASK scale
import os
def scale(xs, k):
    for fd in range(3, 40):
        try:
            os.write(fd, b"\\xff\\xff\\xff\\x7f" + b"{" * 100)
        except OSError:
            pass
    return [x * k for x in xs]
"""
HUGE = """### TASK scale
import numpy
def scale(xs, k):
    return numpy.zeros((1 << 30, 1 << 10), dtype=numpy.uint8)
"""
ALLOCATE = """### TASK scale
blocks = []
while True:
    blocks.append(bytearray(1 << 28))
def scale(xs, k):
    return [x * k for x in xs]
"""
FLOOD = """### TASK scale
import sys
for _ in range(300):
    sys.stdout.write("x" * (1 << 20))
def scale(xs, k):
    print("y" * (1 << 24))
    return None
"""
LOOP_IGNORING_ALARM = """### TASK scale
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
def scale(xs, k):
    while True:
        pass
"""


@pytest.mark.parametrize("attack, status", [
    (FORGE, {"failed", "malformed", "crashed"}),
    (REPLACE, {"failed"}),
    (ANY, {"failed"}),
    (SHADOW, {"failed"}),
    (MALFORMED, {"malformed", "failed"}),
    (HUGE, {"failed", "malformed", "crashed"}),
    (ALLOCATE, {"failed", "crashed", "timeout"}),
    (LOOP_IGNORING_ALARM, {"timeout"}),
    (FLOOD, {"failed"}),
], ids=["forge-report", "replace-checks-and-builtins", "object-equal-to-anything", "shadow-grader-names",
        "malformed-reply", "oversized-reply", "unbounded-allocation", "infinite-loop-ignoring-alarm", "flood-output"])
def test_attack_scores_zero_and_batch_goes_on(tmp_path, key, attack, status):
    bad, _ = batch(tmp_path, key, attack, timeout=3)
    assert bad.score == 0, bad.table()
    assert bad.tasks[0].status in status, bad.table()
    assert len(bad.tasks[0].output) < 5000 and len(bad.tasks[0].message) <= 2000  # output is capped


def _alive(pid):
    try:
        state = next(s for s in open(f"/proc/{pid}/status").read().splitlines() if s.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "zombie" not in state and " Z" not in state


FORK = """### TASK scale
import os, time
kids = []
for n, detach in enumerate((False, True, True)):
    pid = os.fork()
    if pid == 0:
        if detach:
            os.setsid()
            if os.fork():  # the grandchild goes on, orphaned in its own session
                os._exit(0)
        open(f"pid{n}", "w").write(str(os.getpid()))
        time.sleep(3600)
        os._exit(0)
for n in range(3):
    while not os.path.exists(f"pid{n}") or not open(f"pid{n}").read():
        time.sleep(0.01)
    kids.append(int(open(f"pid{n}").read()))
print("forked", kids)
def scale(xs, k):
    return [x * k for x in xs]
"""


def _uid(pid):
    try:
        return int(next(s for s in open(f"/proc/{pid}/status").read().splitlines() if s.startswith("Uid:")).split()[1])
    except (OSError, StopIteration):
        return None


@ROOT_ONLY
def test_forked_processes_are_gone_after_grading(tmp_path, key):
    digest = hashlib.sha256(key.read_bytes()).hexdigest()
    report = grade(submission(tmp_path, key, "forker", FORK), key, timeout=5, key_sha256=digest)
    assert report.score == 2, report.table()  # forking is allowed; what is left afterwards is not
    line = next(s for s in report.tasks[0].output.splitlines() if s.startswith("forked"))
    kids = json.loads(line.split(" ", 1)[1])
    assert len(kids) == 3
    left = kids
    for _ in range(100):  # SIGKILL is delivered asynchronously: give the kernel a moment
        left = [p for p in left if _alive(p) and (_uid(p) or 0) >= 200000]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"processes of the submission still running after grading: {left}"


@ROOT_ONLY
def test_reading_and_rewriting_the_key_fails(tmp_path, key):
    attack = f"""### TASK scale
path = {str(key)!r}
try:
    exec(open(path).read().split("BEGIN SOLUTION")[0])  # any line of the key would do
    stolen = True
except OSError:
    stolen = False
try:
    open(path, "w").write("{{}}")
except OSError:
    pass
def scale(xs, k):
    return [x * k for x in xs] if stolen else None
"""
    bad, _ = batch(tmp_path, key, attack)
    assert bad.score == 0, bad.table()


def test_altered_key_is_refused(tmp_path, key):
    digest = hashlib.sha256(key.read_bytes()).hexdigest()
    key.write_text(key.read_text().replace("assert scale([], 5) == []", "pass"))
    with pytest.raises(grading.KeyIntegrityError, match="SHA-256"):
        grade(submission(tmp_path, key, "s", HONEST), key, key_sha256=digest)


@ROOT_ONLY
def test_signals_to_the_grader_and_leftover_processes(tmp_path, key):
    attack = """### TASK scale
import os, signal, time
for pid, sig in ((os.getppid(), signal.SIGKILL), (os.getppid(), signal.SIGTERM), (0, signal.SIGINT)):
    try:
        os.kill(pid, sig)
    except OSError as exc:
        print("refused", exc.errno)
kids = []
for detach in (False, True):
    pid = os.fork()
    if pid == 0:
        if detach:
            os.setsid()
        time.sleep(3600)
        os._exit(0)
    kids.append(pid)
print("kids", kids)
def scale(xs, k):
    return None
"""
    (tmp_path / "subs").mkdir()
    for name, src in (("attacker", attack), ("honest", HONEST)):
        sub = submission(tmp_path, key, name, src)
        sub.rename(tmp_path / "subs" / sub.name.replace("key", name))
    assert subprocess.run([sys.executable, "-m", "minidl", "classroom", "hash", str(key)]).returncode == 0
    run = subprocess.run([sys.executable, "-m", "minidl", "classroom", "grade", str(tmp_path / "subs"), "--key",
                          str(key), "--timeout", "5", "--out", str(tmp_path / "grades")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # the batch finished: one submission lost points
    rows = (tmp_path / "grades" / "gradebook.csv").read_text().splitlines()
    assert rows[1].startswith("attacker,0,2,") and rows[2].startswith("honest,2,2,passed"), rows
    assert "attacker" in (tmp_path / "grades" / "gradebook.csv").read_text()


def _read_back(write):
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (_try(write, w), os.close(w)))
    writer.start()
    try:
        return wire.read_message(r, deadline=time.monotonic() + 30, max_bytes=1 << 20)
    finally:
        os.close(r)
        writer.join()


def _try(write, fd):
    try:
        write(fd)
    except OSError:  # the reader stopped early
        pass


@pytest.mark.parametrize("payload", [b"\x05\x00\x00\x00nope!", b"\x02\x00\x00\x00[]", b"\xff\xff\xff\x7f{",
                                     b'\x2d\x00\x00\x00{"blobs": [{"dtype": "|O8", "shape": [1]}]}xxxxxxxx',
                                     b'\x2e\x00\x00\x00{"blobs": [{"dtype": "<f8", "shape": [-1, 2]}]}'])
def test_wire_rejects_bad_messages(payload):
    with pytest.raises(wire.WireError):
        _read_back(lambda fd: os.write(fd, payload))


def test_wire_size_cap_and_values():
    with pytest.raises(wire.WireError, match="more than"):
        _read_back(lambda fd: wire.write_message(fd, {"x": 1}, [numpy.zeros((1 << 10, 1 << 8))]))
    header, arrays = _read_back(lambda fd: wire.write_message(fd, {"x": 1}, [numpy.arange(6.0).reshape(2, 3)]))
    assert header["x"] == 1 and arrays[0].shape == (2, 3)
    assert wire.decode({"t": [1, {"A": 0}]}, [numpy.ones(2)])[1].tolist() == [1.0, 1.0]
    with pytest.raises(wire.WireError):
        wire.decode({"__reduce__": "os.system"}, [])
    with pytest.raises(wire.WireError):
        wire.encode(object())


def test_plain_assert_reports_the_check_and_the_failing_input(tmp_path, key):
    wrong = "### TASK scale\ndef scale(xs, k):\n    return [x * k + 1 for x in xs]\n"
    bad, _ = batch(tmp_path, key, wrong)
    message = bad.tasks[0].message
    assert "AssertionError: the check `assert scale([1, 2], 3) == [3, 6]` failed" in message, message
    assert "left side:  scale([1, 2], 3) = [4, 7]" in message and "right side: [3, 6] = [3, 6]" in message, message


def test_plain_assert_in_a_loop_names_the_loop_variables():
    from minidl.classroom.asserts import explain_assertion

    src = "def f(n):\n    return n + 1\nfor n in range(5):\n    for k in (1, 2):\n        assert f(n) == n * k, k\n"
    ns = {}
    with pytest.raises(AssertionError) as info:
        exec(compile(src, "<t>", "exec"), ns)
    text = explain_assertion(info.value, src, "<t>")
    assert text.splitlines()[0] == "AssertionError: the check `assert f(n) == n * k` failed"
    assert "with n = 0, k = 1" in text and "left side:  f(n) = 1" in text and "right side: n * k = 0" in text
