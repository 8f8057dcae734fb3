"""Where the random orders of samplers, loaders and ``random_split`` come from.

A ``generator=`` is a ``numpy.random.Generator`` (or an object that has one as its
``numpy_generator`` attribute or method, as a torch-style ``Generator`` may), a ``seed=`` an
integer; with neither, each draw seeds a fresh Generator from minidl's host generator, so that
``minidl.manual_seed`` repeats a run.
"""

from __future__ import annotations

import numpy

from ... import backend


def as_numpy_generator(generator, where):
    """``generator`` as a ``numpy.random.Generator`` (None stays None)."""
    if generator is None or isinstance(generator, numpy.random.Generator):
        return generator
    inner = getattr(generator, "numpy_generator", None)
    if callable(inner):
        inner = inner()
    if isinstance(inner, numpy.random.Generator):
        return inner
    raise TypeError(
        f"{where}: generator must be a numpy.random.Generator (or have one as .numpy_generator), got "
        f"{type(generator).__name__} (use seed= for an integer seed)"
    )


def own_rng(generator, seed, where):
    """A numpy Generator from ``generator`` or ``seed``; None when neither is given."""
    if generator is not None and seed is not None:
        raise ValueError(f"{where}: give either generator or seed, not both")
    if generator is not None:
        return as_numpy_generator(generator, where)
    if seed is not None:
        return numpy.random.default_rng(seed)
    return None


def rng_from_global_seed():
    """A fresh Generator seeded from minidl's host generator, so ``minidl.manual_seed`` repeats it."""
    return numpy.random.default_rng(int(backend.rng_for(backend.CPU).integers(2**63)))
