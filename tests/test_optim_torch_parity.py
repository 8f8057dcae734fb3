"""Every optimizer against PyTorch, property-based: trajectories over random shapes, parameter
groups, hyper-parameters and option combinations (float64, tight tolerance), the state carried
from one library to the other mid-run, and the hyper-parameters PyTorch refuses refused alike,
with PyTorch's message after the optimizer's name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl
from minidl import backend, optim
from minidl.testing.strategies import shapes

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-12


def _zero_or(values):
    """0 (the option off) or a value from ``values``: both sides of every ``if λ ≠ 0`` get drawn."""
    return st.one_of(st.just(0.0), values)


_LR = st.floats(1e-4, 0.5)
_EPS = st.one_of(st.just(1e-8), st.floats(0.0, 1e-2))
_DECAY = _zero_or(st.floats(1e-4, 0.5))
_MOMENTUM = _zero_or(st.floats(0.0, 0.99))


@st.composite
def _sgd(draw):
    momentum = draw(_MOMENTUM)
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(_zero_or(st.floats(0.0, 1.0)))
    return dict(
        lr=draw(_LR), momentum=momentum, dampening=dampening, weight_decay=draw(_DECAY),
        nesterov=nesterov, maximize=draw(st.booleans()),
    )  # fmt: skip


@st.composite
def _adam(draw):
    betas = (draw(st.floats(0.0, 0.999)), draw(st.floats(0.0, 0.9999)))
    return dict(
        lr=draw(_LR), betas=betas, eps=draw(_EPS), weight_decay=draw(_DECAY),
        amsgrad=draw(st.booleans()), maximize=draw(st.booleans()),
    )  # fmt: skip


@st.composite
def _rmsprop(draw):
    centered = draw(st.booleans())
    # centered, ṽ_1 = α (1 − α) g² is v_1 = (1 − α) g² less (g^ave_1)²: a cancellation that multiplies
    # rounding errors by 1/α (both libraries get NaN or noise at α = 0), so α stays away from 0 there
    alpha = draw(st.floats(0.1 if centered else 0.0, 0.999))
    return dict(
        lr=draw(_LR), alpha=alpha, eps=draw(_EPS), weight_decay=draw(_DECAY),
        momentum=draw(_MOMENTUM), centered=centered, maximize=draw(st.booleans()),
    )  # fmt: skip


@st.composite
def _adagrad(draw):
    return dict(
        lr=draw(_LR), lr_decay=draw(_zero_or(st.floats(0.0, 1.0))), weight_decay=draw(_DECAY),
        initial_accumulator_value=draw(_zero_or(st.floats(0.0, 2.0))),
        eps=draw(st.one_of(st.just(1e-10), st.floats(0.0, 1e-2))), maximize=draw(st.booleans()),
    )  # fmt: skip


# The spec table: each optimizer and the strategy of its hyper-parameters (every option free)
SPECS = {"SGD": _sgd(), "Adam": _adam(), "AdamW": _adam(), "RMSprop": _rmsprop(), "Adagrad": _adagrad()}


@st.composite
def runs(draw, name):
    """(groups, steps, seed) for the optimizer ``name``: 1-2 parameter groups, each of 1-3 parameters
    of random shapes (0-d included) with its own hyper-parameters, run for 1-6 steps."""
    groups = [
        (draw(st.lists(shapes(0, 3, 1, 4), min_size=1, max_size=3)), draw(SPECS[name]))
        for _ in range(draw(st.integers(1, 2)))
    ]
    if name == "Adagrad":  # PyTorch fills every group's sum with the constructor's initial_accumulator_value
        groups = [(group_shapes, {**hyper, **_adagrad_shared(groups)}) for group_shapes, hyper in groups]
    return groups, draw(st.integers(1, 6)), draw(st.integers(0, 2**32 - 1))


def _adagrad_shared(groups):
    return {"initial_accumulator_value": groups[0][1]["initial_accumulator_value"]}


class Pair:
    """The same parameters (float64) and optimizer in minidl and in PyTorch, stepped alike."""

    def __init__(self, name, groups, seed, device="cpu"):
        self.name, self.rng = name, np.random.default_rng(seed)
        values = [[self.rng.standard_normal(s) for s in group_shapes] for group_shapes, _ in groups]
        self.ours = [[minidl.tensor(v, requires_grad=True, device=device) for v in vs] for vs in values]
        self.theirs = [[torch.tensor(v, requires_grad=True) for v in vs] for vs in values]
        hypers = [hyper for _, hyper in groups]
        defaults = _adagrad_shared(groups) if name == "Adagrad" else {}
        self.opt = getattr(optim, name)([{"params": ps, **h} for ps, h in zip(self.ours, hypers)], **defaults)
        self.topt = getattr(torch.optim, name)([{"params": ps, **h} for ps, h in zip(self.theirs, hypers)], **defaults)

    def params(self):
        return [p for ps in self.ours for p in ps], [p for ps in self.theirs for p in ps]

    def step(self):
        """Fresh random gradients (about one parameter in five gets none and is skipped), then both steps."""
        device = self.ours[0][0].device
        for p, q in zip(*self.params()):
            g = None if self.rng.random() < 0.2 else self.rng.standard_normal(p.shape)
            p.grad = None if g is None else minidl.tensor(g, device=device)
            q.grad = None if g is None else torch.tensor(g)
        kept = [None if p.grad is None else backend.as_numpy(p.grad.array).copy() for p, _ in zip(*self.params())]
        self.opt.step()
        self.topt.step()
        for i, (p, g) in enumerate(zip(self.params()[0], kept)):
            if g is not None:
                np.testing.assert_array_equal(backend.as_numpy(p.grad.array), g, err_msg=f"{self.name} wrote grad {i}")

    def assert_params_match(self, what):
        for i, (p, q) in enumerate(zip(*self.params())):
            np.testing.assert_allclose(
                backend.as_numpy(p.array), q.detach().numpy(), rtol=RTOL, atol=ATOL, equal_nan=True,
                err_msg=f"{self.name} {what}: parameter {i}",
            )  # fmt: skip

    def assert_states_match(self):
        ours, theirs = self.opt.state_dict()["state"], self.topt.state_dict()["state"]
        # PyTorch's Adagrad creates the state of every parameter in its constructor (step 0)
        theirs = {i: s for i, s in theirs.items() if s.get("step", 1) != 0}
        assert sorted(ours) == sorted(theirs), f"{self.name}: state of parameters {sorted(ours)} vs {sorted(theirs)}"
        for i in ours:
            assert set(ours[i]) == set(theirs[i]), f"{self.name}: state keys of parameter {i}"
            for key, value in ours[i].items():
                expected = theirs[i][key]
                expected = expected.item() if key == "step" else expected.numpy()
                np.testing.assert_allclose(
                    backend.as_numpy(value), expected, rtol=RTOL, atol=ATOL, equal_nan=True,
                    err_msg=f"{self.name}: state {key!r} of parameter {i}",
                )  # fmt: skip


@pytest.mark.parametrize("name", SPECS)
@given(data=st.data())
def test_trajectories_and_states_match_torch(name, data):
    groups, steps, seed = data.draw(runs(name), label="run")
    pair = Pair(name, groups, seed)
    for t in range(steps):
        pair.step()
        pair.assert_params_match(f"after step {t + 1} with {groups}")
    pair.assert_states_match()


def _to_torch_state(state):
    return {
        i: {k: torch.tensor(float(v)) if k == "step" else torch.tensor(np.array(v)) for k, v in s.items()}
        for i, s in state.items()
    }


def _torch_sums(topt):
    return [topt.state[q]["sum"].clone() for group in topt.param_groups for q in group["params"]]


def _to_minidl_state(state):
    return {i: {k: v.item() if k == "step" else v.numpy() for k, v in s.items()} for i, s in state.items()}


@pytest.mark.parametrize("name", SPECS)
@given(data=st.data(), split=st.integers(1, 4), torch_first=st.booleans())
def test_state_carries_over_between_the_libraries(name, data, split, torch_first):
    """Run ``split`` steps in one library, hand its state to a fresh optimizer of the other one
    (same parameter values), and the two keep stepping alike: the state means the same."""
    groups, steps, seed = data.draw(runs(name), label="run")
    pair = Pair(name, groups, seed)
    for _ in range(split):
        pair.step()
    fresh = Pair(name, groups, seed + 1)
    for p, q, source in zip(*fresh.params(), pair.params()[1 if torch_first else 0]):
        value = source.detach().numpy().copy() if torch_first else backend.as_numpy(source.array).copy()
        p.array[...] = value
        with torch.no_grad():
            q.copy_(torch.tensor(value))
    ours_groups, theirs_groups = fresh.opt.state_dict()["param_groups"], fresh.topt.state_dict()["param_groups"]
    if torch_first:
        state = pair.topt.state_dict()["state"]
        fresh.topt.load_state_dict({"state": state, "param_groups": theirs_groups})
        fresh.opt.load_state_dict({"state": _to_minidl_state(state), "param_groups": ours_groups})
    else:
        state = pair.opt.state_dict()["state"]
        fresh.opt.load_state_dict({"state": state, "param_groups": ours_groups})
        state = _to_torch_state(state)
        if name == "Adagrad":  # PyTorch's Adagrad needs the state of every parameter, stepped or not
            for i, (_, theirs_sum) in enumerate(zip(fresh.params()[1], _torch_sums(fresh.topt))):
                state.setdefault(i, {"step": torch.tensor(0.0), "sum": theirs_sum})
        fresh.topt.load_state_dict({"state": state, "param_groups": theirs_groups})
    for t in range(steps):
        fresh.step()
        fresh.assert_params_match(f"step {t + 1} after resuming from {'torch' if torch_first else 'minidl'}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture only names a device
@pytest.mark.parametrize("name", SPECS)
@given(data=st.data())
def test_every_device_steps_as_the_cpu(name, data, other_device):
    """The strict arrays (and CuPy, with a GPU) give the CPU's values: the rules use only ``xp``."""
    groups, steps, seed = data.draw(runs(name), label="run")
    cpu, other = Pair(name, groups, seed), Pair(name, groups, seed, device=other_device)
    for _ in range(steps):
        cpu.step()
        other.step()
    for p, q in zip(cpu.params()[0], other.params()[0]):
        assert q.device == backend.Device(other_device)
        np.testing.assert_allclose(backend.as_numpy(q.array), backend.as_numpy(p.array), rtol=1e-12, atol=1e-14)


