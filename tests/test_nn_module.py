"""nn.Module: registration, traversal, modes, state_dict round trips and their errors, to(),
repr, hooks; nn.init statistics; save/load of .npz files."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import init


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(minidl.ones(4))
        self.register_buffer("steps", minidl.zeros(1))
        self.register_buffer("cache", minidl.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(Block(), nn.ReLU(), nn.Linear(4, 2))
        self.heads = nn.ModuleList([nn.Linear(2, 1), nn.Linear(2, 1)])
        self.named = nn.ModuleDict({"a": nn.Identity()})

    def forward(self, x):
        h = self.named["a"](self.body(x))
        return sum(head(h) for head in self.heads)


def test_registration_and_traversal():
    # PyTorch's order: a module's own parameters, then its children's, depth first
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "body.0.scale", "body.0.fc.weight", "body.0.fc.bias", "body.2.weight", "body.2.bias",
        "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias",
    ]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["body.0.steps", "body.0.cache"]
    assert [n for n, _ in net.named_children()] == ["body", "heads", "named"]
    # Net, Sequential, Block, fc, ReLU, Linear, ModuleList, 2 heads, ModuleDict, Identity
    assert len(list(net.modules())) == 11
    assert isinstance(net.body[0], Block) and isinstance(net.body[-1], nn.Linear)
    assert len(net.body[:2]) == 2


def test_shared_parameter_counted_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2


def test_forward_backward_reaches_every_parameter():
    net = Net()
    net(minidl.randn(5, 3)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_propagates():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip_and_persistence():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert "body.0.steps" in sd and "body.0.cache" not in sd
    b.load_state_dict(sd)
    x = minidl.randn(4, 3)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    # state_dict values are detached copies of the same data, not graph tensors
    assert not sd["body.2.weight"].requires_grad


def test_load_state_dict_errors_name_keys_and_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["heads.1.bias"]
    sd["extra.weight"] = minidl.zeros(1)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    assert "heads.1.bias" in str(e.value) and "extra.weight" in str(e.value)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["heads.1.bias"] and unexpected == ["extra.weight"]
    sd = net.state_dict()
    sd["body.2.weight"] = minidl.zeros(3, 3)
    with pytest.raises(RuntimeError, match=r"body\.2\.weight.*\(3, 3\).*\(2, 4\)"):
        net.load_state_dict(sd)


def test_load_state_dict_accepts_numpy_and_keeps_parameter_identity():
    lin = nn.Linear(3, 2)
    w = lin.weight
    lin.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})
    assert lin.weight is w and lin.weight.dtype == minidl.float32
    np.testing.assert_array_equal(lin.weight.detach().numpy(), np.ones((2, 3), dtype=np.float32))


def test_to_dtype_in_place_and_repr():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p.dtype == minidl.float64 for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    text = repr(net)
    assert "(body): Sequential(" in text and "Linear(in_features=3, out_features=4, bias=True)" in text


def test_assignment_errors():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = minidl.zeros(2, 2)
    with pytest.raises(AttributeError):
        _ = lin.nonexistent


def test_forward_hook_records_output():
    lin = nn.Linear(2, 3)
    seen = []
    handle = lin.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    lin(minidl.randn(4, 2))
    handle.remove()
    lin(minidl.randn(1, 2))
    assert seen == [(4, 3)]


def test_sequential_from_ordered_dict():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in seq.named_children()] == ["fc", "act"]


@pytest.mark.parametrize(
    "fn, expected_std",
    [
        (lambda t: init.xavier_uniform_(t), math.sqrt(2 / (200 + 100))),
        (lambda t: init.xavier_normal_(t), math.sqrt(2 / (200 + 100))),
        (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 200)),
        (lambda t: init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 200)),
        (lambda t: init.normal_(t, 0.0, 0.5), 0.5),
    ],
)
def test_init_statistics(fn, expected_std):
    minidl.manual_seed(0)
    t = minidl.empty(100, 200)
    fn(t)
    assert abs(float(t.array.mean())) < 0.01
    assert abs(float(t.array.std()) / expected_std - 1) < 0.03


def test_orthogonal_init():
    t = minidl.empty(6, 10)
    init.orthogonal_(t)
    np.testing.assert_allclose(t.array @ t.array.T, np.eye(6), atol=1e-5)


def test_init_constants_and_gain():
    t = minidl.empty(3, 3)
    init.ones_(t)
    assert t.array.sum() == 9
    init.zeros_(t)
    assert t.array.sum() == 0
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError):
        init.calculate_gain("nope")


def test_save_load_round_trip(tmp_path):
    net = Net()
    path = tmp_path / "net.npz"
    net.save(path)
    other = Net()
    other.load(path)
    x = minidl.randn(2, 3)
    np.testing.assert_array_equal(net(x).detach().numpy(), other(x).detach().numpy())
    loaded = minidl.load(path)
    assert list(loaded) == list(net.state_dict())


def test_save_keeps_dtypes_and_scalars(tmp_path):
    path = tmp_path / "mixed.npz"
    minidl.save({"a": minidl.arange(3), "b": minidl.ones(2, dtype=minidl.float64), "n": 5}, path)
    out = minidl.load(path)
    assert out["a"].dtype == minidl.int64 and out["b"].dtype == minidl.float64 and int(out["n"]) == 5


def test_load_refuses_pickles_and_garbage(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"definitely not a zip file")
    with pytest.raises(ValueError, match="bad.npz"):
        minidl.load(bad)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        minidl.load(pickled)
    with pytest.raises(FileNotFoundError):
        minidl.load(tmp_path / "missing.npz")
