"""minidl.compress.report: the seed CNN's shapes, sizes on disk as the forward sees the weights
(a pruned model stores orig ⊙ mask, whose zeros deflate), parameter counts, training a pruned model."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl.compress import prune, quantize, report


@pytest.mark.parametrize("side, flat", [(28, 64 * 5 * 5), (8, 64 * 2 * 2)])
def test_seed_cnn_shapes(side, flat):
    m = report.seed_cnn(image_size=side)
    assert m[7].in_features == flat
    assert m(minidl.zeros(2, 1, side, side)).shape == (2, 10)
    with pytest.raises(ValueError, match="too small"):
        report.seed_cnn(image_size=3)


def test_sizes_counts_and_a_pruned_model():
    rng = np.random.default_rng(0)
    minidl.manual_seed(0)
    m = report.seed_cnn(image_size=8, widths=(4, 8), hidden=16)
    size = report.saved_size(m)
    total, nonzero = report.count_parameters(m)
    assert total == sum(p.numel() for p in m.parameters()) and nonzero == total
    assert size["bytes"] > 4 * total and size["deflated"] <= size["bytes"]
    prune.global_unstructured(report.prunable(m), 0.9)
    x, y = rng.random((40, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 40)
    losses = report.train(m, x, y, steps=3, batch_size=16)
    assert len(losses) == 3 and prune.is_pruned(m)
    pruned = report.saved_size(m)  # orig ⊙ mask, not orig and mask
    assert abs(pruned["bytes"] - size["bytes"]) < 200 and pruned["deflated"] < 0.5 * size["deflated"]
    _, nonzero = report.count_parameters(m)
    assert nonzero < 0.2 * total
    before = report.predict(m, x)
    report.remove_all(m)
    assert not prune.is_pruned(m)
    np.testing.assert_array_equal(report.predict(m, x), before)
    q = quantize.quantize_dynamic(m)
    assert report.saved_size(q)["bytes"] < 0.6 * report.saved_size(m)["bytes"]  # a tiny model: headers count
    assert 0.0 <= report.accuracy(q, x, y) <= 1.0 and report.inference_time(q, x, repeats=1) > 0
    with pytest.raises(ValueError, match="fmt must be"):
        report.saved_size(m, fmt="pt")
