"""UCI Sentiment Labelled Sentences: 3000 review sentences (1000 each from Amazon, IMDb and Yelp),
labelled 0 (negative) or 1 (positive), 500 of each per source.

    (x_train, y_train), (x_test, y_test) = sentiment.load_data(num_words=1000, maxlen=100)

``x_*`` are int32 arrays (N, maxlen) of word indices (0 = padding, 1 = the out-of-vocabulary token,
2.. = words by frequency, all below ``num_words``), padded and truncated at the front like Keras's
``pad_sequences`` defaults; ``y_*`` are int64 labels (N,). The tokenizer is fitted on the training
sentences only, so no test word shapes the vocabulary; ``get_word_index()`` / ``get_tokenizer()``
give the same one. The split is a permutation from ``numpy.random.RandomState(seed)``.

Files: ``amazon_cells_labelled.txt``, ``imdb_labelled.txt``, ``yelp_labelled.txt`` (lines
``sentence<TAB>label``), looked up in ``root``, ``$MINIDL_DATA/sentiment-labelled-sentences``, the
cache, else extracted from the UCI zip (84,188 bytes, SHA-256 below, as other projects pin it).
Every file must have the SHA-256 below, the one the copies of the original files agree on.
The imdb file holds a few C1 control characters (mis-encoded Windows-1252 punctuation), so lines
are split on "\\n" only.

D. Kotzias, M. Denil, N. de Freitas, P. Smyth, "From Group to Individual Labels using Deep
Features", KDD 2015. UCI Machine Learning Repository, dataset 331, https://doi.org/10.24432/C57604,
CC BY 4.0.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy

from .._files import CORRUPT_FILE_ERRORS, FileFormatError, atomic_write, check_size, max_load_bytes, read_text
from .download import ChecksumError, cache_dir, find_local, locate, matches, parse_checksum, verify, where_to_put
from .text import Tokenizer, pad_sequences

SUBDIR = "sentiment-labelled-sentences"
SOURCES = ("amazon_cells", "imdb", "yelp")
FILES = {
    "amazon_cells_labelled.txt": "sha256:47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
    "imdb_labelled.txt": "sha256:aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d",
    "yelp_labelled.txt": "sha256:c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea",
}
ZIP_NAME = "sentiment_labelled_sentences.zip"
ZIP_SHA256 = "sha256:afc26626d710899948693e1a61405dce197f57ffa719fa1130d346b4cc095343"
ZIP_URLS = ("https://archive.ics.uci.edu/static/public/331/sentiment%2Blabelled%2Bsentences.zip",)


def _extract_from_zip(zip_path: Path, target_dir: Path):
    """Copy the three members out of the UCI zip into ``target_dir`` (each written atomically and
    checked against its SHA-256 before it gets its name)."""
    limit = max_load_bytes()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = {Path(info.filename).name: info for info in archive.infolist()
                       if "__MACOSX" not in info.filename and not info.is_dir()}
            for name, checksum in FILES.items():
                if name not in members:
                    raise FileFormatError(zip_path, f"no member {name}")
                check_size(zip_path, f"member {name}", members[name].file_size, limit)
                algorithm, digest = parse_checksum(checksum)
                h = hashlib.new(algorithm)
                with atomic_write(target_dir / name) as out, archive.open(members[name]) as src:
                    for block in iter(lambda: src.read(1 << 20), b""):  # noqa: B023 - used at once
                        h.update(block)
                        out.write(block)
                    if h.hexdigest() != digest:
                        raise ChecksumError(zip_path, f"member {name} has {algorithm} {h.hexdigest()}, expected "
                                                      f"{digest}")
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, *CORRUPT_FILE_ERRORS) as exc:
        raise FileFormatError(zip_path, f"cannot extract the sentences ({type(exc).__name__}: {exc})") from exc


def files(root=None, download=True) -> dict:
    """``{file name: path}`` of the three verified files (see the module docstring for where)."""
    found = {}
    for name, checksum in FILES.items():
        local = find_local(SUBDIR, name, root)
        if local is None:
            cached = cache_dir() / SUBDIR / name
            if cached.is_file() and matches(cached, checksum):
                local = cached
        if local is None:
            break
        found[name] = verify(local, checksum, hint=f"; replace it with the original or remove it ({SUBDIR}/{name})")
    if len(found) == len(FILES):
        return found
    missing = [n for n in FILES if n not in found]
    if not download:
        raise FileNotFoundError(
            f"sentiment: {', '.join(missing)} not found; pass download=True or {where_to_put(SUBDIR, missing, root)}"
        )
    try:
        zip_path = locate(SUBDIR, ZIP_NAME, ZIP_SHA256, ZIP_URLS, root, download=True, verify_local=True)
    except OSError as exc:
        raise OSError(f"sentiment: {exc}") from exc
    target = cache_dir() / SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    _extract_from_zip(zip_path, target)
    return {name: target / name for name in FILES}


def parse(text: str, name: str = "<text>"):
    """``(sentences, labels)`` of a ``sentence<TAB>label`` file's text; a malformed line is an error."""
    sentences, labels = [], []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        sentence, tab, label = line.rstrip("\r").rpartition("\t")
        if not tab or label.strip() not in ("0", "1"):
            raise FileFormatError(name, f"line {lineno} is not 'sentence<TAB>0|1': {line[:60]!r}")
        sentences.append(sentence.strip())
        labels.append(int(label))
    return sentences, labels


