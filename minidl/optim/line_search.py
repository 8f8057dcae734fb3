"""The strong-Wolfe line search that L-BFGS uses (``line_search_fn="strong_wolfe"``).

Along a descent direction d from x, with φ(t) = f(x + t d) and φ'(t) = ∇f(x + t d)·d, a step t
satisfies the strong Wolfe conditions when

    φ(t) ≤ φ(0) + c₁ t φ'(0)        (sufficient decrease, c₁ = 1e-4)
    |φ'(t)| ≤ −c₂ φ'(0)              (curvature, c₂ = 0.9)

The search (Nocedal & Wright, "Numerical Optimization", algorithms 3.5 and 3.6) first grows t
until an interval [t_lo, t_hi] is known to hold such a step (``_bracket``), then shrinks the
interval by cubic interpolation (``_zoom``). ``phi(t)`` returns ``(f, g)``: the loss (a float)
and the flat gradient (an array) at x + t d; each call is one function evaluation.
"""

from __future__ import annotations

import math

C1, C2 = 1e-4, 0.9


def cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer, clamped to ``bounds`` (default [min(x1, x2), max(x1, x2)]), of the cubic
    that takes values f1, f2 and slopes g1, g2 at x1, x2; the middle of the bounds when that cubic
    has no minimum.

        d₁ = g₁ + g₂ − 3 (f₁ − f₂) / (x₁ − x₂),   d₂ = √(d₁² − g₁ g₂)
        x* = x₂ − (x₂ − x₁) (g₂ + d₂ − d₁) / (g₂ − g₁ + 2 d₂)      (x₁ ≤ x₂; symmetric otherwise)
    """
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


class _Point:
    """A trial step: t, φ(t), the gradient there, φ'(t)."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _bracket(phi, d, start, t, max_ls):
    """Grow the step from ``t`` until [previous, current] brackets a strong-Wolfe step (or the
    current one already is one). Returns (points, done, evaluations, iterations)."""
    f, g = phi(t)
    new, prev = _Point(t, f, g, float(g @ d)), start
    evals = 1
    for iteration in range(max_ls):
        if new.f > start.f + C1 * new.t * start.gtd or (iteration > 1 and new.f >= prev.f):
            return [prev, new], False, evals, iteration
        if abs(new.gtd) <= -C2 * start.gtd:
            return [new], True, evals, iteration
        if new.gtd >= 0:
            return [prev, new], False, evals, iteration
        t_next = cubic_minimizer(prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
                                 bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev = new
        f, g = phi(t_next)
        new = _Point(t_next, f, g, float(g @ d))
        evals += 1
    return [start, new], False, evals, max_ls  # out of evaluations: keep the better of the two ends


def _safeguarded(t, lo, hi, insufficient):
    """Keep an interpolated step away from the ends of [lo, hi] (at least a tenth of its width
    inside, once the previous step made too little progress). Returns (t, insufficient)."""
    eps = 0.1 * (hi - lo)
    if min(hi - t, t - lo) >= eps:
        return t, False
    if insufficient or t >= hi or t <= lo:
        return (hi - eps if abs(t - hi) < abs(t - lo) else lo + eps), False
    return t, True


def _zoom(phi, d, start, ends, done, iteration, max_ls, tolerance_change):
    """Shrink the bracket ``ends`` around a strong-Wolfe step; the best point and the evaluations."""
    d_norm = float(abs(d).max()) if d.size else 0.0
    low, high = (0, 1) if ends[0].f <= ends[-1].f else (1, 0)
    insufficient, evals = False, 0
    while not done and iteration < max_ls:
        if abs(ends[1].t - ends[0].t) * d_norm < tolerance_change:
            break
        a, b = ends
        t = cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t, insufficient = _safeguarded(t, min(a.t, b.t), max(a.t, b.t), insufficient)
        f, g = phi(t)
        new = _Point(t, f, g, float(g @ d))
        evals += 1
        iteration += 1
        if new.f > start.f + C1 * t * start.gtd or new.f >= ends[low].f:
            ends[high] = new
            low, high = (0, 1) if ends[0].f <= ends[1].f else (1, 0)
            continue
        if abs(new.gtd) <= -C2 * start.gtd:
            done = True
        elif new.gtd * (ends[high].t - ends[low].t) >= 0:
            ends[high] = ends[low]
        ends[low] = new
    return ends[low], evals


def strong_wolfe(phi, d, f, g, gtd, t, tolerance_change=1e-9, max_ls=25):
    """A step t along ``d`` that satisfies the strong Wolfe conditions, from the loss ``f``, the
    flat gradient ``g`` and the slope ``gtd`` = g·d at t = 0 and the first trial step ``t``.

    Returns ``(f_new, g_new, t, evaluations)``: the loss and gradient at the step found."""
    start = _Point(0.0, f, g.copy(), gtd)
    ends, done, evals, iteration = _bracket(phi, d, start, t, max_ls)
    if done:
        best = ends[0]
    else:
        best, more = _zoom(phi, d, start, ends, done, iteration, max_ls, tolerance_change)
        evals += more
    return best.f, best.g, best.t, evals
