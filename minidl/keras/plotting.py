"""``keras.utils.plot_model``: a picture of a model's layers and how they connect, drawn with
matplotlib by minidl's graph drawing (``minidl.viz``'s boxes and arrows), not Graphviz.

    keras.utils.plot_model(model, "model.png", show_shapes=True)

A functional model is drawn from its recorded graph (one box per layer, an arrow per tensor
passed on, inputs in the left column, each layer one column right of its last input); a
Sequential model as a chain. The file is written atomically; the matplotlib Figure is returned
(its ``minidl_nodes`` attribute lists the box labels).
"""

from __future__ import annotations

import os

from .._files import atomic_write
from .layers.input_layer import InputLayer
from .layers.shapes import shape_str


def _graph(model):
    """(layers in order, edges as (from, to) layer pairs)."""
    nodes = getattr(model, "_all_nodes", None)
    if nodes is None:  # Sequential or subclassed: a chain of its layers
        layers = list(model.layers)
        return layers, list(zip(layers[:-1], layers[1:]))
    layers, edges = [], []
    for node in nodes:
        if node.layer not in layers:
            layers.append(node.layer)
        for t in node.input_tensors:
            edge = (t.node.layer, node.layer)
            if edge not in edges:
                edges.append(edge)
    return layers, edges


def _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations):
    kind = "InputLayer" if isinstance(layer, InputLayer) else type(layer).__name__
    lines = [f"{layer.name} ({kind})" if show_layer_names else kind]
    if show_layer_activations and hasattr(layer, "activation"):
        from . import activations

        lines.append(f"activation: {activations.serialize(layer.activation)}")
    if show_shapes:
        try:
            shape = layer._batch_input_shape if isinstance(layer, InputLayer) else layer.output_shape
            lines.append(f"output: {shape_str(shape)}")
        except (AttributeError, NotImplementedError, ValueError):
            lines.append("output: ?")
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'input_dtype', layer.dtype)}")
    return "\n".join(lines)


def _columns(layers, edges):
    column = {}
    for layer in layers:  # the recorded order is topological
        inputs = [a for a, b in edges if b is layer]
        column[id(layer)] = 1 + max((column[id(a)] for a in inputs), default=-1)
    return column


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=96, layer_range=None, show_layer_activations=False,
               show_trainable=False, **kwargs):
    """Draw ``model`` into ``to_file`` (PNG, PDF or SVG by extension); returns the Figure."""
    import matplotlib

    matplotlib.use(os.environ.get("MPLBACKEND") or "Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    layers, edges = _graph(model)
    if not layers:
        raise ValueError(f'plot_model: model "{model.name}" has no layers to draw')
    column = _columns(layers, edges)
    rows = {}
    pos = {}
    for layer in layers:
        c = column[id(layer)]
        pos[id(layer)] = (c, rows.get(c, 0))
        rows[c] = rows.get(c, 0) + 1
    vertical = rankdir.upper() in ("TB", "BT")
    width, height = max(column.values()) + 1, max(rows.values())

    def xy(layer):
        c, r = pos[id(layer)]
        x, y = (r * 4.2, -c * 1.8) if vertical else (c * 4.2, -r * 1.8)
        return x, y

    size = (max(4.0, 3.4 * (height if vertical else width)), max(2.5, 1.5 * (width if vertical else height)))
    fig, ax = plt.subplots(figsize=size)
    labels = []
    for layer in layers:
        text = _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations)
        x, y = xy(layer)
        ax.add_patch(FancyBboxPatch((x - 1.8, y - 0.55), 3.6, 1.1, boxstyle="round,pad=0.05",
                                    facecolor="#c6dbef" if isinstance(layer, InputLayer) else "#fdd9a0",
                                    edgecolor="black", linewidth=1.0))
        ax.text(x, y, text, ha="center", va="center", fontsize=7, family="monospace")
        labels.append(text)
    for a, b in edges:
        (xa, ya), (xb, yb) = xy(a), xy(b)
        start, end = ((xa, ya - 0.6), (xb, yb + 0.6)) if vertical else ((xa + 1.85, ya), (xb - 1.85, yb))
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="#444444"))
    xs = [xy(layer)[0] for layer in layers]
    ys = [xy(layer)[1] for layer in layers]
    ax.set_xlim(min(xs) - 2.2, max(xs) + 2.2)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.minidl_nodes = labels
    if to_file:
        fmt = os.path.splitext(str(to_file))[1].lstrip(".").lower() or "png"
        with atomic_write(to_file) as f:
            fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return fig


def model_to_dot(model, *args, **kwargs):
    raise NotImplementedError("model_to_dot needs Graphviz (pydot), which minidl does not use; plot_model draws "
                              "the model with matplotlib instead")
