"""The hypothesis strategies in minidl.testing produce what they promise, and the profiles load."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import Tensor
from minidl.testing import (
    attention_shapes,
    broadcastable_shapes,
    conv_configs,
    distinct_elements,
    load_profile,
    matmul_shapes,
    reduction_dims,
    shapes,
    tensors,
)


@given(shape=shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(n=st.integers(1, 4), data=st.data())
def test_broadcastable_shapes_really_broadcast(n, data):
    result = data.draw(broadcastable_shapes(n, max_dims=4, max_side=4))
    assert len(result) == n
    target = np.broadcast_shapes(*result)  # raises if they do not broadcast
    for s in result:
        assert len(s) <= len(target)


@given(broadcastable_shapes(2, min_dims=2, max_dims=3))
def test_broadcastable_shapes_min_dims(result):
    assert all(len(s) >= 2 for s in result)


@given(matmul_shapes())
def test_matmul_shapes_are_valid(pair):
    a, b = pair
    assert len(a) >= 1 and len(b) >= 1
    out = np.matmul(np.zeros(a), np.zeros(b))  # raises if the shapes do not fit
    batch = max(len(a) - 2, len(b) - 2, 0)
    assert out.ndim == batch + (len(a) > 1) + (len(b) > 1)


@given(st.data())
def test_reduction_dims_are_valid(data):
    ndim = data.draw(st.integers(0, 4))
    dim = data.draw(reduction_dims(ndim))
    np.zeros((2,) * ndim).sum(axis=dim)  # NumPy accepts it
    if isinstance(dim, tuple):
        assert len(set(dim)) == len(dim)


@given(st.lists(distinct_elements(-1.0, 1.0), min_size=2, max_size=20, unique=True))
def test_distinct_elements_are_spaced(values):
    v = np.sort(values)
    assert v[0] >= -1.0 and v[-1] <= 1.0 + 0.01
    assert (np.diff(v) >= 0.01 - 1e-12).all()


@given(tensors(shape=(4, 3), distinct=True))
def test_distinct_tensors_have_no_near_ties(t):
    v = np.sort(t.array.ravel())
    assert (np.diff(v) >= 0.01 - 1e-12).all()


@given(st.data())
def test_tensors_respect_dtype_shape_and_range(data):
    dtype = data.draw(st.sampled_from(["float64", "float32", "int64"]))
    shape = data.draw(shapes(max_dims=3))
    t = data.draw(tensors(shape=shape, dtype=dtype, low=-2, high=5))
    assert isinstance(t, Tensor)
    assert t.shape == shape and t.dtype == np.dtype(dtype)
    assert t.requires_grad == (dtype != "int64") and t.is_leaf
    assert (t.array >= -2).all() and (t.array <= 5).all()


@given(tensors(shape=shapes(max_dims=2), requires_grad=False))
def test_tensors_shape_strategy_and_no_grad(t):
    assert len(t.shape) <= 2 and not t.requires_grad


@given(tensors(shape=(6,), away_from=(0.0, 1.0), away_by=0.1, low=-2.0, high=2.0))
def test_tensors_keep_away_from_points(t):
    d = t.array
    assert (np.abs(d) >= 0.1 - 1e-12).all() and (np.abs(d - 1.0) >= 0.1 - 1e-12).all()


@given(tensors(shape=(5,), low=-0.001, high=0.001, away_from=0.0, away_by=0.5))
def test_away_from_pushes_values_out(t):
    assert (np.abs(t.array) >= 0.5 - 1e-12).all()


@given(conv_configs(dims=2))
def test_conv_configs_give_a_positive_output(cfg):
    assert cfg["C_in"] % cfg["groups"] == 0 and cfg["C_out"] % cfg["groups"] == 0
    for n, k, s, p, d in zip(cfg["size"], cfg["kernel"], cfg["stride"], cfg["padding"], cfg["dilation"]):
        out = (n + 2 * p - d * (k - 1) - 1) // s + 1
        assert out >= 1


@given(attention_shapes())
def test_attention_shapes(cfg):
    assert all(cfg[k] >= 1 for k in ("B", "H", "L", "S", "E", "Ev"))
    assert cfg["mask"] in (None, "bool", "float", "causal", "key_padding")
    if cfg["mask"] == "causal":
        assert cfg["L"] == cfg["S"]


# ---- profiles ----------------------------------------------------------------------------------------
@pytest.fixture
def restore_profile():
    original = os.environ.get("HYPOTHESIS_PROFILE", "dev")  # read before a test changes it
    yield
    settings.load_profile(original)


@pytest.mark.parametrize("name, examples", [("dev", 10), ("ci", 25), ("thorough", 400)])
def test_profiles_exist_and_load_from_the_environment(monkeypatch, restore_profile, name, examples):
    monkeypatch.setenv("HYPOTHESIS_PROFILE", name)
    assert load_profile("dev") == name
    assert settings.default.max_examples == examples
    assert settings.default.deadline is None
    assert settings.get_profile(name).max_examples == examples


def test_load_profile_default_when_unset(monkeypatch, restore_profile):
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    assert load_profile("ci") == "ci"
    assert settings.default.max_examples == 25


def test_unknown_profile_is_an_error(monkeypatch, restore_profile):
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "nonexistent")
    with pytest.raises(Exception, match="nonexistent"):
        load_profile()