# ---- hyper-parameters PyTorch refuses --------------------------------------------------------
NONNEGATIVE = {
    "SGD": ["lr", "momentum", "weight_decay"],
    "Adam": ["lr", "eps", "weight_decay"],
    "AdamW": ["lr", "eps", "weight_decay"],
    "RMSprop": ["lr", "eps", "momentum", "weight_decay", "alpha"],
    "Adagrad": ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
}
_ANY_FLOAT = st.one_of(st.floats(-2.0, 2.0), st.sampled_from([float("nan"), math.inf, -math.inf, -0.0, -1e-300]))


def _outcome(make):
    try:
        make()
    except ValueError as exc:
        return str(exc)
    return None


@st.composite
def hyperparameters_near_the_edges(draw):
    """An optimizer and a few of its hyper-parameters, each anywhere around (and outside) its valid range."""
    name = draw(st.sampled_from(sorted(NONNEGATIVE)))
    keys = draw(st.lists(st.sampled_from(NONNEGATIVE[name]), min_size=1, max_size=3, unique=True))
    # PyTorch's SGD checks `lr < 0` (momentum, weight_decay alike), which lets NaN through: see below
    values = _ANY_FLOAT.filter(lambda v: not math.isnan(v)) if name == "SGD" else _ANY_FLOAT
    kwargs = {key: draw(values) for key in keys}
    if name in ("Adam", "AdamW") and draw(st.booleans()):
        kwargs["betas"] = (draw(_ANY_FLOAT), draw(_ANY_FLOAT))
    if name == "SGD" and draw(st.booleans()):
        kwargs.update(nesterov=True, dampening=draw(st.sampled_from([0.0, 0.1, -0.5, float("nan")])))
    return name, kwargs


