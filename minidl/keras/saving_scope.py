"""Where a saved config finds the user's own classes: ``custom_objects=`` arguments, the
``custom_object_scope`` context, and classes registered with ``register_keras_serializable``
(Keras's ``keras.saving`` / ``keras.utils`` names).

    with keras.utils.custom_object_scope({"MyLayer": MyLayer}):
        model = keras.models.model_from_json(text)
"""

from __future__ import annotations

import contextlib

_SCOPES: list = []
_REGISTERED: dict = {}


@contextlib.contextmanager
def custom_object_scope(*scopes):
    """Within the block, configs may name the classes of the given dicts."""
    merged = {}
    for scope in scopes:
        if scope is not None:
            merged.update(scope)
    _SCOPES.append(merged)
    try:
        yield merged
    finally:
        _SCOPES.pop()


CustomObjectScope = custom_object_scope


def register_keras_serializable(package="Custom", name=None):
    """A class decorator: the class is found by name in any config from now on."""

    def register(cls):
        key = name or cls.__name__
        _REGISTERED[key] = cls
        _REGISTERED[f"{package}>{key}"] = cls
        return cls

    return register


def get_custom_objects():
    """The registered classes (a dict one may also add to)."""
    return _REGISTERED


def scoped(custom_objects=None):
    """The registered classes, the active scopes and ``custom_objects`` (later ones win)."""
    out = dict(_REGISTERED)
    for scope in _SCOPES:
        out.update(scope)
    out.update(custom_objects or {})
    return out
