"""Robustness of the seed CNN on MNIST, trained normally and adversarially, and the time per attack step.

    .venv/bin/python benchmarks/bench_attacks.py            # the full setting (31 min on 2 cores shared
                                                            # with other jobs at a load of 10-17)
    .venv/bin/python benchmarks/bench_attacks.py --fast     # a smoke run: 1,000 images, PGD-5, under a minute
    .venv/bin/python benchmarks/bench_attacks.py --train-attack pgd --train-steps 3
    .venv/bin/python benchmarks/bench_attacks.py --time-only --threads 1   # the attack-step timing alone

The seed CNN is the ``tf.keras`` example built with ``minidl.keras`` (``python -m minidl train cnn``):
Conv2D 32 3x3 relu, MaxPool 2, Conv2D 64 3x3 relu, MaxPool 2, Flatten, Dense 128 relu, Dense 10
softmax, Adam 1e-3, batch 32, on MNIST from ``MINIDL_DATA`` (pixels in [0, 1]). Two copies start
from the same weights: one trained by ``fit`` on clean images, one by ``fit`` of
``attacks.AdversarialModel`` (each batch replaced by adversarial examples at ε = 0.3 before the
step), with ε ramped up linearly over the first ``--ramp`` of the batches (a common warm-up: the
untrained model does not start at the full budget). The training attack is FGSM from
a random start with step 1.25 ε (Wong et al. 2020, two passes per batch), or ``--train-attack
pgd``: PGD with ``--train-steps`` steps of 2.5 ε / steps. Both models are then evaluated on the
first ``--test`` test images, clean and under FGSM and PGD-40 (random start, step 2.5 ε / 40) at
ε = 0.1, 0.2, 0.3, and printed as one table. For reference: a larger adversarially trained MNIST
model (Madry et al. 2018) keeps about 89 % under PGD at ε = 0.3; a normally trained one keeps
near 0 %.

Last, the time of one attack step (forward + backward to the input + signed update, projection
and clamp, on a batch of ``--batch`` test images) of ``attacks.pgd`` against the same step written
in PyTorch on a torch copy of the normally trained model's weights (checked to give the same
logits; torch gets the images channels first, its own layout, converted once outside the timing),
as the median of ``--repeats`` runs, both libraries on ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _timing import median_times, set_threads

EPSILONS = (0.1, 0.2, 0.3)


class RampedAttack:
    """The training attack at ε_t = ε · min(1, (t + 1) / ramp), t the number of batches seen so far:
    FGSM from a random start (step 1.25 ε_t) or PGD (``steps`` steps of 2.5 ε_t / steps)."""

    def __init__(self, kind, eps, steps, ramp, seed):
        self.kind, self.eps, self.steps, self.ramp, self.seed, self.t = kind, eps, steps, max(1, ramp), seed, 0

    def __call__(self, model, x, y):
        from minidl import attacks

        eps = self.eps * min(1.0, (self.t + 1) / self.ramp)
        seed = self.seed * 1_000_003 + self.t  # a fresh random start for every batch
        self.t += 1
        if self.kind == "fgsm":
            return attacks.pgd(model, x, y, eps, alpha=1.25 * eps, steps=1, seed=seed)
        return attacks.pgd(model, x, y, eps, alpha=2.5 * eps / self.steps, steps=self.steps, seed=seed)


def load_mnist(n_train, n_test):
    from minidl.__main__ import load_dataset

    (x, y), (xt, yt), _ = load_dataset("mnist", "cnn")  # (N, 28, 28, 1) in [0, 1]
    return (x[:n_train], y[:n_train]), (xt[:n_test], yt[:n_test])


def train_models(x, y, args):
    """(normally trained, adversarially trained, seconds of each): two seed CNNs from the same weights."""
    import minidl
    from minidl import attacks
    from minidl.__main__ import build_model, compile_model

    minidl.manual_seed(args.seed)
    plain = build_model("cnn", x.shape[1:], 10)
    minidl.manual_seed(args.seed)
    inner = build_model("cnn", x.shape[1:], 10)
    compile_model(plain)
    start = time.perf_counter()
    plain.fit(x, y, batch_size=32, epochs=args.epochs, shuffle=True, verbose=0)
    plain_s = time.perf_counter() - start
    batches = args.epochs * -(-len(x) // 32)
    attack = RampedAttack(args.train_attack, 0.3, args.train_steps, int(args.ramp * batches), args.seed)
    robust = compile_model(attacks.AdversarialModel(inner, attack))
    start = time.perf_counter()
    robust.fit(x, y, batch_size=32, epochs=args.epochs, shuffle=True, verbose=0)
    return plain.eval(), inner.eval(), plain_s, time.perf_counter() - start


def accuracy(model, x, y):
    import numpy as np

    return float((np.asarray(model.predict(x, batch_size=250, verbose=0)).argmax(1) == y).mean())


def robustness(model, x, y, pgd_steps, seed, chunk=250):
    """{"clean": acc, ("fgsm", ε): acc, ("pgd", ε): acc}, the attacks run on chunks of the test set."""
    import numpy as np

    from minidl import attacks

    def attacked(attack):
        return np.concatenate([attack(x[i:i + chunk], y[i:i + chunk]).numpy() for i in range(0, len(x), chunk)])

    out = {"clean": accuracy(model, x, y)}
    for eps in EPSILONS:
        out["fgsm", eps] = accuracy(model, attacked(lambda a, b, e=eps: attacks.fgsm(model, a, b, e)), y)
        adv = attacked(lambda a, b, e=eps: attacks.pgd(model, a, b, e, alpha=2.5 * e / pgd_steps, steps=pgd_steps,
                                                       seed=seed))
        out["pgd", eps] = accuracy(model, adv, y)
    return out


def print_table(results, pgd_steps):
    head = f"{'model':<24} {'clean':>6}" + "".join(f" {f'FGSM {e}':>8}" for e in EPSILONS)
    head += "".join(f" {f'PGD-{pgd_steps} {e}':>11}" for e in EPSILONS)
    print(head)
    for name, r in results.items():
        row = f"{name:<24} {r['clean']:6.3f}" + "".join(f" {r['fgsm', e]:8.3f}" for e in EPSILONS)
        print(row + "".join(f" {r['pgd', e]:11.3f}" for e in EPSILONS))


def torch_twin(model):
    """A torch copy of the seed CNN with the Keras model's weights; it returns the logits."""
    import torch

    k1, b1, k2, b2, k3, b3, k4, b4 = (torch.from_numpy(w.copy()) for w in model.get_weights())
    tf = torch.nn.functional

    def conv(h, k, b):  # Keras kernels are (KH, KW, C_in, C_out), torch's (C_out, C_in, KH, KW)
        return tf.max_pool2d(tf.relu(tf.conv2d(h, k.permute(3, 2, 0, 1).contiguous(), b)), 2)

    def forward(x):  # x: (N, 1, 28, 28), torch's own layout (channels first)
        h = conv(conv(x, k1, b1), k2, b2)  # (N, 64, 5, 5)
        h = h.permute(0, 2, 3, 1).flatten(1)  # (N, 5*5*64) in Keras's (H, W, C) order
        return tf.linear(tf.relu(tf.linear(h, k3.T, b3)), k4.T, b4)

    return forward


