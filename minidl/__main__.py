"""Command line: ``python -m minidl demo``."""

from __future__ import annotations

import argparse
import sys


def demo(args) -> int:
    """Reverse-mode autograd in a few lines, checked against finite differences."""
    import minidl

    minidl.manual_seed(0)
    print("minidl demo: reverse-mode autograd, checked numerically\n")

    x = minidl.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward()
    print("y = sum(tanh(x) * x) at x =", x.tolist())
    print("  dy/dx by backward      :", [round(v, 6) for v in x.grad.tolist()])
    t = x.detach().tanh()
    print("  dy/dx = tanh x + x(1-tanh^2 x):", [round(v, 6) for v in (t + x.detach() * (1 - t * t)).tolist()])

    # second derivative of tanh through create_graph=True
    x = minidl.tensor(0.3, dtype=minidl.float64, requires_grad=True)
    (d1,) = minidl.grad(x.tanh(), x, create_graph=True)
    (d2,) = minidl.grad(d1, x)
    print(f"\nd/dx tanh at 0.3 = {d1.item():.6f}, d2/dx2 tanh = {d2.item():.6f}")

    # a small two-layer network and gradcheck of all its parameters
    a = minidl.randn(4, 3, dtype=minidl.float64, requires_grad=True)
    w1 = minidl.randn(3, 5, dtype=minidl.float64, requires_grad=True)
    w2 = minidl.randn(5, 2, dtype=minidl.float64, requires_grad=True)

    def net(a, w1, w2):
        return ((a @ w1).sigmoid() @ w2).logsumexp(dim=1)

    ok1 = minidl.gradcheck(net, (a, w1, w2))
    ok2 = minidl.gradgradcheck(net, (a, w1, w2))
    print(f"\ngradcheck of logsumexp(sigmoid(a W1) W2): {ok1}; gradgradcheck: {ok2}")
    return 0 if ok1 and ok2 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minidl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="show autograd and a gradient check")
    args = parser.parse_args(argv)
    return {"demo": demo}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
