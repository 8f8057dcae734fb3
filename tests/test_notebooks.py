"""Notebooks are committed clean, read their seed and fast setting, save figures only through
``minidl.viz.savefig``, link each formula to the function that implements it, and every committed
figure comes from code in the repository.

The notebooks themselves run through nbmake (``pytest --nbmake``, see pyproject.toml); how their
claims hold over seeds is measured by ``benchmarks/notebook_seeds.py``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# [`minidl/functional/conv.py` → `conv2d`](../minidl/functional/conv.py)
CODE_LINK = re.compile(r"\[`(?P<file>[^`]+)` → `(?P<name>[^`]+)`\]\((?P<target>[^)\s]+)\)")


def _committed_figures():
    """The figures git tracks (a run may leave untracked ones next to them); the folder's
    pictures where git or the repository is not at hand."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "figures"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        return sorted(ROOT / name for name in out.split("\0") if name.endswith(".png"))
    except (OSError, subprocess.SubprocessError):
        return sorted((ROOT / "figures").glob("*.png"))


FIGURES = _committed_figures()


def _markdown_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def _code(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def _producers():
    """Text of every notebook and script that may write a figure."""
    texts = []
    for folder in ("notebooks", "benchmarks", "scripts", "minidl"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".ipynb", ".py") and ".ipynb_checkpoints" not in path.parts:
                texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; clear them with "
        "`python tests/test_notebooks.py notebooks/*.ipynb` (or `jupyter nbconvert --clear-output --inplace`)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_reads_the_fast_setting(path):
    text = path.read_text(encoding="utf-8")
    assert "MINIDL_FAST" in text, f"{path.name}: should read MINIDL_FAST to pick its small setting"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_reads_its_seed_and_leaves_the_backend_and_folder_to_the_caller(path):
    code = _code(path)
    assert 'SEED = int(os.environ.get("MINIDL_SEED", "0"))' in code, f"{path.name}: should read MINIDL_SEED"
    assert not re.search(r"\b(matplotlib|mpl)\.use\(", code), (
        f"{path.name}: chooses a matplotlib backend; leave it to Jupyter (inline) and to MPLBACKEND in tests"
    )
    writes = [m.group(0) for m in re.finditer(r"[\w.]*savefig\(", code) if m.group(0) != "viz.savefig("]
    assert not writes, f"{path.name}: save figures with minidl.viz.savefig (it honours MINIDL_FIGURES), not {writes}"


def _defines(path: Path, name: str) -> bool:
    text = path.read_text(encoding="utf-8")
    return re.search(rf"^(?:def|class) {re.escape(name)}\b|^{re.escape(name)}\s*=", text, re.MULTILINE) is not None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_formula_links_point_to_the_function_that_implements_them(path):
    bad = []
    for cell in _markdown_cells(path):
        for m in CODE_LINK.finditer(cell):
            target = (path.parent / m["target"]).resolve()
            if target != (ROOT / m["file"]).resolve():
                bad.append(f"{m.group(0)}: the link goes to {m['target']}, the text names {m['file']}")
            elif not target.is_file():
                bad.append(f"{m.group(0)}: no file {m['file']}")
            elif not _defines(target, m["name"]):
                bad.append(f"{m.group(0)}: {m['file']} defines no {m['name']}")
    assert not bad, f"{path.name}: " + "; ".join(bad)
    formulas = [c.splitlines()[0] for c in _markdown_cells(path) if "$$" in c and not CODE_LINK.search(c)]
    assert not formulas, f"{path.name}: formula cells without a link to the code that computes them: {formulas}"


def test_the_link_pattern_reads_a_link():
    m = CODE_LINK.search("see [`minidl/functional/conv.py` → `conv2d`](../minidl/functional/conv.py).")
    assert m and (m["file"], m["name"]) == ("minidl/functional/conv.py", "conv2d")
    assert m["target"] == "../minidl/functional/conv.py"
    assert _defines(ROOT / "minidl" / "viz.py", "savefig") and not _defines(ROOT / "minidl" / "viz.py", "save")


@pytest.mark.skipif(not FIGURES, reason="no figures committed yet")
def test_every_figure_is_produced_by_code_in_the_repository():
    text = _producers()
    orphans = [p.name for p in FIGURES if p.stem not in text]
    assert not orphans, f"figures no notebook or script names (write the name literally): {orphans}"


def clear_outputs(paths):
    """Remove outputs and execution counts from notebooks in place (what the first test asks for)."""
    for path in map(Path, paths):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python tests/test_notebooks.py notebooks/*.ipynb
    import sys

    clear_outputs(sys.argv[1:] or NOTEBOOKS)
