"""Tokenizers for language models: characters, and byte-level byte-pair encoding (BPE).

    tok = ByteBPETokenizer.train(text, vocab_size=512)
    ids = tok.encode("To be, or not to be")     # a list of ints below tok.vocab_size
    tok.decode(ids)                             # 'To be, or not to be'
    tok.save("tokenizer.json"); ByteBPETokenizer.load("tokenizer.json")

**Byte-level BPE** (Sennrich et al. 2016, on bytes as in GPT-2). Text is cut into chunks (a word
with its leading space, a run of digits, of punctuation, of white space); each chunk is its UTF-8
bytes, so the 256 byte values are the first 256 tokens and no string is out of vocabulary.
Training repeats one rule until the vocabulary has ``vocab_size`` tokens:

    (a, b)* = argmax_{(a, b)} Σ_{chunks w} count(w) · #{i : w_i = a, w_{i+1} = b}
    new token t = a ‖ b;  every adjacent (a, b) in every chunk becomes t

(ties go to the smaller pair (a, b), so training is deterministic). The merges are
ranked in the order they were learned; encoding a chunk applies them by rank — repeatedly
merge the adjacent pair of lowest rank — which reproduces the training segmentation; decoding
concatenates the tokens' bytes. ``decode(encode(s)) == s`` for every Python string ``s``
(lone surrogates included: they travel as their ``surrogatepass`` bytes).

The **character** tokenizer maps each distinct character of a corpus to an integer in sorted
order (nanoGPT's Shakespeare setting); a character it has not seen is an error naming it.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter

from ._files import FileFormatError, atomic_write

#: Chunks that BPE never merges across: contractions, a word or a number with its leading
#: space, runs of other symbols (underscore included), white space (trailing white space kept
#: apart from the next word). Together the alternatives match every character.
CHUNK_PATTERN = r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

MAX_FILE_BYTES = 64 * 2**20  # a tokenizer file larger than this is refused before reading


class TokenizerFileError(FileFormatError):
    """A tokenizer file that cannot be read: the message names the file and what is wrong."""


def _write_json_atomically(path, payload: dict):
    """Write ``payload`` as JSON through ``minidl._files.atomic_write`` (temporary file, fsync, rename)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False)


