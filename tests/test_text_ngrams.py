"""The text builder's fastText-style options: hashed word n-gram embeddings and the bag path."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation.training import evaluate_model, fit  # noqa: E402
from metanas.nn import build_model  # noqa: E402
from metanas.types import UserInputError  # noqa: E402

ARCH = {"cell": "gru", "num_units": 16, "layers": 1}


def test_ngram_ids_hash_complete_ngrams_only() -> None:
    model = build_model("rnn_text", ARCH, (6,), 1, vocab_size=50, ngrams=3, ngram_buckets=97)
    x = torch.tensor([[5, 7, 9, 0, 0, 0], [5, 7, 9, 11, 0, 0]])
    bi, tri = model.ngram_ids(x, 2), model.ngram_ids(x, 3)
    assert int(bi[0, 1]) == (7 * 1000003 + 5) % 96 + 1
    assert int(tri[0, 2]) == ((9 * 1000003 + 7) * 999983 + 5) % 96 + 1
    # no n-gram before the start or over padding: the zero padding row
    assert bi[:, 0].eq(0).all() and tri[:, :2].eq(0).all() and bi[0, 3:].eq(0).all()
    assert tri[1, 3] > 0 and tri[0, 3] == 0
    # the same words give the same ids whatever follows them
    assert torch.equal(bi[0, :3], bi[1, :3]) and torch.equal(tri[0, :3], tri[1, :3])
    assert int(bi.max()) < 97 and int(tri.max()) < 97


def test_default_model_has_no_ngram_table_and_keeps_its_init() -> None:
    torch.manual_seed(0)
    plain = build_model("rnn_text", ARCH, (8,), 1, vocab_size=40, embed_std=0.05)
    torch.manual_seed(0)
    grams = build_model("rnn_text", ARCH, (8,), 1, vocab_size=40, embed_std=0.05, ngrams=2)
    assert plain.ngram_embedding is None
    assert not any(k.startswith("ngram") for k in plain.state_dict())
    # the word table is drawn first, so adding n-grams leaves it unchanged
    assert torch.equal(plain.embedding.weight, grams.embedding.weight)
    assert grams.ngram_embedding.weight.shape == (2**16, 64)
    assert torch.count_nonzero(grams.ngram_embedding.weight[0]) == 0


@pytest.mark.parametrize("cell", ["lstm", "attention"])
def test_ngram_bag_model_ignores_padding(cell: str) -> None:
    torch.manual_seed(0)
    arch = {"cell": cell, "num_units": 16, "layers": 2}
    opts = {"vocab_size": 30, "ngrams": 3, "bag": True, "pool": "meanmax", "max_len": 12}
    model = build_model("rnn_text", arch, (8,), 1, **opts).eval()
    assert model.classifier.in_features == 32 + 64
    x = torch.tensor([[3, 4, 5, 6, 0, 0, 0, 0], [0] * 8])
    longer = torch.tensor([[3, 4, 5, 6] + [0] * 8])
    with torch.no_grad():
        out = model(x)
        assert torch.isfinite(out).all()
        assert torch.allclose(model(longer), out[:1], atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bigrams_let_a_mean_pooled_bag_learn_word_order(seed: int) -> None:
    # label 1 iff the bigram "2 3" occurs; both classes hold tokens 2 and 3 once, so a bag of
    # words alone cannot tell them apart, a bag of bigrams can
    g = torch.Generator().manual_seed(seed)
    n = 256
    x = torch.randint(4, 20, (n, 6), generator=g)
    y = (torch.rand(n, generator=g) < 0.5).long()
    pos = torch.randint(0, 5, (n,), generator=g)
    rows = torch.arange(n)
    x[rows, pos] = torch.where(y == 1, 2, 3)
    x[rows, pos + 1] = torch.where(y == 1, 3, 2)
    accs = {}
    for ngrams in (1, 2):
        torch.manual_seed(seed)
        # a 1-unit RNN with mean pooling: the bag path does (nearly) all the work
        model = build_model(
            "rnn_text", {"cell": "rnn", "num_units": 1, "layers": 1}, (6,), 1,
            vocab_size=20, embed_dim=8, embed_std=0.05, ngrams=ngrams, ngram_buckets=512, bag=True,
        )  # fmt: skip
        fit(model, x, y, epochs=12, batch_size=32, lr=2e-2, loss="bce", generator=g)
        accs[ngrams] = evaluate_model(model, x, y, loss="bce")[0]
    assert accs[2] > 0.95
    assert accs[2] > accs[1] + 0.1


@pytest.mark.parametrize(
    "options, match",
    [
        ({"ngrams": 4}, "ngrams"),
        ({"ngrams": 0}, "ngrams"),
        ({"ngrams": 2, "ngram_buckets": 1}, "ngram_buckets"),
    ],
)
def test_bad_ngram_options_raise(options: dict[str, object], match: str) -> None:
    with pytest.raises(UserInputError, match=match):
        build_model("rnn_text", ARCH, (8,), 1, vocab_size=30, **options)
