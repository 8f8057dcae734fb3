"""Saving and loading Keras models: ``model.save``, ``save_weights``, ``load_weights``,
``load_model`` and the config plumbing that rebuilds a model from its JSON description.

``save_model(model, path)`` writes one zip archive (Keras's ``.keras`` layout) holding
``config.json`` (the architecture and the compile arguments, JSON) and ``model.weights.npz``
(the weights in Keras's layouts and order, NumPy's format, read back with allow_pickle=False);
nothing is pickled and ``load_model`` rebuilds the model from the config. Every file is written
to a temporary file in the target folder that then replaces the target in one ``os.replace``,
so an interrupted save never leaves a corrupt file behind.

A model class is found by its name in the registry of layer classes (``Sequential`` and
``Functional`` register themselves as every ``Layer`` subclass does); a ``from_config`` that takes
``custom_objects`` (the model classes) receives them, so nested models resolve user classes too.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import tempfile
import zipfile

import numpy

from .. import backend
from . import activations, losses, optimizers
from . import metrics as metrics_module
from .layers.base import LAYER_CLASSES

FORMAT = "minidl.keras/1"
_NAMES_KEY = "__weight_names__"


# ---- files -------------------------------------------------------------------------------------
def _minidl_version():
    import minidl

    return getattr(minidl, "__version__", "unknown")


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(os.fspath(filepath)):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False")


def _atomic_write(filepath, write):
    """Write through a temporary file in the same folder, then ``os.replace`` it onto ``filepath``
    (atomic on POSIX and Windows); on any error the temporary file is removed and the old file,
    if any, is untouched."""
    path = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ---- weights -----------------------------------------------------------------------------------
def _weights_npz(entries):
    """The weights as the bytes of an .npz file: arrays w0000, w0001, ... and their names."""
    buf = io.BytesIO()
    arrays = {f"w{i:04d}": backend.as_numpy(w.data) for i, (_, w) in enumerate(entries)}
    arrays[_NAMES_KEY] = numpy.array([p for p, _ in entries] or [""], dtype=str)
    numpy.savez(buf, **arrays)
    return buf.getvalue()


def _read_weights(data, source):
    try:
        with numpy.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = [str(n) for n in npz[_NAMES_KEY]] if _NAMES_KEY in npz.files else []
            keys = sorted(k for k in npz.files if k != _NAMES_KEY)
            arrays = [npz[k] for k in keys]
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"{source}: the weights are not readable ({exc})") from exc
    if names == [""] and not arrays:
        names = []
    return (names if len(names) == len(arrays) else [f"weight {i}" for i in range(len(arrays))]), arrays


def weight_entries(model):
    """The model's weights as ``(path, Parameter)`` pairs, in Keras's order."""
    return model._named_weights(prefix="")


def assign_weights(model, names, arrays, source):
    """Set ``model``'s weights to ``arrays`` (read from ``source``) after checking count and shapes."""
    entries = weight_entries(model)
    if len(arrays) != len(entries):
        raise ValueError(
            f'{source} holds {len(arrays)} weights, but model "{model.name}" has {len(entries)} '
            f"({', '.join(p for p, _ in entries[:6])}{', ...' if len(entries) > 6 else ''})"
        )
    for (path, w), name, a in zip(entries, names, arrays):
        if tuple(a.shape) != tuple(w.shape):
            raise ValueError(f"{source}: weight {name} has shape {tuple(a.shape)}, but the model's {path} has "
                             f"shape {tuple(w.shape)}")
    model.set_weights(arrays)


def save_weights(model, filepath, overwrite=True):
    """Write the weights (Keras's layouts and order) to a ``.npz`` file, atomically."""
    entries = weight_entries(model)
    if not entries:
        raise ValueError(f'Model "{model.name}" has no weights yet: build it first')
    _check_overwrite(filepath, overwrite)
    data = _weights_npz(entries)
    _atomic_write(filepath, lambda f: f.write(data))


def load_weights(model, filepath, skip_mismatch=False):
    """Read weights written by ``save_weights`` (or from a ``save``d model file) into ``model``
    (matched by order; shapes must agree)."""
    path = os.fspath(filepath)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if "model.weights.npz" in z.namelist():
                names, arrays = _read_weights(z.read("model.weights.npz"), path)
            else:
                names, arrays = _read_weights(open(path, "rb").read(), path)
    else:
        raise ValueError(f"load_weights: {path} is not a weights file written by save_weights or save")
    if not model.built:
        raise ValueError(f'Model "{model.name}" must be built before load_weights (call it or build it)')
    assign_weights(model, names, arrays, path)