def time_attack_step(model, x, y, eps, repeats):
    """Median seconds of one PGD step: minidl's ``attacks.pgd(steps=1)`` and the same in torch."""
    import numpy as np
    import torch

    import minidl
    from minidl import attacks
    from minidl.explain import logits_of

    twin = torch_twin(model)
    xt, yt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)  # (N, 1, 28, 28)
    with torch.no_grad():
        theirs = twin(xt).numpy()
    ours = logits_of(model, minidl.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3)  # the same model in both libraries
    alpha = eps / 4

    def ours_step():
        return attacks.pgd(model, x, y, eps, alpha=alpha, steps=1, random_start=False)

    def torch_step():
        adv = xt.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(twin(adv), yt), adv)
        with torch.no_grad():
            return (xt + (adv + alpha * g.sign() - xt).clamp(-eps, eps)).clamp(0, 1)

    same = np.isclose(ours_step().numpy(), torch_step().permute(0, 2, 3, 1).numpy(), atol=1e-5).mean()
    assert same > 0.99, f"the two steps agree on {same:.1%} of the pixels"  # a gradient ~0 may flip its sign
    return median_times([ours_step, torch_step], repeats, rounds=4, warmup=0.0)


def print_step_time(model, xt, yt, args):
    ours, theirs = time_attack_step(model, xt[:args.batch], yt[:args.batch], 0.3, args.repeats)
    print(f"\none PGD step on a batch of {min(args.batch, len(xt))} (forward + backward + update), median of "
          f"{args.repeats}, {args.threads} threads: minidl {ours * 1e3:.1f} ms, torch {theirs * 1e3:.1f} ms, "
          f"ratio {ours / theirs:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="1,000 training and 200 test images, PGD-5")
    parser.add_argument("--train", type=int, default=None, help="training images (default 12,000; fast 1,000)")
    parser.add_argument("--test", type=int, default=None, help="test images (default 500; fast 200)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of both models (default 2; fast 1)")
    parser.add_argument("--pgd-steps", type=int, default=None, help="steps of the evaluation PGD (default 40)")
    parser.add_argument("--train-attack", choices=("fgsm", "pgd"), default="fgsm")
    parser.add_argument("--train-steps", type=int, default=3, help="steps of the training PGD (--train-attack pgd)")
    parser.add_argument("--ramp", type=float, default=0.3, help="fraction of the batches over which ε grows to 0.3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=128, help="batch of the timed attack step")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--time-only", action="store_true",
                        help="only the attack-step timing, on the untrained seed CNN (its cost does not depend on "
                             "the weights' values)")
    args = parser.parse_args(argv)
    args.train = args.train or (1000 if args.fast else 12000)
    args.test = args.test or (200 if args.fast else 500)
    args.epochs = args.epochs or (1 if args.fast else 2)
    args.pgd_steps = args.pgd_steps or (5 if args.fast else 40)
    set_threads(args.threads, force=True)
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (x, y), (xt, yt) = load_mnist(args.train, args.test)
    if args.time_only:
        import minidl
        from minidl.__main__ import build_model

        minidl.manual_seed(args.seed)
        print_step_time(build_model("cnn", x.shape[1:], 10).eval(), xt, yt, args)
        return 0
    plain, robust, plain_s, robust_s = train_models(x, y, args)
    how = "FGSM, random start" if args.train_attack == "fgsm" else f"PGD-{args.train_steps}"
    print(f"seed CNN on MNIST: {len(x)} training images, {args.epochs} epochs: normal {plain_s:.0f} s, adversarial "
          f"({how}, ε = 0.3, ramped over the first {args.ramp:.0%} of the batches) {robust_s:.0f} s", flush=True)
    results = {}
    for name, model in (("normally trained", plain), (f"adversarially ({args.train_attack})", robust)):
        results[name] = robustness(model, xt, yt, args.pgd_steps, args.seed)
    print(f"\naccuracy on {len(xt)} test images, clean and under attack (L∞, ε in pixels of [0, 1])")
    print_table(results, args.pgd_steps)
    print_step_time(plain, xt, yt, args)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.exit(main())
