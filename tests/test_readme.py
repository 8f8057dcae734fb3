"""The README tells the truth: its figures exist and come from code in the repository, its
runnable Python blocks run, and its two commands are the ones ``tasks.py`` implements.

A Python block is runnable when the line just before its opening fence is ``<!-- runnable -->``;
each runs on its own (a fresh namespace), so it must import what it uses."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "<!-- runnable -->"

IMAGE_PATTERNS = (r"!\[[^\]]*\]\(([^)\s]+)", r"<img\s[^>]*src=\"([^\"]+)\"")
FIGURES = sorted({m for pat in IMAGE_PATTERNS for m in re.findall(pat, README)})


def _python_blocks():
    """(runnable, code) for every ```python block of the README, in order."""
    blocks = []
    for m in re.finditer(r"^```python\n(.*?)^```", README, flags=re.S | re.M):
        before = README[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        blocks.append((before == MARKER, m.group(1)))
    return blocks


RUNNABLE = [code for runnable, code in _python_blocks() if runnable]


def _producer_text():
    """Source of every notebook and script that may write a figure."""
    texts = []
    for folder in ("notebooks", "benchmarks", "minidl"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".ipynb", ".py") and ".ipynb_checkpoints" not in path.parts:
                texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def test_readme_shows_figures():
    assert FIGURES, "the README shows no figures (expected at least the notebook table's)"


@pytest.mark.parametrize("figure", FIGURES)
def test_figure_exists_and_is_produced_by_code_in_the_repository(figure):
    path = ROOT / figure
    assert path.is_file(), f"README shows {figure}, which is not in the repository"
    assert path.parent == ROOT / "figures", f"{figure}: figures live in figures/"
    text = _producer_text()
    assert path.name in text or path.stem in text, (
        f"{figure}: no notebook (notebooks/*.ipynb) or script (benchmarks/, minidl/) names "
        f"{path.name!r} or {path.stem!r}"
    )


def test_readme_has_runnable_blocks():
    assert len(RUNNABLE) >= 3, f"expected the taste and the own-op examples marked {MARKER!r}"


@pytest.mark.parametrize("code", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_runnable_block_runs(code):
    if "hypothesis" in code:
        pytest.importorskip("hypothesis")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_block"})


def _tasks_module():
    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_commands_are_the_ones_tasks_py_implements(monkeypatch):
    commands = re.findall(r"^python3 tasks\.py (\w+)", README, flags=re.M)
    assert commands[:2] == ["demo", "test"], f"README's first two tasks.py commands: {commands}"
    tasks = _tasks_module()
    calls = []
    for name in sorted(set(commands)):
        monkeypatch.setattr(tasks, name, lambda args, name=name: calls.append((name, args)) or 0)
        assert tasks.main([name, "--x"]) == 0
        assert calls[-1] == (name, ["--x"]), f"tasks.py {name} does not dispatch to {name}()"
    assert tasks.main(["no-such-command"]) == 2


def test_demo_command_runs_the_minidl_demo(monkeypatch):
    """``python3 tasks.py demo`` is ``python -m minidl demo``, as the README says."""
    tasks = _tasks_module()
    ran = []
    monkeypatch.setattr(tasks, "ensure", lambda extras: None)
    monkeypatch.setattr(tasks, "run", lambda *cmd: ran.append([str(c) for c in cmd]) or 0)
    assert tasks.main(["demo"]) == 0
    assert ran and ran[-1][1:] == ["-m", "minidl", "demo"]
    assert "python -m minidl demo" in README


def test_notebooks_command_opens_jupyterlab_on_the_notebooks(monkeypatch):
    tasks = _tasks_module()
    ran, extras = [], []
    monkeypatch.setattr(tasks, "ensure", extras.append)
    monkeypatch.setattr(tasks, "run", lambda *cmd: ran.append([str(c) for c in cmd]) or 0)
    assert tasks.main(["notebooks", "--no-browser"]) == 0
    assert extras == ["notebooks"]
    assert Path(ran[-1][0]).name == "jupyter" and ran[-1][1:] == ["lab", "--no-browser", "notebooks/"]
    assert "jupyterlab" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_figures_command_is_the_only_one_that_writes_into_figures(monkeypatch):
    tasks = _tasks_module()
    ran = []
    monkeypatch.setattr(tasks, "ensure", lambda extras: None)
    monkeypatch.setattr(tasks, "run", lambda *cmd: ran.append([str(c) for c in cmd]) or 0)
    monkeypatch.setenv("MINIDL_FIGURES", "/elsewhere")
    monkeypatch.delenv("MINIDL_FAST", raising=False)
    assert tasks.main(["figures"]) == 0
    assert os.environ["MINIDL_FIGURES"] == str(ROOT / "figures") and os.environ["MINIDL_FAST"] == "0"
    notebooks = [c for c in ran[-1] if c.endswith(".ipynb")]
    assert notebooks and all(Path(c).parent.name == "notebooks" for c in notebooks)
