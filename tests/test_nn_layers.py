"""nn layers: PyTorch's parameter names, shapes and init bounds; a PyTorch state_dict loads
unchanged and gives the same outputs and gradients; train/eval behaviour; loss modules."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.testing import assert_close

torch = pytest.importorskip("torch")

# (name, minidl constructor, torch constructor, input shape, integer input?)
LAYERS = [
    ("linear", lambda m: m.Linear(5, 3), (4, 5), False),
    ("linear_nobias", lambda m: m.Linear(5, 3, bias=False), (2, 7, 5), False),
    ("conv2d", lambda m: m.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6), False),
    ("conv2d_groups_dilation", lambda m: m.Conv2d(4, 6, (3, 2), dilation=(1, 2), groups=2), (1, 4, 6, 7), False),
    ("conv2d_same", lambda m: m.Conv2d(2, 3, 3, padding="same"), (2, 2, 5, 5), False),
    ("conv1d", lambda m: m.Conv1d(3, 5, 3, padding=1), (2, 3, 9), False),
    ("maxpool2d", lambda m: m.MaxPool2d(2), (2, 3, 6, 6), False),
    ("maxpool2d_stride_pad", lambda m: m.MaxPool2d(3, stride=2, padding=1), (1, 2, 7, 7), False),
    ("avgpool2d", lambda m: m.AvgPool2d(2, stride=1), (2, 2, 5, 5), False),
    ("adaptive_avg", lambda m: m.AdaptiveAvgPool2d(1), (2, 3, 4, 5), False),
    ("flatten", lambda m: m.Flatten(), (2, 3, 4), False),
    ("embedding", lambda m: m.Embedding(10, 4, padding_idx=0), (3, 5), True),
    ("layernorm", lambda m: m.LayerNorm(6), (3, 4, 6), False),
    ("layernorm_2d", lambda m: m.LayerNorm((4, 6)), (3, 4, 6), False),
    ("batchnorm1d", lambda m: m.BatchNorm1d(4), (8, 4), False),
    ("batchnorm1d_seq", lambda m: m.BatchNorm1d(4), (5, 4, 3), False),
    ("batchnorm2d", lambda m: m.BatchNorm2d(3), (4, 3, 5, 5), False),
    ("relu", lambda m: m.ReLU(), (3, 4), False),
    ("leaky_relu", lambda m: m.LeakyReLU(0.2), (3, 4), False),
    ("elu", lambda m: m.ELU(), (3, 4), False),
    ("gelu", lambda m: m.GELU(), (3, 4), False),
    ("gelu_tanh", lambda m: m.GELU(approximate="tanh"), (3, 4), False),
    ("silu", lambda m: m.SiLU(), (3, 4), False),
    ("sigmoid", lambda m: m.Sigmoid(), (3, 4), False),
    ("tanh", lambda m: m.Tanh(), (3, 4), False),
    ("softmax", lambda m: m.Softmax(dim=1), (3, 4), False),
    ("log_softmax", lambda m: m.LogSoftmax(dim=-1), (3, 4), False),
]


def _pair(name, make):
    torch.manual_seed(0)
    ours, theirs = make(nn), make(torch.nn)
    ours_sd = ours.state_dict()
    assert list(ours_sd) == list(theirs.state_dict()), name
    for k, v in theirs.state_dict().items():
        assert ours_sd[k].shape == tuple(v.shape), (name, k)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("name, make, shape, integer", LAYERS, ids=[s[0] for s in LAYERS])
@pytest.mark.parametrize("training", [True, False])
def test_layer_matches_torch(name, make, shape, integer, training):
    ours, theirs = _pair(name, make)
    ours.train(training)
    theirs.train(training)
    rng = np.random.default_rng(1)
    x_np = rng.integers(0, 10, shape) if integer else rng.standard_normal(shape).astype(np.float32)
    x = minidl.tensor(x_np, requires_grad=not integer)
    tx = torch.tensor(x_np, requires_grad=not integer)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty, rtol=1e-4, atol=1e-5, what=f"{name} output")
    dy = rng.standard_normal(ty.shape).astype(np.float32)
    y.backward(minidl.tensor(dy))
    ty.backward(torch.tensor(dy))
    if not integer:
        assert_close(x.grad, tx.grad, rtol=1e-4, atol=1e-5, what=f"{name} input grad")
    params = dict(ours.named_parameters())
    for k, p in theirs.named_parameters():
        assert_close(params[k].grad, p.grad, rtol=1e-4, atol=1e-4, what=f"{name} {k}.grad")
    buffers = dict(ours.named_buffers())
    for k, b in theirs.named_buffers():
        assert_close(buffers[k], b, rtol=1e-5, atol=1e-6, what=f"{name} buffer {k}")


@pytest.mark.parametrize(
    "make, bound",
    [
        (lambda: nn.Linear(50, 7), 1 / math.sqrt(50)),
        (lambda: nn.Conv2d(6, 8, 3), 1 / math.sqrt(6 * 9)),
        (lambda: nn.Conv1d(4, 8, 5), 1 / math.sqrt(4 * 5)),
    ],
)
def test_default_init_bounds(make, bound):
    """PyTorch's default: kaiming_uniform(a=√5) for weights gives U(−1/√fan_in, 1/√fan_in);
    the bias has the same bound."""
    layer = make()
    for p in (layer.weight, layer.bias):
        assert np.abs(p.detach().numpy()).max() <= bound + 1e-7
    # actually spread over the interval: every one of the 160 to 432 weights below half the bound
    # has probability 2^-160 or less (not asserted of the bias: 7 values, 1 chance in 128)
    assert np.abs(layer.weight.detach().numpy()).max() > 0.5 * bound


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(6, 3, padding_idx=2)
    assert not emb.weight.detach().numpy()[2].any()
    idx = minidl.tensor([[2, 1, 2], [0, 2, 5]])
    emb(idx).sum().backward()
    grad = emb.weight.grad.numpy()
    assert not grad[2].any() and grad[1].sum() == 3 and grad[0].sum() == 3


def test_dropout_module_train_and_eval():
    minidl.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = minidl.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    drop.eval()
    assert drop(x) is x or np.array_equal(drop(x).numpy(), x.numpy())
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_batchnorm_running_stats_follow_torch_over_steps():
    ours, theirs = _pair("bn", lambda m: m.BatchNorm2d(3, momentum=0.2))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 3 + 1
        ours(minidl.tensor(x))
        theirs(torch.tensor(x))
    for k, b in theirs.named_buffers():
        assert_close(dict(ours.named_buffers())[k], b, rtol=1e-5, atol=1e-6, what=k)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    assert_close(ours(minidl.tensor(x)), theirs(torch.tensor(x)).detach(), rtol=1e-5, atol=1e-6)


def test_layer_errors_name_shapes():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"\(2, 5, 4, 4\)"):
        nn.BatchNorm2d(3)(minidl.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match="5"):
        nn.Linear(4, 2)(minidl.randn(3, 5))


LOSSES = [
    ("cross_entropy", lambda m: m.CrossEntropyLoss(label_smoothing=0.1), "classes"),
    ("nll", lambda m: m.NLLLoss(reduction="sum"), "classes"),
    ("mse", lambda m: m.MSELoss(), "same"),
    ("l1", lambda m: m.L1Loss(reduction="none"), "same"),
    ("bce", lambda m: m.BCELoss(), "prob"),
    ("bce_logits", lambda m: m.BCEWithLogitsLoss(pos_weight=None), "prob"),
]


@pytest.mark.parametrize("name, make, kind", LOSSES, ids=[s[0] for s in LOSSES])
def test_loss_modules_match_torch(name, make, kind):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((6, 4)).astype(np.float32)
    if kind == "classes":
        t_np = rng.integers(0, 4, 6)
    elif kind == "prob":
        t_np = rng.random((6, 4)).astype(np.float32)
        if name == "bce":
            x_np = 1 / (1 + np.exp(-x_np))
    else:
        t_np = rng.standard_normal((6, 4)).astype(np.float32)
    x, tx = minidl.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = make(nn)(x, minidl.tensor(t_np)), make(torch.nn)(tx, torch.tensor(t_np))
    assert_close(y, ty, rtol=1e-5, atol=1e-6, what=name)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad, rtol=1e-5, atol=1e-6, what=f"{name} grad")