def load_sentences(root=None, download=True, sources=SOURCES):
    """All sentences in file order: ``(sentences, labels int64 (N,), sources)``."""
    unknown = set(sources) - set(SOURCES)
    if unknown or not sources:
        raise ValueError(f"sentiment: sources must be a non-empty subset of {SOURCES}, got {sources!r}")
    paths = files(root, download)
    sentences, labels, origin = [], [], []
    for source in sources:
        name = f"{source}_labelled.txt"
        s, y = parse(read_text(paths[name]), str(paths[name]))
        sentences += s
        labels += y
        origin += [source] * len(s)
    return sentences, numpy.asarray(labels, dtype=numpy.int64), origin


def _split(n, test_split, seed):
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"sentiment: test_split must be in (0, 1), got {test_split}")
    order = numpy.random.RandomState(seed).permutation(n)
    n_test = int(round(n * test_split))
    return order[n_test:], order[:n_test]


def get_tokenizer(num_words=1000, test_split=0.2, seed=113, oov_token="<oov>", root=None, download=True,
                  sources=SOURCES) -> Tokenizer:
    """The Tokenizer that ``load_data`` with the same arguments fits (on the training sentences)."""
    sentences, labels, _ = load_sentences(root, download, sources)
    train, _ = _split(len(sentences), test_split, seed)
    return Tokenizer(num_words=num_words, oov_token=oov_token).fit_on_texts([sentences[i] for i in train])


def get_word_index(**kwargs) -> dict:
    """``{word: index}`` of the tokenizer ``load_data(**kwargs)`` uses (indices >= num_words are
    mapped to the out-of-vocabulary index 1 by ``load_data``)."""
    return get_tokenizer(**kwargs).word_index


def load_data(num_words=1000, maxlen=100, test_split=0.2, seed=113, oov_token="<oov>", root=None, download=True,
              sources=SOURCES):
    """``(x_train, y_train), (x_test, y_test)``: int32 word indices (N, maxlen) and int64 labels."""
    sentences, labels, _ = load_sentences(root, download, sources)
    train, test = _split(len(sentences), test_split, seed)
    tok = Tokenizer(num_words=num_words, oov_token=oov_token).fit_on_texts([sentences[i] for i in train])

    def encode(idx):
        seqs = tok.texts_to_sequences([sentences[i] for i in idx])
        return pad_sequences(seqs, maxlen=maxlen, dtype="int32"), labels[idx]

    return encode(train), encode(test)
