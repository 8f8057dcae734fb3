"""Notebooks are committed clean, and every committed figure comes from code in the repository.

The notebooks themselves run through nbmake (``pytest --nbmake``, see pyproject.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURES = sorted((ROOT / "figures").glob("*.png"))


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