def _read_json(path, kind: str) -> dict:
    """The JSON object in ``path``, whose ``"type"`` must be ``kind``; errors name the file."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise TokenizerFileError(path, f"{size} bytes, more than the {MAX_FILE_BYTES} a tokenizer file may have")
        with open(path, "rb") as f:
            payload = json.loads(f.read(MAX_FILE_BYTES + 1).decode("utf-8"))
    except TokenizerFileError:
        raise
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, nesting too deep
        raise TokenizerFileError(path, f"not a JSON tokenizer file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("type") != kind:
        found = payload.get("type") if isinstance(payload, dict) else type(payload).__name__
        raise TokenizerFileError(path, f"expected a {kind!r} tokenizer, found {found!r}")
    return payload


# ---- characters ---------------------------------------------------------------------------
class CharTokenizer:
    """One token per distinct character, numbered in sorted order: ``stoi[c]``, ``itos[i]``."""

    def __init__(self, chars):
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("CharTokenizer: needs at least one character")
        self.itos = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        """The tokenizer of the characters that occur in ``text``."""
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            at = next(i for i, c in enumerate(text) if c not in self.stoi)
            raise ValueError(f"CharTokenizer.encode: character {exc.args[0]!r} at position {at} is not in the "
                             f"vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"CharTokenizer.decode: token {bad[0]} is outside 0..{self.vocab_size - 1}")
        return "".join(self.itos[i] for i in ids)

    def save(self, path):
        _write_json_atomically(path, {"type": "char", "version": 1, "chars": "".join(self.itos)})

    @classmethod
    def load(cls, path) -> CharTokenizer:
        payload = _read_json(path, "char")
        chars = payload.get("chars")
        if not isinstance(chars, str) or not chars or len(set(chars)) != len(chars):
            raise TokenizerFileError(path, "'chars' must be a non-empty string of distinct characters")
        return cls(chars)


# ---- byte-level BPE -------------------------------------------------------------------------
def _chunk_counts(text: str, pattern) -> Counter:
    """How often each chunk occurs, as tuples of byte values, in order of first appearance."""
    return Counter(tuple(m.group().encode("utf-8", "surrogatepass")) for m in pattern.finditer(text))


def _pair_stats(words, counts):
    """Σ count(w) over the occurrences of each adjacent pair, and which words hold it."""
    stats, where = Counter(), {}
    for w, (word, n) in enumerate(zip(words, counts)):
        for pair in zip(word, word[1:]):
            stats[pair] += n
            where.setdefault(pair, set()).add(w)
    return stats, where


def _merge_word(word, pair, new):
    """``word`` with every non-overlapping occurrence of ``pair`` (left to right) replaced by ``new``."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class ByteBPETokenizer:
    """Byte-level BPE: ``merges[k] = (a, b)`` makes token ``256 + k`` from tokens ``a`` and ``b``."""

    def __init__(self, merges, pattern: str = CHUNK_PATTERN):
        self.merges = [tuple(int(t) for t in m) for m in merges]
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self.ranks = {pair: k for k, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for k, (a, b) in enumerate(self.merges):
            if not (0 <= a < 256 + k and 0 <= b < 256 + k):
                raise ValueError(f"ByteBPETokenizer: merge {k} ({a}, {b}) uses a token not made before it")
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._cache = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = CHUNK_PATTERN) -> ByteBPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer when no pair is left to merge)."""
        if vocab_size < 256:
            raise ValueError(f"ByteBPETokenizer.train: vocab_size must be at least 256 (the bytes), got {vocab_size}")
        chunks = _chunk_counts(text, re.compile(pattern))
        words, counts = [list(w) for w in chunks], list(chunks.values())
        stats, where = _pair_stats(words, counts)
        merges = []
        while len(merges) < vocab_size - 256 and stats:
            pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))  # ties: the smaller pair
            new = 256 + len(merges)
            merges.append(pair)
            for w in where.pop(pair, ()):
                old = words[w]
                for p in zip(old, old[1:]):  # take the word's old pairs out of the counts...
                    stats[p] -= counts[w]
                    if stats[p] == 0:
                        del stats[p]
                words[w] = list(_merge_word(old, pair, new))
                for p in zip(words[w], words[w][1:]):  # ...and put its new ones in
                    stats[p] += counts[w]
                    where.setdefault(p, set()).add(w)
        return cls(merges, pattern)

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        word = tuple(chunk)
        while len(word) > 1:
            pair = min(zip(word, word[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            word = _merge_word(word, pair, 256 + self.ranks[pair])
        if len(self._cache) < 100_000:
            self._cache[chunk] = list(word)
        return list(word)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: each chunk's bytes, merged by rank."""
        ids, at = [], 0
        for m in self._regex.finditer(text):
            if m.start() != at:  # a pattern (from a file) that skips characters would lose them
                raise ValueError(f"ByteBPETokenizer.encode: the chunk pattern does not match {text[at]!r} at {at}")
            ids.extend(self._encode_chunk(m.group().encode("utf-8", "surrogatepass")))
            at = m.end()
        if at != len(text):
            raise ValueError(f"ByteBPETokenizer.encode: the chunk pattern does not match {text[at]!r} at {at}")
        return ids

    def decode(self, ids, errors: str = "replace") -> str:
        """The text of ``ids``. Bytes that are not valid UTF-8 (a sequence cut inside a character)
        become U+FFFD with ``errors="replace"``, or raise with ``errors="strict"``."""
        try:
            data = b"".join(self.vocab[int(i)] for i in ids)
        except IndexError:
            bad = next(int(i) for i in ids if not 0 <= int(i) < self.vocab_size)
            raise ValueError(f"ByteBPETokenizer.decode: token {bad} is outside 0..{self.vocab_size - 1}") from None
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            if errors == "strict":
                raise
            return data.decode("utf-8", errors)

    def save(self, path):
        _write_json_atomically(path, {"type": "byte_bpe", "version": 1, "pattern": self.pattern,
                                      "merges": [list(m) for m in self.merges]})

    @classmethod
    def load(cls, path) -> ByteBPETokenizer:
        payload = _read_json(path, "byte_bpe")
        merges, pattern = payload.get("merges"), payload.get("pattern", CHUNK_PATTERN)
        if not isinstance(merges, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(type(t) is int for t in m) for m in merges
        ):
            raise TokenizerFileError(path, "'merges' must be a list of [int, int] pairs")
        if not isinstance(pattern, str):
            raise TokenizerFileError(path, "'pattern' must be a string")
        try:
            return cls(merges, pattern)
        except (ValueError, re.error) as exc:
            raise TokenizerFileError(path, str(exc)) from None
