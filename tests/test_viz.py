"""minidl.viz: the computational-graph drawing, training curves, and where figures are saved (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

import minidl as md  # noqa: E402
from minidl import viz  # noqa: E402


def _boxes(fig):
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyBboxPatch)]


def test_draw_graph_one_box_per_node():
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = md.tensor([[0.5], [0.1], [0.2]], requires_grad=True)
    y = (x.reshape(1, 3) @ w).tanh().sum()
    y.backward()
    fig = viz.draw_graph(y, names={"x": x, "w": w})
    assert isinstance(fig, Figure)
    # tensors: x, w, reshape out, matmul out, tanh out, y; ops: Reshape, MatMul, Tanh, Sum
    assert len(_boxes(fig)) == 10
    labels = fig.minidl_nodes
    for op in ("Reshape", "MatMul", "Tanh", "Sum"):
        assert op in labels
    assert any(lbl.startswith("x (3,)") and "grad" in lbl for lbl in labels)
    assert any(lbl.startswith("w (3, 1)") for lbl in labels)
    plt.close(fig)


def test_draw_graph_shared_input_drawn_once():
    a = md.tensor([2.0], requires_grad=True)
    y = a * a + a
    fig = viz.draw_graph(y)
    assert len(_boxes(fig)) == 5  # a, a*a, y; Mul, Add
    plt.close(fig)


def test_draw_graph_of_a_leaf_and_bad_input():
    fig = viz.draw_graph(md.tensor([1.0]))
    assert len(_boxes(fig)) == 1
    plt.close(fig)
    with pytest.raises(TypeError, match="draw_graph"):
        viz.draw_graph([1.0])


def test_plot_training_curves(tmp_path, monkeypatch):
    fig = viz.plot_training_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        viz.plot_training_curves({})


def test_savefig_without_minidl_figures_writes_into_the_repository_figures(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_FIGURES", raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "minidl").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # a notebook runs in notebooks/: the root is found upwards
    fig = viz.plot_training_curves({"loss": [1.0, 0.5]})
    path = viz.savefig(fig, "test_curves")
    plt.close(fig)
    assert path == tmp_path / "figures" / "test_curves.png" and path.stat().st_size > 0


def test_savefig_honours_minidl_figures(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "minidl").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    monkeypatch.chdir(repo)
    target = tmp_path / "elsewhere" / "nested"  # created when missing
    monkeypatch.setenv("MINIDL_FIGURES", str(target))
    assert viz.figures_dir() == target and target.is_dir()
    fig = viz.plot_training_curves({"loss": [1.0, 0.5]})
    path = viz.savefig(fig, "test_curves.png")
    plt.close(fig)
    assert path == target / "test_curves.png" and path.stat().st_size > 0
    assert not (repo / "figures").exists()  # the repository's figures/ is left alone

