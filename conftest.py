"""Set-up for every pytest run in this repository, the notebooks included: the figures that
notebooks save go to a temporary folder unless ``MINIDL_FIGURES`` names one, so that a test run
never rewrites the committed ``figures/`` (``python3 tasks.py figures`` does that, on purpose)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if not os.environ.get("MINIDL_FIGURES"):
    _scratch = tempfile.mkdtemp(prefix="minidl-figures-")
    atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    os.environ["MINIDL_FIGURES"] = _scratch  # nbmake's kernels inherit the environment
