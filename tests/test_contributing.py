"""CONTRIBUTING.md's worked example runs as written: its reference, tests and kernel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
BLOCKS = [m.group(1) for m in re.finditer(r"<!-- runnable -->\n```python\n(.*?)^```", TEXT, flags=re.S | re.M)]


def test_the_guide_has_its_worked_example():
    assert len(BLOCKS) >= 4, "reference, Function, tests and kernel blocks marked <!-- runnable -->"
    for step in ("@reference_op", "class Softsign(Function)", "assert_gradients_match", "register_kernel"):
        assert any(step in b for b in BLOCKS), f"the worked example lost its {step!r} step"


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs(code):
    pytest.importorskip("hypothesis")
    exec(compile(code, "CONTRIBUTING.md", "exec"), {"__name__": "contributing_block"})
