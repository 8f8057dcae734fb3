"""Pictures for teaching: the computational graph of a Tensor and training curves (matplotlib only).

``draw_graph(y)`` walks ``y.grad_fn`` back to the leaves, the same walk ``backward`` does, and
draws every Function (the op, by class name) and every Tensor (shape, and gradient when it has
one) as a box, with arrows in the direction data flows in the forward pass. Boxes are laid out
by depth: leaves on the left, ``y`` on the right.

``savefig(fig, name)`` writes ``<name>.png`` into the folder ``MINIDL_FIGURES`` names, else into
``figures/`` at the root of the repository, found from the current folder (a notebook runs in
``notebooks/``) or from where ``minidl`` is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .autograd import topological_order
from .tensor import Tensor

__all__ = ["draw_graph", "plot_training_curves", "figures_dir", "savefig"]


def _fmt_array(a, max_items=3):
    a = np.asarray(a.get() if hasattr(a, "get") else a)  # CuPy arrays come to the host
    flat = a.reshape(-1)
    items = ", ".join(f"{v:.3g}" for v in flat[:max_items])
    if flat.size > max_items:
        items += ", …"
    return f"[{items}]" if a.ndim else items


def _tensor_label(t: Tensor, name: str | None, show_values: bool):
    head = name + " " if name else ""
    lines = [f"{head}{tuple(t.shape)}"]
    if show_values and t.array.size <= 4:
        lines.append("= " + _fmt_array(t.array))
    if t.grad is not None:
        lines.append("grad " + _fmt_array(t.grad.array))
    return "\n".join(lines)


def _collect(root: Tensor):
    """Nodes and edges of the graph that ends in ``root``.

    Nodes are ``("t", tensor)`` and ``("f", function)`` keyed by ``id``; an edge ``(a, b)``
    means data flows from node ``a`` into node ``b`` in the forward pass."""
    nodes = {id(root): ("t", root)}
    edges = []
    stack = [root]
    seen_fn = set()
    while stack:
        t = stack.pop()
        fn = t.grad_fn
        if fn is None or id(fn) in seen_fn:
            if fn is not None:
                edges.append((id(fn), id(t)))
            continue
        seen_fn.add(id(fn))
        nodes[id(fn)] = ("f", fn)
        edges.append((id(fn), id(t)))
        for inp in fn.inputs:
            if inp is None:
                continue
            if id(inp) not in nodes:
                nodes[id(inp)] = ("t", inp)
                stack.append(inp)
            edges.append((id(inp), id(fn)))
    edges = list(dict.fromkeys(edges))
    return nodes, edges


def _depths(nodes, edges, root_key):
    """Longest distance of each node from the root (so every arrow points to a smaller depth)."""
    consumers = {k: [] for k in nodes}
    producers = {k: [] for k in nodes}
    for a, b in edges:
        consumers[a].append(b)
        producers[b].append(a)
    depth = {}
    for k in topological_order([root_key], producers.__getitem__):  # consumers before producers
        depth[k] = 0 if not consumers[k] else 1 + max(depth[c] for c in consumers[k])
    return depth


_COL_W, _ROW_H, _BOX_W, _BOX_H = 3.8, 1.5, 3.2, 1.1  # graph layout, in data units


def _positions(columns, max_depth):
    """(x, y) of each node: one column per depth (the root on the right), rows centred."""
    pos = {}
    for d, keys in columns.items():
        x = (max_depth - d) * _COL_W
        for i, k in enumerate(keys):
            pos[k] = (x, (i - (len(keys) - 1) / 2) * _ROW_H)
    return pos


def _draw_boxes(ax, nodes, pos, label_of, show_values):
    """One box per node (ops orange, leaves blue, other tensors grey); the labels in order."""
    from matplotlib.patches import FancyBboxPatch

    labels = []
    for k, (kind, obj) in nodes.items():
        x, y = pos[k]
        if kind == "f":
            text, face = type(obj).__name__, "#fdd9a0"
        else:
            text = _tensor_label(obj, label_of.get(k), show_values)
            face = "#c6dbef" if obj.grad_fn is None else "#e5e5e5"
        box = FancyBboxPatch(
            (x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
            boxstyle="round,pad=0.05", facecolor=face, edgecolor="black", linewidth=1.0,
        )
        ax.add_patch(box)
        ax.text(x, y, text, ha="center", va="center", fontsize=7, family="monospace")
        labels.append(text)
    return labels


def _draw_edges(ax, edges, pos):
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate(
            "", xy=(xb - _BOX_W / 2, yb), xytext=(xa + _BOX_W / 2, ya),
            arrowprops=dict(arrowstyle="->", color="#444444", shrinkA=2, shrinkB=2),
        )


def draw_graph(tensor: Tensor, names: dict | None = None, ax=None, show_values: bool = True):
    """Draw the computational graph that produced ``tensor``; return the matplotlib Figure.

    ``names`` maps labels to Tensors (``{"x": x, "w": w}``) to name some boxes. Op boxes
    (orange) carry the Function's class name; tensor boxes (blue for leaves, grey otherwise)
    carry the shape, the values when there are at most four, and ``grad`` when present (call
    ``retain_grad()`` on intermediate tensors to keep theirs). One box per node; the figure's
    ``minidl_nodes`` attribute lists the node labels in drawing order.
    """
    import matplotlib.pyplot as plt

    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    label_of = {id(t): n for n, t in (names or {}).items()}
    nodes, edges = _collect(tensor)
    depth = _depths(nodes, edges, id(tensor))
    max_depth = max(depth.values())
    columns = {}
    for k in nodes:  # insertion order: root first, then a depth-first walk
        columns.setdefault(depth[k], []).append(k)
    n_rows = max(len(c) for c in columns.values())
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * (max_depth + 1) * _COL_W / 1.6), max(2.5, 1.2 * n_rows)))
    else:
        fig = ax.figure
    pos = _positions(columns, max_depth)
    labels = _draw_boxes(ax, nodes, pos, label_of, show_values)
    _draw_edges(ax, edges, pos)
    ax.set_xlim(-_COL_W / 2 - 0.2, max_depth * _COL_W + _COL_W / 2 + 0.2)
    half = max(n_rows * _ROW_H / 2, _BOX_H)
    ax.set_ylim(-half - 0.2, half + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.minidl_nodes = labels
    return fig


def plot_training_curves(history: dict, title: str | None = None, ax=None):
    """Plot a training history ``{"loss": [...], "val_loss": [...], "accuracy": [...]}``.

    Keys with "loss" in their name share the left panel; any others (metrics) go to a right
    panel. ``history`` may also be a Keras ``History`` (its ``.history`` dict). Returns the Figure.
    """
    import matplotlib.pyplot as plt

    history = getattr(history, "history", history)
    if not history:
        raise ValueError("plot_training_curves: the history is empty")
    losses = {k: v for k, v in history.items() if "loss" in k}
    metrics = {k: v for k, v in history.items() if "loss" not in k}
    groups = [g for g in (losses, metrics) if g]
    if ax is None:
        fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.5), squeeze=False)
        axes = list(axes[0])
    else:
        fig, axes = ax.figure, [ax] * len(groups)
    for a, group, ylabel in zip(axes, groups, ["loss" if losses else "metric", "metric"]):
        for k, values in group.items():
            values = [float(v) for v in values]
            a.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=k)
        a.set_xlabel("epoch")
        a.set_ylabel(ylabel)
        a.grid(alpha=0.3)
        a.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def figures_dir() -> Path:
    """The folder figures are saved to (created if missing).

    ``MINIDL_FIGURES``, when set, names it (tests and ``benchmarks/notebook_seeds.py`` point it to a
    temporary folder, so that the committed figures are rewritten only on purpose). Otherwise the
    repository's ``figures/``, looked for upwards from the current folder (a folder holding both
    ``pyproject.toml`` and ``minidl/``), then next to the installed package."""
    chosen = os.environ.get("MINIDL_FIGURES")
    if chosen:
        out = Path(chosen).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        return out
    cwd = Path.cwd().resolve()
    for p in (cwd, *cwd.parents):
        if (p / "pyproject.toml").is_file() and (p / "minidl").is_dir():
            root = p
            break
    else:
        root = Path(__file__).resolve().parents[1]
    out = root / "figures"
    out.mkdir(exist_ok=True)
    return out


def savefig(fig, name: str, dpi: int = 110) -> Path:
    """Save ``fig`` as ``<figures_dir()>/<name>`` (``.png`` added when missing); return the path."""
    if not name.endswith(".png"):
        name += ".png"
    path = figures_dir() / name
    from ._files import atomic_write

    with atomic_write(path) as f:  # a figure is replaced whole or not at all
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    return path