@given(spec=hyperparameters_near_the_edges())
def test_hyperparameters_are_refused_exactly_when_torch_refuses_them(spec):
    name, kwargs = spec
    theirs = _outcome(lambda: getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs))
    ours = _outcome(lambda: getattr(optim, name)([minidl.zeros(2, requires_grad=True)], **kwargs))
    assert (ours is None) == (theirs is None), f"{name}({kwargs}): torch says {theirs!r}, minidl says {ours!r}"
    if theirs is not None:
        assert ours.startswith(f"{name}: ") and theirs in ours, f"{name}({kwargs}): {ours!r} lacks {theirs!r}"


@pytest.mark.parametrize("key", NONNEGATIVE["SGD"])
def test_sgd_refuses_nan_as_the_other_optimizers_do(key):
    with pytest.raises(ValueError, match=f"^SGD: Invalid .*: nan \\({key} must be >= 0\\)"):
        optim.SGD([minidl.zeros(2, requires_grad=True)], **{key: float("nan")})


BAD = [
    ("SGD", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("SGD", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires a momentum and zero"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("AdamW", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("AdamW", dict(lr=float("nan")), "Invalid learning rate: nan"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD)
def test_bad_hyperparameters_name_the_optimizer_and_the_value(name, kwargs, message):
    with pytest.raises(ValueError, match=f"^{name}: {message}"):
        getattr(optim, name)([minidl.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=f"^{message}"):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("name", sorted(NONNEGATIVE))
def test_a_group_added_later_is_checked_too(name):
    opt = getattr(optim, name)([minidl.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=f"^{name}: Invalid learning rate: -1.0"):
        opt.add_param_group({"params": [minidl.zeros(1, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("value", ["0.1", None, True])
def test_a_hyperparameter_that_is_not_a_number_is_named(value):
    with pytest.raises(ValueError, match=f"^Adam: lr must be a number, got {value!r}"):
        optim.Adam([minidl.zeros(2, requires_grad=True)], lr=value)
