"""Input strategies for graders that reach the values where naive formulas break.

``with_offsets(args)`` adds one large constant to every float Tensor of each drawn input tuple
(0 included, so small values stay common): a softmax, log-softmax or cross-entropy is unchanged by
a constant added to its row, but ``exp`` of 750 overflows float64, so a softmax written without
subtracting the row maximum returns inf/NaN there (the ``overflow`` hint). ``with_scales(args)``
multiplies instead, for attention scores that must get large.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ..tensor import Tensor

OFFSETS = (0.0, 750.0, -750.0)
SCALES = (1.0, 60.0)


def _map_floats(inputs, fn):
    out = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            out.append(Tensor._make(fn(x.array), x.requires_grad))
        else:
            out.append(x)
    return tuple(out)


@st.composite
def with_offsets(draw, args, offsets=OFFSETS, which=None):
    """``args`` (a strategy of input tuples) with a constant from ``offsets`` added to the float
    Tensors (only those at the positions ``which``, when given)."""
    inputs, c = draw(args), draw(st.sampled_from(offsets))
    return tuple(_map_floats((x,), lambda a: a + c)[0] if which is None or i in which else x
                 for i, x in enumerate(inputs))


@st.composite
def with_scales(draw, args, scales=SCALES, which=None):
    """``args`` with the float Tensors (at positions ``which``, when given) multiplied by a factor
    from ``scales``."""
    inputs, c = draw(args), draw(st.sampled_from(scales))
    return tuple(_map_floats((x,), lambda a: a * c)[0] if which is None or i in which else x
                 for i, x in enumerate(inputs))
