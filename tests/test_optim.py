"""Optimizers, learning-rate schedulers and gradient clipping: trajectories against PyTorch,
state_dict round trips, validation errors."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import backend, optim
from minidl.optim import lr_scheduler

# (optimizer, keyword arguments): every option of every optimizer at least once
OPT_SPECS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, maximize=True, eps=1e-3, weight_decay=0.05)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.05, maximize=True, betas=(0.5, 0.9))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, maximize=True, eps=1e-4)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
]
OPT_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in OPT_SPECS]
NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


# ---- a small least-squares problem, written for both libraries ----------------------------
def _problem(seed=0):
    """Data X (8, 3), targets Y (8, 2), and starting values of W (3, 2), b (2,) and a scalar s."""
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    return X, Y, [rng.standard_normal((3, 2)), rng.standard_normal(2), np.array(0.7)]


def _loss(W, b, s, X, Y):
    r = X @ W + b - Y  # (8, 2)
    return (r * r).mean() + s * s * 0.5 + (W * s).sum() * 0.1


def _minidl_params(values, device="cpu"):
    return [minidl.tensor(v, requires_grad=True, device=device) for v in values]


def _torch_params(torch, values):
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]


def _minidl_step(opt, params, X, Y):
    opt.zero_grad()
    loss = _loss(*params, X, Y)
    loss.backward()
    opt.step()
    return loss.item()


def _torch_step(opt, params, X, Y):
    opt.zero_grad()
    loss = _loss(*params, X, Y)
    loss.backward()
    opt.step()
    return loss.item()


def _values(params):
    return [backend.as_numpy(p.array).copy() if isinstance(p, minidl.Tensor) else p.detach().numpy() for p in params]


def _assert_trajectories_match(torch, name, kwargs, steps=20, seed=0):
    X, Y, init = _problem(seed)
    mp, tp = _minidl_params(init), _torch_params(torch, init)
    mopt, topt = getattr(optim, name)(mp, **kwargs), getattr(torch.optim, name)(tp, **kwargs)
    mX, mY, tX, tY = minidl.tensor(X), minidl.tensor(Y), torch.tensor(X), torch.tensor(Y)
    for step in range(steps):
        ml, tl = _minidl_step(mopt, mp, mX, mY), _torch_step(topt, tp, tX, tY)
        assert ml == pytest.approx(tl, rel=1e-9, abs=1e-12), f"{name}{kwargs}: loss differs at step {step}"
        for i, (a, b) in enumerate(zip(_values(mp), _values(tp))):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"{name}{kwargs} step {step} param {i}")


@pytest.mark.parametrize(("name", "kwargs"), OPT_SPECS, ids=OPT_IDS)
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    _assert_trajectories_match(torch, name, kwargs)


@settings(max_examples=10)
@given(
    name=st.sampled_from(NAMES),
    lr=st.floats(1e-3, 0.2),
    momentum=st.floats(0.0, 0.95),
    beta1=st.floats(0.0, 0.95),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.1]),
    flag=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_hyperparameters_match_torch(name, lr, momentum, beta1, weight_decay, flag, seed):
    torch = pytest.importorskip("torch")
    kwargs = dict(lr=lr, weight_decay=weight_decay)
    if name == "SGD":
        kwargs.update(momentum=momentum, nesterov=flag and momentum > 0)
    elif name in ("Adam", "AdamW"):
        kwargs.update(betas=(beta1, 0.99), amsgrad=flag)
    elif name == "RMSprop":
        kwargs.update(momentum=momentum, centered=flag)
    else:
        kwargs.update(lr_decay=momentum / 10)
    _assert_trajectories_match(torch, name, kwargs, steps=5, seed=seed)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    ours = getattr(optim, name)([minidl.zeros(2, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    for key, value in ours.defaults.items():
        assert theirs.defaults[key] == value, f"{name}: default {key} is {value}, torch has {theirs.defaults[key]}"


def test_param_groups_with_their_own_lr_match_torch():
    torch = pytest.importorskip("torch")
    X, Y, init = _problem(1)
    mp, tp = _minidl_params(init), _torch_params(torch, init)
    mopt = optim.SGD([{"params": mp[:2]}, {"params": mp[2:], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert mopt.param_groups[0]["lr"] == 0.1 and mopt.param_groups[1]["momentum"] == 0.5
    for _ in range(5):
        _minidl_step(mopt, mp, minidl.tensor(X), minidl.tensor(Y))
        _torch_step(topt, tp, torch.tensor(X), torch.tensor(Y))
    for a, b in zip(_values(mp), _values(tp)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_float32_parameters_stay_float32_and_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0, g = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    m, t = minidl.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    mopt, topt = optim.Adam([m], lr=0.01), torch.optim.Adam([t], lr=0.01)
    for _ in range(10):
        m.grad, t.grad = minidl.tensor(g), torch.tensor(g)
        mopt.step()
        topt.step()
    assert m.dtype == minidl.float32
    assert all(v.dtype == np.float32 for v in mopt.state[m].values() if hasattr(v, "dtype"))
    np.testing.assert_allclose(m.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- behaviour of the base class -----------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_parameters_without_grad_are_skipped(name):
    used, unused = minidl.tensor([1.0, 2.0], requires_grad=True), minidl.tensor([3.0], requires_grad=True)
    opt = getattr(optim, name)([used, unused], lr=0.1)
    (used * used).sum().backward()
    opt.step()
    assert unused.grad is None and unused.tolist() == [3.0]
    assert unused not in opt.state
    assert used.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("name", NAMES)
def test_state_lives_on_the_parameter_device_and_step_bumps_version(name, device):
    p = minidl.tensor([1.0, -2.0, 3.0], requires_grad=True, device=device)
    opt = getattr(optim, name)([p], lr=0.1, **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
    (p * p).sum().backward()
    before = p._version[0]
    opt.step()
    assert p._version[0] == before + 1
    arrays = [v for v in opt.state[p].values() if hasattr(v, "shape")]
    assert arrays and all(backend.device_of(a) == p.device and a.shape == p.shape for a in arrays)


def test_state_follows_a_parameter_whose_array_was_replaced():
    p = minidl.tensor([1.0, -2.0], requires_grad=True)  # float32
    opt = optim.Adam([p], lr=0.1)
    p.grad = minidl.ones(2)
    opt.step()
    p.array = p.array.astype(np.float64)  # what model.double() does to a parameter
    p.grad = minidl.ones(2, dtype=minidl.float64)
    opt.step()
    assert opt.state[p]["exp_avg"].dtype == np.float64 and p.dtype == minidl.float64


def test_step_is_noticed_by_a_graph_that_saved_the_parameter():
    p = minidl.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    y = (p * p).sum()  # saves p for backward
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_zero_grad():
    p = minidl.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()  # nothing to clear is fine


def test_closure_is_evaluated_with_grad_and_its_loss_returned():
    p = minidl.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with minidl.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0 and p.tolist() == [0.0, 0.0]


def test_add_param_group_fills_defaults():
    a, b = minidl.zeros(2, requires_grad=True), minidl.zeros(3, requires_grad=True)
    opt = optim.Adam([a], lr=0.01, betas=(0.5, 0.9))
    opt.add_param_group({"params": b, "lr": 0.1})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.5, 0.9)
    assert opt.param_groups[1]["params"] == [b] or opt.param_groups[1]["params"][0] is b
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


# ---- saving and resuming -------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kwargs"), OPT_SPECS, ids=OPT_IDS)
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    X, Y, init = _problem(2)
    X, Y = minidl.tensor(X), minidl.tensor(Y)
    params = _minidl_params(init)
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(5):
        _minidl_step(opt, params, X, Y)
    saved_values, saved_state = _values(params), pickle.loads(pickle.dumps(opt.state_dict()))
    for _ in range(5):
        _minidl_step(opt, params, X, Y)
    uninterrupted = _values(params)

    resumed = _minidl_params(saved_values)
    opt2 = getattr(optim, name)(resumed, lr=123.0)  # hyper-parameters come from the state dict
    opt2.load_state_dict(saved_state)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for _ in range(5):
        _minidl_step(opt2, resumed, X, Y)
    for a, b in zip(_values(resumed), uninterrupted):
        np.testing.assert_array_equal(a, b)


def test_state_dict_structure_matches_torch():
    torch = pytest.importorskip("torch")
    X, Y, init = _problem()
    mp, tp = _minidl_params(init), _torch_params(torch, init)
    mopt = optim.Adam([{"params": mp[:1]}, {"params": mp[1:], "lr": 0.1}], lr=0.01)
    topt = torch.optim.Adam([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.1}], lr=0.01)
    _minidl_step(mopt, mp, minidl.tensor(X), minidl.tensor(Y))
    _torch_step(topt, tp, torch.tensor(X), torch.tensor(Y))
    ms, ts = mopt.state_dict(), topt.state_dict()
    assert [g["params"] for g in ms["param_groups"]] == [g["params"] for g in ts["param_groups"]] == [[0], [1, 2]]
    assert sorted(ms["state"]) == sorted(ts["state"])
    for idx in ms["state"]:
        assert set(ms["state"][idx]) == set(ts["state"][idx])
        np.testing.assert_allclose(ms["state"][idx]["exp_avg"], ts["state"][idx]["exp_avg"].numpy(), rtol=1e-10)


def test_state_dict_is_a_snapshot():
    p = minidl.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    sd = opt.state_dict()
    before = sd["state"][0]["momentum_buffer"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], before)


def test_load_state_dict_errors_say_what_does_not_match():
    a, b = minidl.zeros(2, requires_grad=True), minidl.zeros(3, requires_grad=True)
    opt = optim.Adam([a, b])
    a.grad, b.grad = minidl.ones(2), minidl.ones(3)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameter\\(s\\) in the loaded state dict, but 1"):
        optim.Adam([a]).load_state_dict(sd)
    with pytest.raises(ValueError, match="1 parameter group\\(s\\), but the optimizer has 2"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="has shape \\(2,\\), but the parameter has shape \\(3,\\)"):
        optim.Adam([b, a]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_load_state_dict_accepts_tensors_and_casts_to_parameter_dtype():
    p = minidl.zeros(2, requires_grad=True)  # float32
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sd = {
        "state": {0: {"momentum_buffer": minidl.tensor(np.array([1.0, 2.0]))}},
        "param_groups": opt.state_dict()["param_groups"],
    }
    opt.load_state_dict(sd)
    buf = opt.state[p]["momentum_buffer"]
    assert buf.dtype == np.float32 and buf.tolist() == [1.0, 2.0]


# ---- validation ----------------------------------------------------------------------------
BAD_HYPERPARAMETERS = [
    ("SGD", dict(lr=-0.1), "lr"),
    ("SGD", dict(momentum=-0.5), "momentum"),
    ("SGD", dict(weight_decay=-1.0), "weight_decay"),
    ("SGD", dict(nesterov=True), "nesterov"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
    ("Adam", dict(betas=(1.0, 0.999)), "beta1"),
    ("Adam", dict(betas=(0.9, -0.1)), "beta2"),
    ("Adam", dict(betas=(0.9,)), "betas"),
    ("Adam", dict(eps=-1e-8), "eps"),
    ("AdamW", dict(lr=float("nan")), "lr"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("Adagrad", dict(lr_decay=-1.0), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
]


@pytest.mark.parametrize(("name", "kwargs", "word"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise(name, kwargs, word):
    with pytest.raises(ValueError, match=word):
        getattr(optim, name)([minidl.zeros(2, requires_grad=True)], **kwargs)


def test_bad_params_raise():
    p = minidl.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p])
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([p * 2])
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}])


def test_gradient_of_wrong_shape_raises():
    p = minidl.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = minidl.zeros(3)
    with pytest.raises(RuntimeError, match="gradient of shape \\(3,\\)"):
        opt.step()


# ---- learning-rate schedulers --------------------------------------------------------------
SCHED_SPECS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=4)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=25)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], epochs=5, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.4)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=25, three_phase=True, div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=25, cycle_momentum=False)),
]
SCHED_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHED_SPECS)]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize(("name", "kwargs"), SCHED_SPECS, ids=SCHED_IDS)
def test_scheduler_matches_torch(name, kwargs, opt_name):
    torch = pytest.importorskip("torch")
    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    mopt = getattr(optim, opt_name)(
        [
            {"params": [minidl.zeros(1, requires_grad=True)]},
            {"params": [minidl.zeros(1, requires_grad=True)], "lr": 0.3},
        ],
        lr=0.1,
        **extra,
    )
    topt = getattr(torch.optim, opt_name)(
        [{"params": [torch.zeros(1, requires_grad=True)]}, {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}],
        lr=0.1,
        **extra,
    )
    ms, ts = getattr(lr_scheduler, name)(mopt, **kwargs), getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    momentum_key = "momentum" if opt_name == "SGD" else "betas"
    for epoch in range(25 if name == "OneCycleLR" else 30):
        np.testing.assert_allclose(ms.get_last_lr(), ts.get_last_lr(), rtol=1e-12, atol=1e-15, err_msg=f"epoch {epoch}")
        for mg, tg in zip(mopt.param_groups, topt.param_groups):
            assert mg["lr"] == pytest.approx(tg["lr"], rel=1e-12)
            assert np.allclose(mg[momentum_key], tg[momentum_key], rtol=1e-12), f"epoch {epoch}"
        mopt.step()
        topt.step()
        ms.step()
        ts.step()
    assert ms.last_epoch == ts.last_epoch


@pytest.mark.parametrize(("name", "kwargs"), [s for s in SCHED_SPECS if s[0] != "OneCycleLR"], ids=SCHED_IDS[:8])
def test_closed_form_agrees_with_recursion(name, kwargs):
    opt = optim.SGD([minidl.zeros(1, requires_grad=True)], lr=0.2)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    for _ in range(20):
        sched.step()
        closed = getattr(sched, "_closed_form_lr", sched.get_lr)()
        np.testing.assert_allclose(closed, sched.get_last_lr(), rtol=1e-9, atol=1e-12)


def test_scheduler_state_dict_round_trip():
    def make():
        opt = optim.SGD([minidl.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        return opt, lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=20)

    opt, sched = make()
    for _ in range(6):
        opt.step()
        sched.step()
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    expected = []
    for _ in range(6):
        sched.step()
        expected.append((sched.get_last_lr()[0], opt.param_groups[0]["momentum"]))

    opt2, sched2 = make()
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    got = []
    for _ in range(6):
        sched2.step()
        got.append((sched2.get_last_lr()[0], opt2.param_groups[0]["momentum"]))
    assert got == expected


def test_lambda_lr_state_dict_keeps_callable_objects_state():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt = optim.SGD([minidl.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.LambdaLR(opt, Warmup(4))
    sched.step()
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"n": 4}] and "optimizer" not in state
    other = lr_scheduler.LambdaLR(optim.SGD([minidl.zeros(1, requires_grad=True)], lr=1.0), Warmup(10))
    other.load_state_dict(state)
    assert other.lr_lambdas[0].n == 4 and other.last_epoch == 1
    assert lr_scheduler.LambdaLR(opt, lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


def test_scheduler_errors():
    opt = optim.SGD([minidl.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR("sgd", step_size=2)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([minidl.zeros(1, requires_grad=True)]), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="expected 1 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([minidl.zeros(1, requires_grad=True)]), step_size=2, last_epoch=3)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2, cycle_momentum=False)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="total_steps=2"):
        sched.step()


# ---- gradient clipping ---------------------------------------------------------------------
CLIP_SPECS = [(0.5, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf), (0.5, 3.0), (100.0, math.inf)]


@pytest.mark.parametrize(("max_norm", "norm_type"), CLIP_SPECS)
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (4,), ()]]
    mp = [minidl.zeros(*g.shape, requires_grad=True) for g in grads] + [minidl.zeros(2, requires_grad=True)]
    tp = [torch.zeros(g.shape, requires_grad=True) for g in grads] + [torch.zeros(2, requires_grad=True)]
    for p, q, g in zip(mp, tp, grads):
        p.grad, q.grad = minidl.tensor(g), torch.tensor(g)
    mnorm = optim.clip_grad_norm_(mp, max_norm, norm_type)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    assert isinstance(mnorm, minidl.Tensor) and mnorm.shape == () and mnorm.dtype == minidl.float32
    assert mnorm.item() == pytest.approx(tnorm.item(), rel=1e-6)
    for p, q in zip(mp[:3], tp[:3]):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert mp[3].grad is None


def test_clip_grad_norm_nonfinite_and_empty():
    p = minidl.zeros(2, requires_grad=True)
    assert optim.clip_grad_norm_([p], 1.0).item() == 0.0
    p.grad = minidl.tensor([1.0, float("inf")])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        optim.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.array([[-2.0, 0.3], [0.7, 5.0]], dtype=np.float32)
    p, q = minidl.zeros(2, 2, requires_grad=True), torch.zeros(2, 2, requires_grad=True)
    p.grad, q.grad = minidl.tensor(g), torch.tensor(g)
    optim.clip_grad_value_(p, 0.5)
    torch.nn.utils.clip_grad_value_(q, 0.5)
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    with pytest.raises(ValueError, match="clip_value"):
        optim.clip_grad_value_(p, -1.0)
