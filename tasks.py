#!/usr/bin/env python3
"""Set-up and entry points on a machine with only python3:

    python3 tasks.py demo       # create/reuse .venv, install minidl, run the demo
    python3 tasks.py test       # create/reuse .venv, install test tools, ruff + the whole test suite
    python3 tasks.py notebooks  # install JupyterLab into .venv and open notebooks/
    python3 tasks.py figures    # run the notebooks and rewrite the committed figures/ (on purpose only)

Extra arguments after ``test`` go to pytest (``python3 tasks.py test -k conv``). The suite
includes the notebooks (``pytest --nbmake``, run in their fast setting unless ``MINIDL_FAST=0``);
their figures go to a temporary folder, so a test run leaves the work tree as it found it.
Set ``MINIDL_ORACLE=0`` to skip installing PyTorch (the optional test oracle) and mpi4py with Open MPI
(the ``distributed`` extra, whose tests start ``mpiexec -n 2``). Extra arguments
after ``notebooks`` go to ``jupyter lab`` (``--no-browser``, ``--port 8890``); after
``figures``, notebook paths to run instead of all of ``notebooks/[0-9]*.ipynb``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(*cmd):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure(extras: str):
    """Create the virtual environment and install minidl with ``extras`` unless already done."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extras or 'base'}-{digest}"
    if stamp.exists():
        return
    target = f".[{extras}]" if extras else "."
    if run(PY, "-m", "pip", "install", "--quiet", "-e", target) != 0:
        sys.exit("installing minidl failed")
    stamp.touch()


def demo(args):
    ensure("")
    return run(PY, "-m", "minidl", "demo", *args)


def test(args):
    extras = "test,oracle,distributed" if os.environ.get("MINIDL_ORACLE", "1") != "0" else "test"
    ensure(extras)
    if run(PY, "-m", "ruff", "check", ".") != 0:
        return 1
    os.environ.setdefault("MINIDL_FAST", "1")  # notebooks: small data, few epochs
    os.environ.setdefault("MPLBACKEND", "Agg")
    return run(PY, "-m", "pytest", *args)  # conftest.py sends the notebooks' figures to a temporary folder


def notebooks(args):
    ensure("notebooks")
    return run(BIN / "jupyter", "lab", *args, "notebooks/")


def figures(args):
    """Run the notebooks with their figures going into the committed ``figures/`` folder, in the
    full setting unless ``MINIDL_FAST=1`` is exported (the full one takes several minutes)."""
    ensure("test")
    env = {"MINIDL_FIGURES": str(ROOT / "figures"), "MINIDL_FAST": os.environ.get("MINIDL_FAST", "0")}
    os.environ.update(env)
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = args or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    print(f"figures: {', '.join(f'{k}={v}' for k, v in env.items())}", flush=True)
    return run(PY, "-m", "pytest", "-p", "no:cacheprovider", "--nbmake-timeout=3600", *paths)


def main(argv):
    commands = {"demo": demo, "test": test, "notebooks": notebooks, "figures": figures}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
