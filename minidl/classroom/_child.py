"""The sandboxed side of grading: runs a submission's cells, then answers calls of its functions.

Started by ``minidl.classroom.sandbox`` as ``python -I _child.py ROOT`` (ROOT: the folder holding
the minidl package) with requests on stdin and replies on stdout in the format of
``minidl.classroom.wire``. Nothing here is trusted by the grader: whatever this process reports is
checked by the grader before use, and marks rest on the grader's own comparisons.
"""

import contextlib
import io
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, sys.argv[1])

from minidl.classroom import wire  # noqa: E402

REQ, REP = os.dup(0), os.dup(1)
_null = os.open(os.devnull, os.O_RDWR)
for _fd in (0, 1, 2):
    os.dup2(_null, _fd)
FOREVER = 10 ** 9


class Stop(BaseException):
    pass


def _alarm(signum, frame):
    raise Stop()


signal.signal(signal.SIGALRM, _alarm)


class Capped(io.TextIOBase):
    def __init__(self, limit):
        self.parts, self.size, self.limit = [], 0, limit

    def writable(self):
        return True

    def write(self, s):
        if self.size < self.limit:
            self.parts.append(s[: self.limit - self.size])
        self.size += len(s)
        return len(s)

    def text(self):
        t = "".join(self.parts)
        return t + (f"\n... [output truncated: {self.size} characters in all]" if self.size > self.limit else "")


def _error(exc):
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]


def run_units(job, ns):
    limit, timeout = job["max_output"], job["timeout"]
    for unit in job["units"]:
        out, status, message = Capped(limit), "passed", ""
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    for i, src in enumerate(unit["cells"]):
                        exec(compile(src, f"<cell {unit['index']}.{i}>", "exec"), ns)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except Stop:
            status, message = "timeout", f"stopped after the time limit of {timeout:g} s"
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
            status, message = "failed", _error(exc)
        if unit["report"]:
            wire.write_message(REP, {"kind": "unit", "index": unit["index"], "status": status, "message": message,
                                     "output": out.text(), "seconds": time.perf_counter() - start})


def exported(ns):
    """{name: "apply" | "call"} of the functions and Function classes the cells defined."""
    from minidl.autograd import Function

    names = {}
    for name, value in list(ns.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, type) and issubclass(value, Function) and value is not Function:
            names[name] = "apply"
        elif callable(value) and getattr(value, "__module__", None) == "__main__":
            names[name] = "call"
    return names


def serve(ns, timeout, limit):
    import minidl
    from minidl.tensor import Tensor

    graphs = {}

    def tensor(a, g):
        return minidl.Tensor(a, requires_grad=g and a.dtype.kind == "f")

    while True:
        header, arrays = wire.read_message(REQ, time.monotonic() + FOREVER)
        out = Capped(limit)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    reply, blobs = answer(header, arrays, ns, graphs, tensor, Tensor)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except Stop:
            reply, blobs = {"error": f"stopped after the time limit of {timeout:g} s", "timeout": True}, []
        except BaseException as exc:  # noqa: BLE001
            reply, blobs = {"error": _error(exc)}, []
        wire.write_message(REP, dict(reply, id=header.get("id"), output=out.text()), blobs)


def answer(header, arrays, ns, graphs, tensor, Tensor):
    import minidl

    if header.get("op") == "call":
        fn = ns[header["name"]]
        fn = fn.apply if header.get("method") == "apply" else fn
        args, kwargs = wire.decode(header["args"], arrays, tensor)
        result = fn(*args, **kwargs)
        inputs = _tensors(args, Tensor) + _tensors(kwargs, Tensor)
        outs = _tensors(result, Tensor)
        if len(graphs) >= 16:
            graphs.pop(next(iter(graphs)))
        graphs[header["id"]] = (inputs, outs)
        value, blobs = wire.encode(result, Tensor)
        return {"value": value}, blobs
    if header.get("op") == "vjp":
        inputs, outs = graphs.pop(header["slot"])
        live = [(o, v) for o, v in zip(outs, arrays) if o.requires_grad]
        wanted = [x for x in inputs if x.requires_grad]
        grads = [None] * len(wanted)
        if live and wanted:
            grads = minidl.grad([o for o, _ in live], wanted, [minidl.Tensor(v.astype(o.dtype)) for o, v in live],
                                allow_unused=True)
        value, blobs = wire.encode([None if g is None else g.detach().numpy() for g in grads])
        return {"value": value}, blobs
    raise ValueError(f"unknown request {header.get('op')!r}")


def _tensors(v, Tensor):
    if isinstance(v, Tensor):
        return [v]
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors(x, Tensor)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _tensors(x, Tensor)]
    return []


def main():
    header, _ = wire.read_message(REQ, time.monotonic() + 60)
    ns = {"__name__": "__main__"}
    run_units(header, ns)
    wire.write_message(REP, {"kind": "ready", "names": exported(ns)})
    serve(ns, header["timeout"], header["max_output"])


if __name__ == "__main__":
    try:
        main()
    except (EOFError, TimeoutError, wire.WireError):
        os._exit(0)
