"""L-BFGS: a quasi-Newton method that builds its curvature model from the last few steps."""

from __future__ import annotations

import numbers

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Tensor
from .hyperparameters import check_nonnegative
from .line_search import strong_wolfe
from .optimizer import Optimizer, _copy_value


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"LBFGS: {name} must be a positive integer, got {value!r}")


def two_loop_direction(g, old_dirs, old_stps, ro, h_diag):
    """The quasi-Newton direction d = −H g, with H the L-BFGS inverse-Hessian model built from the
    pairs (s_i, y_i) (``old_stps``, ``old_dirs``), ρ_i = 1 / (y_i·s_i) and H₀ = ``h_diag`` · I
    (Nocedal & Wright, algorithm 7.4, the two-loop recursion)::

        q = −g;  for i = k−1 … 0:  α_i = ρ_i s_i·q,  q ← q − α_i y_i
        r = H₀ q; for i = 0 … k−1:  β_i = ρ_i y_i·r,  r ← r + (α_i − β_i) s_i
        d = r
    """
    q = -g
    alphas = [0.0] * len(old_dirs)
    for i in range(len(old_dirs) - 1, -1, -1):
        alphas[i] = float(old_stps[i] @ q) * ro[i]
        q -= alphas[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        beta = float(old_dirs[i] @ r) * ro[i]
        r += (alphas[i] - beta) * old_stps[i]
    return r


class LBFGS(Optimizer):
    r"""L-BFGS (Liu & Nocedal, 1989), as PyTorch's ``torch.optim.LBFGS``: ``step(closure)`` runs
    up to ``max_iter`` iterations, each re-evaluating the loss through ``closure`` (which zeroes
    the gradients, computes the loss, calls ``backward()`` and returns the loss).

    One parameter group; all parameters are seen as one flat vector x with gradient g. At
    iteration k, with s_k = x_{k+1} − x_k and y_k = g_{k+1} − g_k kept for the last
    ``history_size`` steps where y_k·s_k > 1e-10::

        H₀ = (y·s / y·y) I                          from the newest pair
        d_k = −H_k g_k                              the two-loop recursion (``two_loop_direction``)
        t_k = min(1, 1 / Σ|g_0|) γ at k = 0, else γ (``lr``); or a strong-Wolfe line search
        x_{k+1} = x_k + t_k d_k

    It stops early when max|g| ≤ ``tolerance_grad``, when g·d > −``tolerance_change``, when
    max|t d| or the change of the loss falls below ``tolerance_change``, or after ``max_eval``
    evaluations (default ``max_iter · 5 / 4``). The state (direction, history, counters) lives
    under the first parameter; ``step`` returns the loss of the first evaluation.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        check_nonnegative("LBFGS", "lr", lr)
        _check_count("max_iter", max_iter)
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        _check_count("max_eval", max_eval)
        _check_count("history_size", history_size)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ---- the parameters as one flat vector ---------------------------------------------------
    def _xp(self):
        return backend.get_array_module(self._params[0].array)

    def _flat_grad(self):
        xp = self._xp()
        parts = [xp.zeros(p.array.size, p.array.dtype) if p.grad is None else p.grad.array.reshape(-1)
                 for p in self._params]
        return xp.concatenate(parts)

    def _add_to_params(self, t, d):
        """x ← x + t d."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += (t * d[offset:offset + n]).reshape(p.array.shape).astype(p.array.dtype, copy=False)
            p._version[0] += 1
            offset += n

    def _evaluate(self, closure):
        with enable_grad():
            loss = closure()
        return float(loss), self._flat_grad()

    def _phi(self, closure, t, d):
        """(f, g) at x + t d, with the parameters put back to x afterwards."""
        saved = [p.array.copy() for p in self._params]
        self._add_to_params(t, d)
        f, g = self._evaluate(closure)
        for p, x in zip(self._params, saved):
            p.array[...] = x
            p._version[0] += 1
        return f, g

    # ---- the iterations ----------------------------------------------------------------------
    def _direction(self, state, g, group):
        """d_k, after adding the newest (s, y) pair to the history (k > 0), or −g at k = 0."""
        if state["n_iter"] == 1:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
            return -g
        y, s = g - state["prev_flat_grad"], state["d"] * state["t"]
        ys = float(y @ s)
        if ys > 1e-10:
            if len(state["old_dirs"]) == group["history_size"]:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / float(y @ y)
        return two_loop_direction(g, state["old_dirs"], state["old_stps"], state["ro"], state["H_diag"])

    def _move(self, closure, state, group, loss, g, d, t, last):
        """Take the step along d (line search or fixed t); returns (loss, g, t, evaluations)."""
        gtd = float(g @ d)
        if group["line_search_fn"] == "strong_wolfe":
            loss, g, t, evals = strong_wolfe(lambda step: self._phi(closure, step, d), d, loss, g, gtd, t,
                                             group["tolerance_change"], group["max_eval"] - state["_evals_now"])
            self._add_to_params(t, d)
            return loss, g, t, evals
        self._add_to_params(t, d)
        if last:
            return loss, g, t, 0
        loss, g = self._evaluate(closure)
        return loss, g, t, 1

    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; ``closure()`` re-evaluates the loss (and its
        gradients). Returns the loss of the first evaluation."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        with no_grad():
            self._iterate(closure, state, group, float(orig_loss))
        state.pop("_evals_now", None)
        return orig_loss

    def _iterate(self, closure, state, group, loss):
        g = self._flat_grad()
        state["func_evals"] += 1
        state["_evals_now"] = 1
        xp, tol_change = self._xp(), group["tolerance_change"]
        if float(xp.abs(g).max(initial=0)) <= group["tolerance_grad"]:
            return
        for k in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            d = self._direction(state, g, group)
            state["prev_flat_grad"], state["prev_loss"] = g.copy(), loss
            t = min(1.0, 1.0 / float(xp.abs(g).sum())) * group["lr"] if state["n_iter"] == 1 else group["lr"]
            state["d"], state["t"] = d, t
            if float(g @ d) > -tol_change:
                break
            loss, g, t, evals = self._move(closure, state, group, loss, g, d, t, last=k == group["max_iter"])
            state["t"] = t
            state["func_evals"] += evals
            state["_evals_now"] += evals
            if k == group["max_iter"] or state["_evals_now"] >= group["max_eval"]:
                break
            if float(xp.abs(g).max(initial=0)) <= group["tolerance_grad"]:
                break
            if float(xp.abs(d * t).max(initial=0)) <= tol_change or abs(loss - state["prev_loss"]) < tol_change:
                break

    # ---- saving and loading ------------------------------------------------------------------
    def state_dict(self):
        out = super().state_dict()
        out["state"] = {i: {k: ([_copy_value(x) for x in v] if isinstance(v, list) else v) for k, v in s.items()}
                        for i, s in out["state"].items()}
        return out

    def load_state_dict(self, state_dict):
        """Restore the history and counters saved by ``state_dict()`` (flat vectors, not shaped
        like a parameter, so they are copied onto the parameters' device as they are)."""
        saved = dict(state_dict)
        flat_state = saved.get("state", {})
        saved["state"] = {}
        super().load_state_dict(saved)
        device = self._params[0].device
        restored = {}
        for s in flat_state.values():
            restored = {k: _to_device(v, device) for k, v in s.items()}
        if restored:
            self.state = {self._params[0]: restored}


def _to_device(value, device):
    if isinstance(value, Tensor):
        value = value.array
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    if hasattr(value, "shape") and value.shape != ():
        return backend.to_device(value, device).copy()
    return value.item() if hasattr(value, "item") else value