# ---- whole models ------------------------------------------------------------------------------
def compile_config(model):
    """The compile arguments as JSON (None when something in them cannot be saved)."""
    if model._compile_args is None:
        return None
    args = model._compile_args
    try:
        loss = args["loss"] if isinstance(args["loss"], str) else losses.serialize(model.compiled_loss)
        metrics = [m if isinstance(m, str) else metrics_module.serialize(obj)
                   for m, obj in zip(args["metrics"], model.compiled_metrics)]
        return {"optimizer": optimizers.serialize(model.optimizer), "loss": loss, "metrics": metrics}
    except ValueError:
        return None


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write the model (architecture as JSON, weights as .npz, compile arguments) to one zip
    archive, atomically (see the module docstring). ``load_model`` reads it."""
    config = {"class_name": type(model).__name__, "config": model.get_config()}
    if not model.built:
        raise ValueError(f'Model "{model.name}" must be built before it can be saved')
    document = {
        "format": FORMAT,
        "minidl_version": _minidl_version(),
        "model": config,
        "compile_config": compile_config(model),
    }
    config_text = json.dumps(document, indent=2)
    weights = _weights_npz(weight_entries(model))
    _check_overwrite(filepath, overwrite)

    def write(f):
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("config.json", config_text, compress_type=zipfile.ZIP_DEFLATED)
            z.writestr("model.weights.npz", weights, compress_type=zipfile.ZIP_STORED)

    _atomic_write(filepath, write)


def layer_from_config(entry, custom_objects=None):
    """A layer or model from ``{'class_name': ..., 'config': ...}`` (``custom_objects`` first)."""
    custom_objects = custom_objects or {}
    name = entry["class_name"]
    cls = custom_objects.get(name) or LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {name!r} in the saved config. Pass custom_objects={{'{name}': {name}}} to "
            "load_model for your own layers"
        )
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(entry["config"], custom_objects)
    return cls.from_config(dict(entry["config"]))


def model_from_config(document, custom_objects=None):
    """A model (with fresh weights) from the dict ``{'class_name': ..., 'config': ...}``."""
    saved_custom = dict(activations._CUSTOM)
    activations._CUSTOM.update({k: v for k, v in (custom_objects or {}).items() if callable(v)
                                and not isinstance(v, type)})
    try:
        return layer_from_config(document, custom_objects)
    finally:
        activations._CUSTOM.clear()
        activations._CUSTOM.update(saved_custom)


def _compile_from_config(model, config):
    model.compile(optimizer=config["optimizer"] if isinstance(config["optimizer"], str)
                  else optimizers.get(config["optimizer"]),
                  loss=config["loss"] if isinstance(config["loss"], str) else losses.get(config["loss"]),
                  metrics=[m if isinstance(m, str) else metrics_module.get(m) for m in config["metrics"]])


def load_model(filepath, custom_objects=None, compile=True, device=None):  # noqa: A002 - Keras's argument name
    """Rebuild a model written by ``model.save``: the architecture from its JSON config, then its
    weights; compiled again with the saved optimizer, loss and metrics (``compile=False`` skips
    that). ``device`` moves it there."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no file at {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "config.json" not in names or "model.weights.npz" not in names:
                raise ValueError("it does not hold config.json and model.weights.npz")
            document = json.loads(z.read("config.json").decode("utf-8"))
            weights = z.read("model.weights.npz")
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, ValueError, EOFError) as exc:
        raise ValueError(f"load_model: {path} is not a model file written by model.save ({exc})") from exc
    if document.get("format") != FORMAT:
        raise ValueError(f"load_model: {path} has format {document.get('format')!r}, expected {FORMAT!r}")
    model = model_from_config(document["model"], custom_objects)
    if device is not None:
        model.to(device)
    names, arrays = _read_weights(weights, path)
    assign_weights(model, names, arrays, path)
    saved_compile = document.get("compile_config")
    if compile and saved_compile:
        _compile_from_config(model, saved_compile)
    return model


def clone_model(model):
    """A new model with the same architecture and fresh weights."""
    return model_from_config({"class_name": type(model).__name__, "config": model.get_config()})
