"""A submission in its own process: started bare and limited, spoken to only through plain arrays.

``Child`` starts ``python -I _child.py`` in a fresh temporary folder (its cwd and HOME), with a
scrubbed environment, resource limits set in ``preexec_fn``, its own session and process group,
and, when the grader runs as root, its own unprivileged user id (so it can read only what every
user can read, cannot write the grader's files, and cannot signal the grader). ``close`` kills the
process group, every process left with that user id, and removes the folder.

``Session`` sends calls of the submission's functions and reads the replies (``minidl.classroom.
wire``: JSON header and raw arrays, size-limited, before a deadline). ``RemoteFunction`` and
``RemoteFunctionClass`` stand for the student's functions and ``Function`` classes in the grader's
namespace: calling one sends the inputs over, and the outputs come back as new Tensors; when an
input requires grad, the call is one node of the grader's graph whose backward asks the child for
the vector-Jacobian product of the student's own backward. The grader never runs student code.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy

from . import wire

ROOT = str(Path(__file__).resolve().parents[2])
CHILD = str(Path(__file__).with_name("_child.py"))
UID_BASE, UID_SPAN = 200000, 60000  # user ids for sandboxes when the grader runs as root
GRACE = 2.0  # seconds beyond the child's own alarm before the grader stops waiting
_counter = [0]


@dataclass
class Limits:
    """What one submission may use. Seconds are wall-clock unless named cpu."""

    check_seconds: float = 60.0  # one task's cells in the child, or one call of a student function
    submission_seconds: float = 900.0  # everything of one submission
    cpu_seconds: int = 900  # RLIMIT_CPU of each child process
    memory_bytes: int = 4 << 30  # RLIMIT_AS
    processes: int = 64  # RLIMIT_NPROC (per user id; only enforced for a non-root id)
    file_bytes: int = 16 << 20  # RLIMIT_FSIZE
    open_files: int = 64  # RLIMIT_NOFILE
    reply_bytes: int = 64 << 20  # one message from the child
    max_output: int = 2000  # characters of captured output kept per task


class SubmissionStopped(BaseException):
    """The submission cannot go on (gone, too slow, or a reply out of format): the check fails.
    A BaseException, so that checks that catch a student's exceptions do not swallow it."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


class StudentError(Exception):
    """The student's code raised; the message is the child's report of it."""


def _env(home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": os.environ.get("LANG", "C.UTF-8"),
           "TMPDIR": home, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    if os.environ.get("MINIDL_FAST"):
        env["MINIDL_FAST"] = os.environ["MINIDL_FAST"]
    return env


def _preexec(limits, uid):
    def setup():
        for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                           (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
                           (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, limits.processes)):
            try:
                resource.setrlimit(res, (value, value))
            except (ValueError, OSError):  # e.g. a hard limit below ours: keep the stricter one
                pass
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    return setup


def _sandbox_uid():
    _counter[0] += 1
    return UID_BASE + (os.getpid() * 97 + _counter[0]) % UID_SPAN


def _kill_uid(uid):
    """SIGKILL every process whose real user id is ``uid`` (forks that left the process group)."""
    for _ in range(3):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            line = next((s for s in status.splitlines() if s.startswith("Uid:")), "")
            if line.split()[1:2] == [str(uid)]:
                found = True
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.05)


