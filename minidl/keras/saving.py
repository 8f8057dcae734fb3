"""Saving and loading Keras models: ``model.save``, ``save_weights``, ``load_weights``,
``load_model`` and the config plumbing that rebuilds a model from its JSON description.

``save_model(model, path)`` writes one zip archive (Keras's ``.keras`` layout) holding
``config.json`` (the architecture and the compile arguments, JSON) and ``model.weights.npz``
(the weights in Keras's layouts and order, NumPy's format); nothing is pickled and
``load_model`` rebuilds the model from the config. Every file is written atomically
(``minidl._files.atomic_write``): a save killed at any moment leaves the previous file whole.

Loading treats the file as hostile. Members' sizes are checked against a limit (``max_bytes=``,
else ``$MINIDL_MAX_LOAD_BYTES``, else 4 GiB) before they are read; the config is checked for its
structure, and while the model is rebuilt from it every weight is charged, before it is allocated,
against the size of the weights the file holds (so a config that declares enormous layers fails
at once, in bounded memory); weights are matched to the model's by their index (``w0``, ``w1``,
..., read as numbers, so models with more than 10,000 weights keep their order), shapes must agree
and values must fit the weights' dtypes. Any malformation raises ``FileFormatError`` (a
``ValueError``) naming the file and what is wrong.

A model class is found by its name in the registry of layer classes (``Sequential`` and
``Functional`` register themselves as every ``Layer`` subclass does) or in ``custom_objects``;
nothing else is ever imported or instantiated. A ``from_config`` that takes ``custom_objects``
(the model classes) receives them, so nested models resolve user classes too.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import zipfile

import numpy

from .. import backend
from .._files import (
    CORRUPT_FILE_ERRORS,
    FileFormatError,
    allocation_budget,
    atomic_write,
    check_size,
    max_load_bytes,
    parse_json,
    read_limited,
)
from ..serialization import cast_exactly, read_npz, write_npz
from . import activations, losses, optimizers
from . import metrics as metrics_module
from .layers.base import LAYER_CLASSES
from .saving_scope import scoped

FORMAT = "minidl.keras/1"
_NAMES_KEY = "__weight_names__"
_WEIGHT_KEY = re.compile(r"w(\d+)")
_CONFIG_MEMBER, _WEIGHTS_MEMBER = "config.json", "model.weights.npz"
_MAX_CONFIG_BYTES = 64 << 20  # a config is text describing layers: megabytes at most


# ---- files -------------------------------------------------------------------------------------
def _minidl_version():
    import minidl

    return getattr(minidl, "__version__", "unknown")


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(os.fspath(filepath)):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False")


def _read_member(archive, name, path, limit):
    """The bytes of member ``name`` of an open zip ``archive``, its declared size checked first."""
    info = archive.getinfo(name)
    check_size(path, f"member {name}", info.file_size, limit)
    with archive.open(info) as f:
        data = read_limited(f, path, limit, f"member {name}")
    if len(data) != info.file_size:
        raise FileFormatError(path, f"member {name} holds {len(data):,} bytes, its entry says {info.file_size:,}")
    return data


# ---- weights -----------------------------------------------------------------------------------
def _weight_arrays(entries):
    """The weights as the arrays of an .npz: w0, w1, ... (Keras's order) and their names."""
    arrays = {f"w{i:04d}": backend.as_numpy(w.array) for i, (_, w) in enumerate(entries)}
    arrays[_NAMES_KEY] = numpy.array([p for p, _ in entries], dtype=str)
    return arrays


def _weights_npz(entries):
    """The bytes of the weights' .npz (the member of a ``.keras`` archive)."""
    buf = io.BytesIO()
    write_npz(buf, _weight_arrays(entries))
    return buf.getvalue()


def _order_weights(arrays, source):
    """``(names, arrays)`` in the order of the members' indices (``w<i>`` read as a number)."""
    names = arrays.pop(_NAMES_KEY, None)
    indexed = {}
    for key, array in arrays.items():
        match = _WEIGHT_KEY.fullmatch(key)
        if match is None or int(match.group(1)) in indexed:
            raise FileFormatError(source, f"the weights file has a member {key!r}, not one of w0, w1, ...")
        indexed[int(match.group(1))] = array
    if sorted(indexed) != list(range(len(indexed))):
        missing = sorted(set(range(len(indexed))) - set(indexed))[:5]
        raise FileFormatError(source, f"the weights are numbered with gaps (w{missing[0]} is missing)")
    ordered = [indexed[i] for i in range(len(indexed))]
    for i, a in enumerate(ordered):
        if a.dtype.kind not in "biufc":
            raise FileFormatError(source, f"weight w{i} has dtype {a.dtype}, not a number type")
    if names is None or (names.shape == (1,) and str(names[0]) == "" and not ordered):
        return [f"weight {i}" for i in range(len(ordered))], ordered
    if names.dtype.kind != "U" or names.shape != (len(ordered),):
        raise FileFormatError(source, f"the list of weight names has shape {names.shape}, for {len(ordered)} weights")
    return [str(n) for n in names], ordered


def _read_weights(data, source, max_bytes=None):
    """``(names, arrays)`` from the bytes of a weights .npz (or a path to one)."""
    stream = data if isinstance(data, (str, os.PathLike)) else io.BytesIO(data)
    return _order_weights(read_npz(stream, name=os.fspath(source), max_bytes=max_bytes), source)


def weight_entries(model):
    """The model's weights as ``(path, Parameter)`` pairs, in Keras's order."""
    return model._named_weights(prefix="")


def assign_weights(model, names, arrays, source):
    """Set ``model``'s weights to ``arrays`` (read from ``source``) after checking count, shapes and
    that every value fits the weight's dtype; nothing is assigned unless all of them pass."""
    entries = weight_entries(model)
    if len(arrays) != len(entries):
        raise ValueError(
            f'{source} holds {len(arrays)} weights, but model "{model.name}" has {len(entries)} '
            f"({', '.join(p for p, _ in entries[:6])}{', ...' if len(entries) > 6 else ''})"
        )
    checked = []
    for (path, w), name, a in zip(entries, names, arrays):
        if tuple(a.shape) != tuple(w.shape):
            raise ValueError(f"{source}: weight {name} has shape {tuple(a.shape)}, but the model's {path} has "
                             f"shape {tuple(w.shape)}")
        checked.append(cast_exactly(a, w.dtype, f"{source}: weight {name} (the model's {path})"))
    model.set_weights(checked)


def save_weights(model, filepath, overwrite=True):
    """Write the weights (Keras's layouts and order) to a ``.npz`` file, atomically."""
    entries = weight_entries(model)
    if not entries:
        raise ValueError(f'Model "{model.name}" has no weights yet: build it first')
    _check_overwrite(filepath, overwrite)
    arrays = _weight_arrays(entries)
    with atomic_write(filepath) as f:
        write_npz(f, arrays)


def _open_weights(path, max_bytes):
    """``(names, arrays)`` of a weights file or of the weights inside a ``.keras`` archive."""
    limit = max_load_bytes(max_bytes)
    with open(path, "rb") as f:  # a missing file stays a FileNotFoundError
        try:
            with zipfile.ZipFile(f) as z:
                members = z.namelist()
                data = _read_member(z, _WEIGHTS_MEMBER, path, limit) if _WEIGHTS_MEMBER in members else None
        except FileFormatError:
            raise
        except (zipfile.BadZipFile, *CORRUPT_FILE_ERRORS) as exc:
            raise FileFormatError(path, f"not a weights file written by save_weights or save ({exc})") from exc
    return _read_weights(path if data is None else data, path, limit)


def load_weights(model, filepath, skip_mismatch=False, max_bytes=None):
    """Read weights written by ``save_weights`` (or from a ``save``d model file) into ``model``:
    matched by their index in Keras's order; shapes must agree and values must fit."""
    path = os.fspath(filepath)
    names, arrays = _open_weights(path, max_bytes)
    if not model.built:
        raise ValueError(f'Model "{model.name}" must be built before load_weights (call it or build it)')
    assign_weights(model, names, arrays, path)


# ---- whole models ------------------------------------------------------------------------------
def compile_config(model):
    """The compile arguments as JSON (None when something in them cannot be saved)."""
    if model._compile_args is None:
        return None
    args = model._compile_args
    if args["metrics"] is None or args["loss"] is None or isinstance(args["loss"], (list, dict)) or \
            args["loss_weights"] is not None:
        return None  # several outputs: not recorded (compile the loaded model again)
    try:
        loss = args["loss"] if isinstance(args["loss"], str) else losses.serialize(model.compiled_loss.single)
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
    with atomic_write(filepath) as f, zipfile.ZipFile(f, "w") as z:
        z.writestr(_CONFIG_MEMBER, config_text, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(_WEIGHTS_MEMBER, weights, compress_type=zipfile.ZIP_STORED)


# ---- configs -----------------------------------------------------------------------------------
def _check_entry(entry, where="the model"):
    """A config entry must be ``{"class_name": str, "config": dict}`` (checked before any lookup)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ValueError(f"the config of {where} is not {{'class_name': <str>, 'config': <dict>}}: "
                         f"{str(entry)[:80]}")
    return entry["class_name"]


def layer_from_config(entry, custom_objects=None):
    """A layer or model from ``{'class_name': ..., 'config': ...}``: the class is looked up in
    ``custom_objects``, then in the registry of layer classes; nothing else is instantiated."""
    custom_objects = scoped(custom_objects)
    name = _check_entry(entry)
    cls = custom_objects.get(name) or LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {name!r} in the saved config. Pass custom_objects={{'{name}': {name}}} to "
            "load_model for your own layers"
        )
    if not isinstance(cls, type) or not hasattr(cls, "from_config"):
        raise ValueError(f"custom_objects[{name!r}] is not a layer class")
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


def _build_from_file(entry, custom_objects, path, budget, what, limit):
    """``model_from_config`` for a config read from ``path``: every weight it asks for is charged
    against ``budget`` bytes before allocation, every dry-run input must fit in ``limit``; any
    error is a FileFormatError."""
    try:
        with allocation_budget(path, budget, what, temporary_limit=limit):
            return model_from_config(entry, custom_objects)
    except FileFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        raise FileFormatError(path, f"the model config cannot be built: {type(exc).__name__}: {exc}") from exc


def _read_document(path, limit):
    """The parsed config.json and the declared size of the weights of a ``.keras`` archive."""
    with open(path, "rb") as f:  # a missing file stays a FileNotFoundError
        try:
            with zipfile.ZipFile(f) as z:
                names = z.namelist()
                if _CONFIG_MEMBER not in names or _WEIGHTS_MEMBER not in names:
                    raise FileFormatError(path, f"not a model file written by model.save (it does not hold "
                                                f"{_CONFIG_MEMBER} and {_WEIGHTS_MEMBER})")
                config = _read_member(z, _CONFIG_MEMBER, path, min(limit, _MAX_CONFIG_BYTES))
                weights = _read_member(z, _WEIGHTS_MEMBER, path, limit)
        except FileFormatError:
            raise
        except (zipfile.BadZipFile, *CORRUPT_FILE_ERRORS) as exc:
            problem = f"not a model file written by model.save ({type(exc).__name__}: {exc})"
            raise FileFormatError(path, problem) from exc
    document = parse_json(config, path, f"JSON in {_CONFIG_MEMBER}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise FileFormatError(path, f"{_CONFIG_MEMBER} has format {found!r}, expected {FORMAT!r}")
    try:
        _check_entry(document.get("model"))
    except ValueError as exc:
        raise FileFormatError(path, str(exc)) from exc
    compile_doc = document.get("compile_config")
    if compile_doc is not None and not (isinstance(compile_doc, dict) and {"optimizer", "loss", "metrics"}
                                        <= compile_doc.keys() and isinstance(compile_doc["metrics"], list)):
        raise FileFormatError(path, f"{_CONFIG_MEMBER}: compile_config is not {{optimizer, loss, metrics}}")
    return document, weights


def _compile_from_config(model, config):
    model.compile(optimizer=config["optimizer"] if isinstance(config["optimizer"], str)
                  else optimizers.get(config["optimizer"]),
                  loss=config["loss"] if isinstance(config["loss"], str) else losses.get(config["loss"]),
                  metrics=[m if isinstance(m, str) else metrics_module.get(m) for m in config["metrics"]])


def load_model(filepath, custom_objects=None, compile=True, device=None, max_bytes=None):  # noqa: A002 - Keras's name
    """Rebuild a model written by ``model.save``: the architecture from its JSON config, then its
    weights; compiled again with the saved optimizer, loss and metrics (``compile=False`` skips
    that). ``device`` moves it there. The file is checked as the module docstring says."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no file at {path}")
    limit = max_load_bytes(max_bytes)
    document, weights = _read_document(path, limit)
    # the weights of the model the config describes must fit in the bytes the file holds for them
    what = f"the config declares more weights than its {len(weights):,}-byte {_WEIGHTS_MEMBER}"
    model = _build_from_file(document["model"], custom_objects, path, len(weights), what, limit)
    names, arrays = _read_weights(weights, path, limit)
    if device is not None:
        model.to(device)
    try:
        assign_weights(model, names, arrays, path)
    except ValueError as exc:
        raise FileFormatError(path, f"the weights do not fit the model: {exc}") from exc
    saved_compile = document.get("compile_config")
    if compile and saved_compile:
        try:
            _compile_from_config(model, saved_compile)
        except (ValueError, TypeError, KeyError) as exc:
            raise FileFormatError(path, f"compile_config cannot be used: {type(exc).__name__}: {exc}") from exc
    return model


def model_from_json(json_string, custom_objects=None, max_bytes=None, source="<json>"):
    """A model with fresh weights from ``{'class_name': ..., 'config': ...}`` as JSON text (what
    ``python -m minidl train`` writes as ``model.json``); weights the config declares are charged
    against ``max_load_bytes(max_bytes)`` before they are allocated."""
    limit = max_load_bytes(max_bytes)
    check_size(source, "the JSON config", len(json_string), min(limit, _MAX_CONFIG_BYTES))
    entry = parse_json(json_string, source, "a JSON model config")
    try:
        _check_entry(entry)
    except ValueError as exc:
        raise FileFormatError(source, str(exc)) from exc
    return _build_from_file(entry, custom_objects, source, limit, "the config declares more weights than allowed",
                            limit)


def load_model_config(filepath, custom_objects=None, max_bytes=None):
    """``model_from_json`` of the file at ``filepath`` (e.g. a run's ``model.json``)."""
    path = os.fspath(filepath)
    limit = max_load_bytes(max_bytes)
    with open(path, "rb") as f:
        data = read_limited(f, path, min(limit, _MAX_CONFIG_BYTES), "the JSON config")
    return model_from_json(data, custom_objects, max_bytes=limit, source=path)


def clone_model(model):
    """A new model with the same architecture and fresh weights."""
    return model_from_config({"class_name": type(model).__name__, "config": model.get_config()})
