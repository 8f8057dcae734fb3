"""Text generation: feed a language model its own samples, one token at a time.

    out = generate(model, idx, max_new_tokens=100, temperature=0.8, top_k=40)   # = model.generate(...)

Each step takes the logits z of the last position and draws the next token from

    p = softmax(z / temperature)                      temperature → 0: the arg-max (greedy)
    top-k: p_i = 0 unless z_i is among the k largest
    top-p: keep the most likely tokens, in order, until their mass reaches p (at least one), renormalise

The token ids and the sampling live on the host; the model runs where its parameters are. With
the key/value cache, a step feeds only the token sampled last (``GPT.forward(..., cache=...)``);
without it, the whole context every time. Both give the same tokens.
"""

from __future__ import annotations

import numpy

from .. import functional as F
from ..autograd import no_grad
from ..backend import as_numpy
from ..tensor import Tensor, tensor


class KVCache:
    """Per layer, the keys and values of the positions seen so far: (B, n_head, P, d) each."""

    def __init__(self, n_layer: int):
        self.keys = [None] * n_layer
        self.values = [None] * n_layer

    @property
    def length(self) -> int:
        """Positions held (by the first layer: during a forward, the later ones lag behind)."""
        return self.length_of(0)

    def length_of(self, layer: int) -> int:
        return 0 if self.keys[layer] is None else self.keys[layer].shape[2]

    def extend(self, layer: int, k, v):
        """Append this step's k, v (B, n_head, T, d) to ``layer``'s and return all of them."""
        if self.keys[layer] is not None:
            k = F.cat([self.keys[layer], k], dim=2)  # (B, nh, P+T, d)
            v = F.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


@no_grad()
def generate(model, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, use_cache: bool = True, seed: int | None = None):
    """``idx`` (B, T) followed by ``max_new_tokens`` sampled tokens: (B, T + max_new_tokens)."""
    sample = Sampler(temperature, top_k, top_p, seed)
    idx = idx if isinstance(idx, Tensor) else tensor(idx)
    block = model.config.block_size
    out = as_numpy(idx.array).astype(numpy.int64)  # (B, T), grows by one column per step
    cache = None
    for _ in range(max_new_tokens):
        if not use_cache:  # the whole context, every step
            logits, _ = model(tensor(out[:, -block:], device=idx.device))
        elif cache is None or out.shape[1] > block:  # (re)fill the cache from the context
            cache = KVCache(model.config.n_layer)  # past block_size the positions shift: start over
            logits, _ = model(tensor(out[:, -block:], device=idx.device), cache=cache)
        else:  # only the tokens the cache has not seen: the one sampled last
            logits, _ = model(tensor(out[:, cache.length :], device=idx.device), cache=cache)
        nxt = sample(as_numpy(logits.array[:, -1, :]))  # (B,)
        out = numpy.concatenate([out, nxt[:, None]], axis=1)
    return tensor(out, device=idx.device)


class Sampler:
    """Draws one token per row from logits, with temperature, top-k and top-p (nucleus)."""

    def __init__(self, temperature, top_k, top_p, seed):
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.rng = numpy.random.default_rng(seed)

    def __call__(self, logits):
        logits = logits.astype(numpy.float64)  # (B, V)
        if self.temperature == 0:
            return logits.argmax(axis=1)
        logits = logits / self.temperature
        if self.top_k is not None and self.top_k < logits.shape[1]:
            kth = numpy.sort(logits, axis=1)[:, -self.top_k][:, None]
            logits = numpy.where(logits < kth, -numpy.inf, logits)
        probs = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        if self.top_p is not None and self.top_p < 1.0:
            order = numpy.argsort(-probs, axis=1, kind="stable")
            sorted_p = numpy.take_along_axis(probs, order, axis=1)
            drop = numpy.cumsum(sorted_p, axis=1) - sorted_p >= self.top_p  # mass before it already enough
            sorted_p[drop] = 0.0
            probs = numpy.zeros_like(probs)
            numpy.put_along_axis(probs, order, sorted_p, axis=1)
            probs /= probs.sum(axis=1, keepdims=True)
        u = self.rng.random(probs.shape[0])[:, None]
        return numpy.minimum((numpy.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)
