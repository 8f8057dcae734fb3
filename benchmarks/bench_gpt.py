"""The GPT in one run: train-step time against the same model in PyTorch, generation speed with and
without the key/value cache, and the memory a training step holds with and without activation
checkpointing.

    python benchmarks/bench_gpt.py                      # n_layer 4, n_head 4, n_embd 128, block 128, batch 16
    python benchmarks/bench_gpt.py --n-embd 64 --block-size 64 --repeats 10
    python benchmarks/bench_gpt.py --threads 1 --clock cpu   # steadier on a loaded machine

Prints medians (float32, 2 threads by default) and the ratio minidl / torch, the two (and minidl
in reference mode) timed in alternating warmed blocks. Without torch installed, the torch
columns are left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

from _timing import in_reference_mode, load_line, median_times, set_threads, threads_from_argv, timed

set_threads(threads_from_argv(), force=True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import minidl  # noqa: E402
from minidl.language_model import TrainConfig, make_optimizer  # noqa: E402
from minidl.nn.gpt import GPT, GPTConfig  # noqa: E402


def minidl_step(model, opt, x, y):
    def step():
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.step()

    return step


def torch_twin(model, torch):
    """The same network in PyTorch, with minidl's weights copied in."""
    nn, F = torch.nn, torch.nn.functional
    c = model.config

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(c.n_embd), nn.LayerNorm(c.n_embd)
            self.c_attn, self.attn_proj = nn.Linear(c.n_embd, 3 * c.n_embd), nn.Linear(c.n_embd, c.n_embd)
            self.c_fc, self.mlp_proj = nn.Linear(c.n_embd, 4 * c.n_embd), nn.Linear(4 * c.n_embd, c.n_embd)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, c.n_head, -1).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.attn_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
            self.h = nn.ModuleList([Block() for _ in range(c.n_layer)])
            self.ln_f = nn.LayerNorm(c.n_embd)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    twin = Twin()
    names = {"attn.c_proj": "attn_proj", "mlp.c_proj": "mlp_proj", "attn.c_attn": "c_attn", "mlp.c_fc": "c_fc"}
    state = {}
    for name, p in model.named_parameters():
        for ours, theirs in names.items():
            name = name.replace(ours, theirs)
        state[name] = torch.tensor(p.detach().numpy())
    twin.load_state_dict(state)
    return twin


def torch_step(twin, torch, x, y, cfg):
    decay = [p for p in twin.parameters() if p.ndim >= 2]
    rest = [p for p in twin.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
    x, y = torch.tensor(x.numpy()), torch.tensor(y.numpy())

    def step():
        opt.zero_grad()
        twin(x, y).backward()
        opt.step()

    return step


def memory_of_step(model, x, y):
    """(bytes of arrays alive after the forward pass, what the backward pass will read; peak bytes
    of arrays over forward + backward), traced by tracemalloc."""
    model.zero_grad()
    tracemalloc.start()
    _, loss = model(x, y)
    held = tracemalloc.get_traced_memory()[0]
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    model.zero_grad()
    return held, peak


def _arguments():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--vocab-size", type=int, default=65)
    ap.add_argument("--repeats", type=int, default=9, help="timed train steps of each (default 9)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch and BLAS threads (default 2)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall-clock time (default) or this process's CPU time (steadier on a loaded machine)")
    return ap.parse_args()


def time_train_steps(model, cfg, x, y, torch, twin, args):
    """Median seconds of a train step: minidl, minidl in reference mode, torch (or None)."""
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    steps = [minidl_step(model, make_optimizer(model, cfg), x, y)]
    steps.append(in_reference_mode(minidl_step(model, make_optimizer(model, cfg), x, y)))
    if torch is not None:
        steps.append(torch_step(twin, torch, x, y, cfg))
    times = median_times(steps, args.repeats, rounds=3, warmup=0.0, clock=clock)
    return times[0], times[1], (times[2] if torch is not None else None)


def main():
    args = _arguments()
    minidl.manual_seed(0)
    config = GPTConfig(vocab_size=args.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd)
    model = GPT(config)
    cfg = TrainConfig()
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.integers(0, args.vocab_size, (args.batch_size, args.block_size)))
    y = minidl.tensor(rng.integers(0, args.vocab_size, (args.batch_size, args.block_size)))
    tokens = args.batch_size * args.block_size
    print(f"GPT: {model.num_parameters():,} parameters, n_layer {args.n_layer}, n_head {args.n_head}, "
          f"n_embd {args.n_embd}, block {args.block_size}, batch {args.batch_size}; float32, {args.threads} threads, "
          f"{args.clock} clock, medians of {args.repeats} in 3 alternating blocks; {load_line()}")
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = twin = None
    if torch is not None:  # the same network: the same loss before any step
        twin = torch_twin(model, torch)
        a, b = model(x, y)[1].item(), twin(torch.tensor(x.numpy()), torch.tensor(y.numpy())).item()
        assert abs(a - b) < 1e-4 * abs(b), (a, b)
        print(f"same initial loss: minidl {a:.6f}, torch {b:.6f}")
    ours, ref, theirs = time_train_steps(model, cfg, x, y, torch, twin, args)
    line = f"train step   minidl {ours * 1e3:8.1f} ms  {tokens / ours:9,.0f} tokens/s"
    if theirs is not None:
        line += f"   torch {theirs * 1e3:8.1f} ms  {tokens / theirs:9,.0f} tokens/s   ratio {ours / theirs:.2f}"
    print(line)
    print(f"train step   minidl in reference mode {ref * 1e3:8.1f} ms  {tokens / ref:9,.0f} tokens/s "
          f"(the kernels buy {ref / ours:.2f}x)")

    model.eval()
    prompt = x[:1, :8]
    for cache in (True, False):
        s = timed(lambda c=cache: model.generate(prompt, args.new_tokens, temperature=0.0, use_cache=c), 3)
        print(f"generation   {'with' if cache else 'without'} the cache {args.new_tokens / s:8.1f} tokens/s "
              f"({args.new_tokens} tokens after a prompt of 8, batch 1, wall clock)")
    model.train()

    plain = memory_of_step(model, x, y)
    model.gradient_checkpointing = True
    ckpt = memory_of_step(model, x, y)
    model.gradient_checkpointing = False
    print(f"memory       held after the forward: {plain[0] / 2**20:.1f} MiB, with checkpointing "
          f"{ckpt[0] / 2**20:.1f} MiB ({ckpt[0] / plain[0]:.2f}x)")
    print(f"memory       peak over forward + backward: {plain[1] / 2**20:.1f} MiB, with checkpointing "
          f"{ckpt[1] / 2**20:.1f} MiB ({ckpt[1] / plain[1]:.2f}x)")


if __name__ == "__main__":
    main()
