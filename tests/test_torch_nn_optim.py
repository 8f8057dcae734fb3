"""The optimizers Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and LBFGS against PyTorch: several
steps with two parameter groups (float64), the state carried through ``state_dict`` mid-run, and
the hyper-parameters PyTorch refuses refused alike."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import optim

torch = pytest.importorskip("torch")

CONFIGS = [
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.05)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.1)),  # ρ_t > 5 from step 5 on
    ("RAdam", dict(lr=0.05, betas=(0.5, 0.6), weight_decay=0.1, decoupled_weight_decay=True)),
    ("ASGD", {}),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.01)),
    ("Rprop", {}),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)),
]

STEPS = 8
# PyTorch keeps NAdam's μ-product and ASGD's η and μ in float32 0-d tensors; minidl in Python floats
RTOL = {"NAdam": 1e-6, "ASGD": 1e-6}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((2, 2))]


def _loss(lib, params, step):
    """A smooth loss whose gradients change sign now and then (Rprop's backtracking is exercised)."""
    w, b, c = params
    t = lib.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4) * (1 + 0.1 * step), dtype=lib.float64)
    r = lib.sin(w * 2.0 + b) - t
    return (r * r).sum() + (c * c * c).sum() * 0.1 + (w * b).sum()


def _groups(params, lr_scale):
    return [{"params": params[:2]}, {"params": params[2:], "lr": lr_scale}] if lr_scale else params


def _run(lib, name, kwargs, steps, start=None, state=None):
    arrays = start if start is not None else _problem()
    params = [lib.tensor(a.copy(), dtype=lib.float64, requires_grad=True) for a in arrays]
    lr = kwargs.get("lr", getattr(lib.optim, name)([lib.zeros(1, requires_grad=True)]).defaults["lr"])
    opt = getattr(lib.optim, name)(_groups(params, lr / 2), **kwargs)
    if state is not None:
        opt.load_state_dict(state)
    for step in range(steps):
        opt.zero_grad()
        _loss(lib, params, step).backward()
        opt.step()
    return [p.detach().numpy().copy() for p in params], opt


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_steps_match_torch(name, kwargs):
    ours, _ = _run(minidl, name, kwargs, STEPS)
    theirs, _ = _run(torch, name, kwargs, STEPS)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL.get(name, 1e-9), atol=1e-11, err_msg=name)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS[1::2])
def test_state_dict_round_trip_continues_the_run(name, kwargs, tmp_path):
    whole, _ = _run(minidl, name, kwargs, STEPS)
    half, opt = _run(minidl, name, kwargs, STEPS // 2)
    path = tmp_path / "opt.pt"
    minidl.save({"optimizer": opt.state_dict(), "epoch": 4}, path)
    loaded = minidl.load(path)
    assert loaded["epoch"] == 4 and isinstance(loaded["epoch"], int)
    # the second half starts from the saved parameters; its loss schedule restarts at 0, so
    # compare with a run that does the same
    second, _ = _run(minidl, name, kwargs, STEPS // 2, start=half, state=loaded["optimizer"])
    reference_opt_state = opt.state_dict()
    again, _ = _run(minidl, name, kwargs, STEPS // 2, start=half, state=reference_opt_state)
    for a, b in zip(second, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(second, whole)) or name == "Adadelta"


@pytest.mark.parametrize(("name", "kwargs"), [c for c in CONFIGS if c[1]])
def test_state_from_torch_continues_like_torch(name, kwargs):
    """State saved by PyTorch mid-run, loaded into minidl, gives PyTorch's next steps."""
    half, topt = _run(torch, name, kwargs, 3)
    ours, _ = _run(minidl, name, kwargs, 3, start=half, state=_torch_state(topt.state_dict()))
    theirs, _ = _run(torch, name, kwargs, 3, start=half, state=topt.state_dict())
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def _torch_state(sd):
    def convert(v):
        if isinstance(v, torch.Tensor):
            return v.item() if v.ndim == 0 else v.numpy().copy()
        return v

    state = {i: {k: convert(v) for k, v in s.items()} for i, s in sd["state"].items()}
    return {"state": state, "param_groups": [dict(g) for g in sd["param_groups"]]}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
        ("Adadelta", dict(lr=-1.0), "Invalid learning rate: -1.0"),
        ("Adamax", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        ("NAdam", dict(momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
        ("RAdam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
        ("ASGD", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        ("Rprop", dict(etas=(1.2, 0.5)), "Invalid eta values: 1.2, 0.5"),
    ],
)
def test_refused_like_torch(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=f"{name}: {message}"):
        getattr(optim, name)([minidl.zeros(2, requires_grad=True)], **kwargs)


# ---- L-BFGS ------------------------------------------------------------------------------------
def _rosenbrock(lib, x):
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def _lbfgs(lib, steps, **kwargs):
    x = lib.tensor(np.array([-1.2, 1.0, -0.5, 0.8]), dtype=lib.float64, requires_grad=True)
    opt = lib.optim.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(lib, x)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return x.detach().numpy().copy(), losses, opt


@pytest.mark.parametrize(
    "kwargs",
    [dict(lr=0.1, max_iter=5), dict(line_search_fn="strong_wolfe"), dict(line_search_fn="strong_wolfe", history_size=3,
                                                                       max_iter=7, max_eval=9)],
)
def test_lbfgs_matches_torch(kwargs):
    ours, our_losses, opt = _lbfgs(minidl, 4, **kwargs)
    theirs, their_losses, topt = _lbfgs(torch, 4, **kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-7, atol=1e-10)
    mine, its = opt.state[opt.param_groups[0]["params"][0]], topt.state[topt.param_groups[0]["params"][0]]
    assert mine["n_iter"] == its["n_iter"] and mine["func_evals"] == its["func_evals"]


def test_lbfgs_with_strong_wolfe_finds_the_minimum():
    x, losses, _ = _lbfgs(minidl, 6, line_search_fn="strong_wolfe")
    np.testing.assert_allclose(x, np.ones(4), atol=1e-5)
    assert losses[-1] < losses[0]


def test_lbfgs_state_dict_round_trip(tmp_path):
    _, _, opt = _lbfgs(minidl, 2, line_search_fn="strong_wolfe")
    path = tmp_path / "lbfgs.pt"
    minidl.save(opt.state_dict(), path)
    x = minidl.tensor(np.zeros(4), dtype=minidl.float64, requires_grad=True)
    fresh = optim.LBFGS([x], line_search_fn="strong_wolfe")
    fresh.load_state_dict(minidl.load(path))
    saved, got = opt.state[opt.param_groups[0]["params"][0]], fresh.state[x]
    assert got["n_iter"] == saved["n_iter"] and len(got["old_dirs"]) == len(saved["old_dirs"])
    np.testing.assert_array_equal(got["d"], saved["d"])


def test_lbfgs_refuses_groups_and_unknown_line_search():
    a, b = minidl.zeros(2, requires_grad=True), minidl.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([a], line_search_fn="armijo")
    with pytest.raises(ValueError, match="closure"):
        optim.LBFGS([a]).step()
