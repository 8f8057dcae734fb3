"""Hypothesis strategies and assertions for testing ops built on minidl (needs ``hypothesis``).

    from hypothesis import given
    from minidl.testing import tensors, broadcastable_shapes, assert_gradients_match

    @given(shapes=broadcastable_shapes(2), data=st.data())
    def test_mul(shapes, data):
        a, b = (data.draw(tensors(shape=s)) for s in shapes)
        assert_gradients_match(lambda a, b: a * b, a, b)

Profiles ``dev`` (quick), ``ci`` (the default in CI) and ``thorough`` are registered on import;
``load_profile()`` picks the one named by the ``HYPOTHESIS_PROFILE`` environment variable.
``use_strict_device()`` adds the test device ``"strict"`` (``minidl.testing.strict_array``).
"""

from .assertions import assert_close, assert_gradients_match, assert_not_mutated
from .kernels import assert_kernel_matches_reference
from .profiles import load_profile, register_profiles
from .strategies import (
    attention_shapes,
    broadcastable_shapes,
    conv_configs,
    distinct_elements,
    matmul_shapes,
    reduction_dims,
    shapes,
    tensors,
)
from .strict_array import StrictArray, use_strict_device

__all__ = [
    "assert_close",
    "assert_gradients_match",
    "assert_kernel_matches_reference",
    "assert_not_mutated",
    "attention_shapes",
    "broadcastable_shapes",
    "conv_configs",
    "distinct_elements",
    "load_profile",
    "matmul_shapes",
    "reduction_dims",
    "register_profiles",
    "shapes",
    "StrictArray",
    "tensors",
    "use_strict_device",
]
