"""``model.summary()``: Keras's table of layers (name and type), output shapes and parameter
counts, then the totals with their sizes in bytes (each weight counted in its own dtype)."""

from __future__ import annotations

import math

from .layers.shapes import shape_str


def _size(n_bytes):
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.2f} {unit}"
    return f"{n_bytes:.2f} B"


def layer_rows(layers):
    """One row ``(name (type), output shape, parameter count)`` per layer."""
    rows = []
    for layer in layers:
        try:
            shape = shape_str(layer.output_shape)
        except (AttributeError, NotImplementedError, ValueError):
            shape = "?"
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))
    return rows


def _table(rows, line_length):
    w_layer = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 3
    w_shape = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 3
    w_params = max([len("Param #")] + [len(f"{r[2]:,}") for r in rows]) + 1
    if line_length is not None:
        w_layer = max(w_layer, line_length - w_shape - w_params - 1)
    width = 1 + w_layer + w_shape + w_params
    lines = ["_" * width,
             " " + "Layer (type)".ljust(w_layer) + "Output Shape".ljust(w_shape) + "Param #".rjust(w_params),
             "=" * width]
    for i, (name, shape, params) in enumerate(rows):
        lines.append(" " + name.ljust(w_layer) + shape.ljust(w_shape) + f"{params:,}".rjust(w_params))
        if i < len(rows) - 1:
            lines.append("")
    lines.append("=" * width)
    return lines, width


def _totals(model):
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    total = sum(math.prod(w.shape) for w in model.weights)
    t_bytes = sum(math.prod(w.shape) * w.dtype.itemsize for w in model.trainable_weights)
    all_bytes = sum(math.prod(w.shape) * w.dtype.itemsize for w in model.weights)
    return [f"Total params: {total:,} ({_size(all_bytes)})",
            f"Trainable params: {trainable:,} ({_size(t_bytes)})",
            f"Non-trainable params: {total - trainable:,} ({_size(all_bytes - t_bytes)})"]


def print_summary(model, line_length=None, print_fn=None):
    """Print the summary of a built ``model`` line by line with ``print_fn`` (``print``)."""
    if not model.built:
        raise ValueError(
            f'Model "{model.name}" has not yet been built. Build it first by calling build(input_shape) or by '
            "calling the model on a batch of data (or give the first layer an input_shape)."
        )
    print_fn = print_fn or print
    table, width = _table(model._summary_rows(), line_length)
    for line in [f'Model: "{model.name}"'] + table + _totals(model) + ["_" * width]:
        print_fn(line)
