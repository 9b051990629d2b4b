"""The text builder's regularisation options and one-logit (sigmoid) training, used by the seed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from metanas.evaluation.training import evaluate_model, fit  # noqa: E402
from metanas.nn import build_model  # noqa: E402
from metanas.types import UserInputError  # noqa: E402

ARCH = {"cell": "gru", "num_units": 16, "layers": 1}


@pytest.mark.parametrize("pool", ["max", "meanmax"])
@pytest.mark.parametrize("cell", ["lstm", "attention"])
def test_pooling_ignores_padding_and_all_pad_rows(pool: str, cell: str) -> None:
    torch.manual_seed(0)
    arch = {"cell": cell, "num_units": 16, "layers": 1}
    model = build_model("rnn_text", arch, (8,), 1, vocab_size=20, pool=pool, max_len=12).eval()
    x = torch.tensor([[3, 4, 5, 0, 0, 0, 0, 0], [0] * 8])
    longer = torch.tensor([[3, 4, 5] + [0] * 9])
    with torch.no_grad():
        out = model(x)
        assert torch.isfinite(out).all()
        assert torch.allclose(model(longer), out[:1], atol=1e-5)
    assert model.classifier.in_features == (32 if pool == "meanmax" else 16)


def test_embed_std_scales_the_init_and_keeps_padding_zero() -> None:
    torch.manual_seed(0)
    small = build_model("rnn_text", ARCH, (8,), 2, vocab_size=500, embed_std=0.05)
    torch.manual_seed(0)
    default = build_model("rnn_text", ARCH, (8,), 2, vocab_size=500)
    w = small.embedding.weight.detach()
    assert float(w[1:].std()) == pytest.approx(0.05, rel=0.1)
    assert float(default.embedding.weight[1:].detach().std()) == pytest.approx(1.0, rel=0.1)
    assert torch.count_nonzero(w[0]) == 0


def test_embed_dropout_acts_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("rnn_text", ARCH, (8,), 1, vocab_size=30, embed_dropout=0.5)
    x = torch.randint(1, 30, (4, 8))
    model.train()
    a, b = model(x), model(x)
    assert not torch.allclose(a, b)
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"pool": "sum"}, "pool"),
        ({"embed_dropout": 1.0}, "embed_dropout"),
        ({"embed_std": 0}, "embed_std"),
    ],
)
def test_bad_text_options_raise(options: dict[str, object], match: str) -> None:
    with pytest.raises(UserInputError, match=match):
        build_model("rnn_text", ARCH, (8,), 1, vocab_size=30, **options)


def test_one_logit_bce_trains_and_scores_by_the_logit_sign() -> None:
    # a learnable rule: label 1 when token 2 occurs in the sequence
    g = torch.Generator().manual_seed(0)
    x = torch.randint(3, 20, (256, 6), generator=g)
    y = (torch.rand(256, generator=g) < 0.5).long()
    x[y == 1, 0] = 2
    torch.manual_seed(0)
    model = build_model("rnn_text", ARCH, (6,), 1, vocab_size=20, embed_std=0.05)
    _, loss0 = evaluate_model(model, x, y, loss="bce")
    fit(model, x, y, epochs=15, batch_size=32, lr=1e-2, loss="bce", generator=g)
    acc, loss = evaluate_model(model, x, y, loss="bce")
    assert loss < loss0 and acc > 0.95
    with torch.no_grad():
        pred = (model(x)[:, 0] > 0).long()
    assert acc == pytest.approx(float((pred == y).float().mean()))


@pytest.mark.parametrize(
    "opts",
    [
        {"vocab_size": 30, "pool": "meanmax", "embed_dropout": 0.5, "embed_std": 0.05},
        {"vocab_size": 30, "ngrams": 3, "ngram_buckets": 101, "bag": True, "pool": "meanmax"},
    ],
    ids=["meanmax", "ngram-bag"],
)
def test_text_model_exports_to_torchscript_and_onnx(tmp_path, opts) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnx")
    from metanas.export import export_model
    from metanas.space import get_space

    torch.manual_seed(0)
    model = build_model("rnn_text", ARCH, (8,), 1, **opts)
    x = torch.randint(1, 30, (3, 8))
    x[0, 4:] = 0
    m = export_model(
        model, get_space("rnn_text"), ARCH, tmp_path, example_input=x, model_options=opts
    )
    assert m["torchscript_max_abs_diff"] < 1e-5
    if "onnx_max_abs_diff" in m:
        assert m["onnx_matches"]