class Child:
    """One sandboxed Python process (see the module docstring)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.home = tempfile.mkdtemp(prefix="minidl-submission-")
        self.uid = _sandbox_uid() if os.geteuid() == 0 else None
        if self.uid is not None:
            os.chown(self.home, self.uid, self.uid)
        os.chmod(self.home, 0o700)
        self.proc = subprocess.Popen([sys.executable, "-I", CHILD, ROOT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.home,
                                     env=_env(self.home), preexec_fn=_preexec(limits, self.uid),
                                     start_new_session=True, close_fds=True)
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.dead = None  # SubmissionStopped once the child cannot be used

    def send(self, header, arrays=()):
        if self.dead:
            raise self.dead
        try:
            wire.write_message(self.wfd, header, arrays)
        except OSError:
            self._stop("crashed", self._gone())

    def receive(self, deadline):
        if self.dead:
            raise self.dead
        try:
            return wire.read_message(self.rfd, deadline, self.limits.reply_bytes)
        except TimeoutError:
            self._stop("timeout", f"no reply within the time limit of {self.limits.check_seconds:g} s "
                                  "(process stopped)")
        except EOFError:
            self._stop("crashed", self._gone())
        except wire.WireError as exc:
            self._stop("malformed", f"the submission's reply broke the format ({exc}; process stopped)")

    def _gone(self):
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            return f"the Python process running the submission died (signal {-code}, {signal.Signals(-code).name})"
        return f"the Python process running the submission died (exit code {code})"

    def _stop(self, status, message):
        self.dead = SubmissionStopped(status, message)
        self.close()
        raise self.dead

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if self.uid is not None:
            _kill_uid(self.uid)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)
        if self.dead is None:
            self.dead = SubmissionStopped("crashed", "the submission's process was closed")


def _flat_tensors(v, Tensor):
    if isinstance(v, Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _flat_tensors(x, Tensor)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _flat_tensors(x, Tensor)]
    return []


class _Out:
    """A Tensor in a reply, before it becomes one in the grader."""

    def __init__(self, array, requires_grad):
        self.array, self.requires_grad = array, requires_grad


def _rebuild(v, make):
    if isinstance(v, _Out):
        return make(v)
    if isinstance(v, list):
        return [_rebuild(x, make) for x in v]
    if isinstance(v, tuple):
        return tuple(_rebuild(x, make) for x in v)
    if isinstance(v, dict):
        return {k: _rebuild(x, make) for k, x in v.items()}
    return v


def _outs(v):
    if isinstance(v, _Out):
        return [v]
    if isinstance(v, (list, tuple)):
        return [o for x in v for o in _outs(x)]
    if isinstance(v, dict):
        return [o for x in v.values() for o in _outs(x)]
    return []


class Session:
    """Calls into one child that has run the submission's cells and waits for requests."""

    def __init__(self, child: Child, deadline: float):
        self.child, self.deadline, self.output, self._id = child, deadline, "", 0

    def _deadline(self):
        end = min(time.monotonic() + self.child.limits.check_seconds + GRACE, self.deadline)
        if end <= time.monotonic():
            self.child._stop("timeout", "the submission's time limit is used up (process stopped)")
        return end

    def request(self, header, arrays=()):
        self._id += 1
        self.child.send(dict(header, id=self._id), arrays)
        reply, blobs = self.child.receive(self._deadline())
        if reply.get("id") != self._id or not isinstance(reply.get("output", ""), str):
            self.child._stop("malformed", "the submission's reply does not answer the request (process stopped)")
        self._keep_output(reply.get("output", ""))
        if "error" in reply:
            if reply.get("timeout"):
                self.child._stop("timeout", str(reply["error"])[:500])
            raise StudentError(str(reply["error"])[:2000])
        try:
            return wire.decode(reply.get("value"), blobs, _Out), self._id
        except wire.WireError as exc:
            self.child._stop("malformed", f"the submission's reply broke the format ({exc}; process stopped)")

    def _keep_output(self, text):
        room = self.child.limits.max_output - len(self.output)
        if room <= 0 or self.output.endswith("[output truncated]"):
            return
        self.output += text if len(text) <= room else text[:room] + "\n... [output truncated]"

    def call(self, name, method, args, kwargs):
        from ..autograd import is_grad_enabled
        from ..tensor import Tensor

        tensors = _flat_tensors((args, kwargs), Tensor)
        value, blobs = wire.encode((tuple(args), dict(kwargs)), Tensor)
        header = {"op": "call", "name": name, "method": method, "args": value}
        if not (is_grad_enabled() and any(t.requires_grad for t in tensors)):
            result, _ = self.request(header, blobs)
            return _rebuild(result, lambda o: Tensor(o.array))
        return _differentiable(self, header, blobs, tensors)


def _differentiable(session, header, blobs, tensors):
    from ..autograd import Function
    from ..tensor import Tensor

    box = {}

    class RemoteCall(Function):
        """y = the student's function of the inputs (flattened float outputs); dx = the student's vjp."""

        def forward(ctx, *arrays):
            result, slot = session.request(header, blobs)
            parts = [o for o in _outs(result) if o.requires_grad and o.array.dtype.kind == "f"]
            box.update(result=result, parts=parts, slot=slot)
            if not parts:
                return numpy.zeros(0)
            return numpy.concatenate([p.array.ravel() for p in parts])

        def backward(ctx, dflat):
            flat, pieces, start = dflat.detach().numpy(), [], 0
            for p in box["parts"]:
                pieces.append(flat[start:start + p.array.size].reshape(p.array.shape))
                start += p.array.size
            grads, _ = session.request({"op": "vjp", "slot": box["slot"]}, pieces)
            wanted = [i for i, t in enumerate(tensors) if t.requires_grad]
            if not isinstance(grads, list) or len(grads) != len(wanted):
                session.child._stop("malformed", "the submission's gradients do not match its inputs")
            out = [None] * len(tensors)
            for i, g in zip(wanted, grads):
                out[i] = None if g is None else Tensor(numpy.asarray(g))
            return tuple(out)

    flat = RemoteCall.apply(*tensors)
    index = {id(p): k for k, p in enumerate(box["parts"])}
    offsets = numpy.cumsum([0] + [p.array.size for p in box["parts"]])

    def make(o):
        k = index.get(id(o))
        if k is None:
            return Tensor(o.array)
        return flat[int(offsets[k]):int(offsets[k + 1])].reshape(o.array.shape)

    return _rebuild(box["result"], make)


class RemoteFunction:
    """The student's function ``name`` as the grader sees it (calls go to the current child)."""

    def __init__(self, current, name):
        self._current, self.__name__, self.__qualname__ = current, name, name

    def __call__(self, *args, **kwargs):
        return self._current().call(self.__name__, "call", args, kwargs)

    def __repr__(self):
        return f"<the submission's function {self.__name__}>"


class RemoteFunctionClass(RemoteFunction):
    """The student's ``minidl.autograd.Function`` subclass ``name``: only ``apply`` is offered."""

    def apply(self, *args, **kwargs):
        return self._current().call(self.__name__, "apply", args, kwargs)

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.__name__}: call {self.__name__}.apply(...)")
