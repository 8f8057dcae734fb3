"""Command line for the language model: ``python -m minidl train gpt`` and ``python -m minidl generate``.

    python -m minidl train gpt --dataset tinyshakespeare --steps 2000      # character level
    python -m minidl train gpt --tokenizer bpe --vocab-size 512 --steps 2000
    python -m minidl generate --checkpoint runs/gpt-tinyshakespeare --prompt "ROMEO:" --max-new-tokens 300
"""

from __future__ import annotations

import time

import numpy


class UsageError(ValueError):
    """Bad command-line values (exit status 2)."""


def add_train_arguments(t):
    """The GPT options of ``python -m minidl train gpt`` (the other models ignore them)."""
    g = t.add_argument_group("gpt (python -m minidl train gpt --dataset tinyshakespeare)")
    g.add_argument("--steps", type=int, default=2000, help="optimiser steps (gpt)")
    g.add_argument("--block-size", type=int, default=128, help="context length in tokens (gpt)")
    g.add_argument("--n-layer", type=int, default=4)
    g.add_argument("--n-head", type=int, default=4)
    g.add_argument("--n-embd", type=int, default=128)
    g.add_argument("--dropout", type=float, default=0.0)
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (warm-up, then cosine)")
    g.add_argument("--warmup", type=int, default=100)
    g.add_argument("--accumulation", type=int, default=1, help="micro-batches per step")
    g.add_argument("--eval-every", type=int, default=200)
    g.add_argument("--tokenizer", choices=("char", "bpe"), default="char")
    g.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size (with --tokenizer bpe)")


def add_generate_parser(sub):
    g = sub.add_parser("generate", help="sample text from a trained language model")
    g.add_argument("--checkpoint", required=True, help="a folder written by `python -m minidl train gpt`")
    g.add_argument("--prompt", default="\n")
    g.add_argument("--max-new-tokens", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-cache", action="store_true", help="recompute the whole context at every step")
    return g


def _tokenizer(kind, text, vocab_size):
    from .tokenizers import ByteBPETokenizer, CharTokenizer

    if kind == "char":
        return CharTokenizer.train(text)
    print(f"training a byte-level BPE tokenizer of {vocab_size} tokens ...", flush=True)
    return ByteBPETokenizer.train(text, vocab_size)


def train_gpt(args) -> int:
    """Train a GPT on Tiny Shakespeare (90/10 split), print losses, save the run into ``--out``."""
    from pathlib import Path

    import minidl
    from minidl.datasets import tiny_shakespeare
    from minidl.language_model import TrainConfig, save_run, split, train_lm
    from minidl.nn.gpt import GPT, GPTConfig

    if args.dataset != "tinyshakespeare":
        raise UsageError(f"the gpt trains on --dataset tinyshakespeare, not {args.dataset}")
    for name in ("steps", "block_size", "batch_size", "accumulation", "eval_every"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    minidl.manual_seed(args.seed)
    text = tiny_shakespeare.load_data()
    if args.limit:
        text = text[: args.limit]
    tok = _tokenizer(args.tokenizer, text, args.vocab_size)
    train_data, val_data = split(numpy.array(tok.encode(text), dtype=numpy.int64))
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    model = GPT(config)
    if args.device != "cpu":
        model.to(args.device)
    print(f"gpt: {model.num_parameters():,} parameters (without position embeddings), {tok.vocab_size} tokens, "
          f"{len(train_data):,} training and {len(val_data):,} validation tokens")
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, accumulation=args.accumulation, lr=args.lr,
                      min_lr=args.lr / 10, warmup=min(args.warmup, args.steps), eval_every=args.eval_every,
                      seed=args.seed)
    history = train_lm(model, train_data, val_data, cfg, on_step=_progress(args.steps, args.verbose))
    out = Path(args.out or "runs/gpt-tinyshakespeare")
    save_run(out, model, tok, history)
    seconds = history["seconds"][-1]
    tokens = cfg.steps * cfg.accumulation * cfg.batch_size * config.block_size
    print(f"validation loss {history['val_loss'][-1]:.4f} (train {history['train_loss'][-1]:.4f}) after "
          f"{cfg.steps} steps, {seconds:.0f} s, {tokens / seconds:,.0f} tokens/s; saved in {out}/")
    return 0


def _progress(steps, verbose):
    if not verbose:
        return None
    from tqdm import tqdm

    bar = tqdm(total=steps, unit="step", mininterval=0.5)

    def on_step(step, loss):
        bar.update(1)
        bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
        if step + 1 == steps:
            bar.close()

    return on_step


def generate(args) -> int:
    """Print ``--prompt`` followed by the model's continuation, and the tokens per second."""
    from minidl.language_model import load_run

    if args.max_new_tokens < 0:
        raise UsageError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
    model, tok, _ = load_run(args.checkpoint)
    model.eval()
    prompt = tok.encode(args.prompt)
    if not prompt:
        raise UsageError("--prompt encodes to no tokens")
    start = time.perf_counter()
    out = model.generate([prompt], args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, use_cache=not args.no_cache, seed=args.seed)
    seconds = time.perf_counter() - start
    print(tok.decode(out.numpy()[0].tolist()))
    print(f"\n({args.max_new_tokens} tokens in {seconds:.2f} s, {args.max_new_tokens / max(seconds, 1e-9):.1f} "
          f"tokens/s, {'without' if args.no_cache else 'with'} the key/value cache)")
    return 0
