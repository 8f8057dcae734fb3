"""Tokenizers: byte-level BPE learned from scratch, and characters."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.tokenizers import CHUNK_PATTERN, ByteBPETokenizer, CharTokenizer, TokenizerFileError

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n"
    "Ünïcödé wörds, 数字 123 4567, emoji 🙂🙂 and tabs\tand  double  spaces.\n"
)


@pytest.fixture(scope="module")
def bpe():
    return ByteBPETokenizer.train(CORPUS, vocab_size=300)


def naive_train(text, vocab_size):
    """BPE training as the equation says, recounting every pair from scratch before each merge."""
    import re

    words = Counter(tuple(m.group().encode("utf-8", "surrogatepass")) for m in re.finditer(CHUNK_PATTERN, text))
    merges = []
    while len(merges) < vocab_size - 256:
        stats = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                stats[pair] += n
        if not stats:
            break
        best = max(stats.values())
        pair = min(p for p, c in stats.items() if c == best)
        new = 256 + len(merges)
        merges.append(pair)
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i : i + 2] == pair:
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges, words


def test_merges_by_hand():
    tok = ByteBPETokenizer.train("abababab", vocab_size=300)
    # (a,b) occurs 4 times; then (ab,ab) 3 times; then (abab,abab) once; then nothing is left
    assert tok.merges == [(97, 98), (256, 256), (257, 257)]
    assert tok.vocab_size == 259 and tok.vocab[258] == b"abababab"
    assert tok.encode("abababab") == [258]
    assert tok.encode("aba") == [256, 97]
    assert tok.encode("ab ab") == [256, 32, 256]  # " ab" is a chunk of its own: (32, 256) was never learned


@settings(max_examples=25, deadline=None)
@given(text=st.text(alphabet="ab c\n", max_size=60), vocab=st.integers(256, 280))
def test_training_matches_the_naive_algorithm(text, vocab):
    merges, words = naive_train(text, vocab)
    tok = ByteBPETokenizer.train(text, vocab_size=vocab)
    assert tok.merges == merges
    # encoding the corpus reproduces the segmentation training ended with
    assert len(tok.encode(text)) == sum(len(w) * n for w, n in words.items())


@settings(max_examples=200, deadline=None)
@given(s=st.text(st.characters(codec=None, exclude_categories=())))
def test_decode_of_encode_is_the_identity_for_any_string(bpe, s):
    ids = bpe.encode(s)
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == s


def test_training_compresses_and_is_deterministic(bpe):
    ids = bpe.encode(CORPUS)
    assert len(ids) < 0.7 * len(CORPUS.encode("utf-8"))
    assert ByteBPETokenizer.train(CORPUS, vocab_size=300).merges == bpe.merges


def test_decode_of_a_cut_character(bpe):
    cut = list("ö".encode())[:1]  # the first byte of a two-byte character
    assert bpe.decode(cut) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        bpe.decode(cut, errors="strict")
    with pytest.raises(ValueError, match="token 300 is outside 0..299"):
        bpe.decode([1, 300])


def test_a_pattern_that_skips_characters_is_an_error():
    tok = ByteBPETokenizer([], pattern=r"[a-z]+")
    with pytest.raises(ValueError, match=r"does not match ' ' at 2"):
        tok.encode("ab cd")


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 256"):
        ByteBPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="merge 0 .* uses a token not made before it"):
        ByteBPETokenizer([(256, 1)])


def test_save_and_load(tmp_path, bpe):
    path = tmp_path / "bpe.json"
    bpe.save(path)
    again = ByteBPETokenizer.load(path)
    assert again.merges == bpe.merges and again.encode(CORPUS) == bpe.encode(CORPUS)
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.json"]  # no temporary file left


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a JSON tokenizer file"),
        (b"\xff\xfe", "not a JSON tokenizer file"),
        (b"[1, 2]", "expected a 'byte_bpe' tokenizer"),
        (b'{"type": "char", "chars": "ab"}', "expected a 'byte_bpe' tokenizer, found 'char'"),
        (b'{"type": "byte_bpe", "merges": [[1]]}', "'merges' must be a list of"),
        (b'{"type": "byte_bpe", "merges": [[1.5, 2]]}', "'merges' must be a list of"),
        (b'{"type": "byte_bpe", "merges": [[300, 2]]}', "uses a token not made before it"),
        (b'{"type": "byte_bpe", "merges": [], "pattern": "("}', "bpe.json"),
    ],
)
def test_a_bad_file_names_itself(tmp_path, content, message):
    path = tmp_path / "bpe.json"
    path.write_bytes(content)
    with pytest.raises(TokenizerFileError, match=message) as info:
        ByteBPETokenizer.load(path)
    assert str(path) in str(info.value)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_corrupted_file_is_read_or_refused_with_the_tokenizer_error(tmp_path_factory, bpe, data):
    good = json.dumps({"type": "byte_bpe", "version": 1, "merges": [list(m) for m in bpe.merges[:8]]}).encode()
    i = data.draw(st.integers(0, len(good) - 1))
    how = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    bad = {"flip": good[:i] + bytes([good[i] ^ 0x5A]) + good[i + 1 :], "truncate": good[:i],
           "insert": good[:i] + b"\x00" + good[i:]}[how]
    path = tmp_path_factory.mktemp("corrupt") / "bpe.json"
    path.write_bytes(bad)
    try:
        ByteBPETokenizer.load(path)
    except TokenizerFileError as exc:
        assert str(path) in str(exc)


def test_characters(tmp_path):
    tok = CharTokenizer.train("hello world")
    assert tok.itos == [" ", "d", "e", "h", "l", "o", "r", "w"] and tok.vocab_size == 8
    assert tok.decode(tok.encode("low")) == "low"
    with pytest.raises(ValueError, match=r"character 'z' at position 2 is not in the vocabulary of 8"):
        tok.encode("hoz")
    with pytest.raises(ValueError, match="token 8 is outside 0..7"):
        tok.decode([8])
    tok.save(tmp_path / "chars.json")
    assert CharTokenizer.load(tmp_path / "chars.json").itos == tok.itos
    (tmp_path / "bad.json").write_text('{"type": "char", "chars": "aa"}')
    with pytest.raises(TokenizerFileError, match="distinct characters"):
        CharTokenizer.load(tmp_path / "bad.json")
