"""metanas.nn builders: output shapes, forward/backward, determinism, registry and input errors.

The architectures here (``CASES``) are shared with test_nn_params.py and test_nn_export.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

from metanas.nn import build_model, builder_kinds, get_builder, register_builder
from metanas.nn import registry as nn_registry
from metanas.types import UserInputError

NB201_EDGE_KEYS = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")


def parse_nb201(s: str) -> dict[str, str]:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> ``{"1<-0": op, ...}`` (edge into i from j)."""
    out: dict[str, str] = {}
    for i, node in enumerate(s.strip("|").split("|+|"), start=1):
        for tok in node.split("|"):
            op, j = tok.split("~")
            out[f"{i}<-{j}"] = op
    return out


NB101_CODE = {
    "I": "input",
    "O": "output",
    "1": "conv1x1-bn-relu",
    "3": "conv3x3-bn-relu",
    "M": "maxpool3x3",
}


def parse_nb101(n: int, bits: str, code: str) -> tuple[list[list[int]], list[str]]:
    matrix = [[int(bits[i * n + j]) for j in range(n)] for i in range(n)]
    return matrix, [NB101_CODE[c] for c in code]


NB201_ARCH = parse_nb201(
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
)
NB101_ARCH: dict[str, Any] = {
    "matrix": [
        [0, 1, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 1, 1],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
    ],
    "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
}
SMALL = {
    "nb201": {"C": 4, "N": 1},
    "nb101": {"stem_channels": 8, "n_stacks": 2, "n_modules": 1},
}

#: (kind, arch, input_shape, options) covering every builder and unit type
CASES: list[tuple[str, dict[str, Any], tuple[int, ...], dict[str, Any]]] = [
    ("nb201", NB201_ARCH, (3, 16, 16), SMALL["nb201"]),
    (
        "nb201",
        parse_nb201("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"),
        (1, 28, 28),
        SMALL["nb201"],
    ),
    ("nb101", NB101_ARCH, (3, 16, 16), SMALL["nb101"]),
    (
        "nb101",
        {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]},
        (1, 28, 28),
        SMALL["nb101"],
    ),
    (
        "macro",
        {
            "depth": 3,
            "unit_1": "conv5x5",
            "width_1": 16,
            "skip_1": False,
            "unit_2": "sepconv3x3",
            "width_2": 32,
            "skip_2": True,
            "unit_3": "avgpool3x3",
            "width_3": 64,
            "skip_3": True,
        },
        (3, 16, 16),
        {},
    ),
    (
        "macro",
        {
            "depth": 6,
            **{
                f"unit_{i}": u
                for i, u in enumerate(
                    ("identity", "maxpool3x3", "conv3x3", "identity", "avgpool3x3", "sepconv3x3"), 1
                )
            },
            **{f"width_{i}": w for i, w in enumerate((16, 16, 32, 32, 16, 16), 1)},
            **{f"skip_{i}": i % 2 == 0 for i in range(1, 7)},
        },
        (1, 28, 28),
        {},
    ),
    ("mlp", {"depth": 1, "width_1": 32, "activation": "tanh", "dropout": 0}, (7,), {}),
    (
        "mlp",
        {
            "depth": 4,
            "width_1": 256,
            "width_2": 128,
            "width_3": 64,
            "width_4": 32,
            "activation": "gelu",
            "dropout": 0.3,
        },
        (2, 5, 3),
        {},
    ),
    ("cnn1d", {"depth": 1, "channels_1": 16, "kernel_1": 3, "pool": "max"}, (1, 9), {}),
    (
        "cnn1d",
        {
            "depth": 4,
            "channels_1": 16,
            "kernel_1": 7,
            "channels_2": 32,
            "kernel_2": 5,
            "channels_3": 64,
            "kernel_3": 3,
            "channels_4": 64,
            "kernel_4": 3,
            "pool": "avg",
        },
        (3, 5),
        {},
    ),
    ("rnn_text", {"cell": "rnn", "num_units": 32, "layers": 1}, (10,), {"vocab_size": 30}),
    ("rnn_text", {"cell": "gru", "num_units": 64, "layers": 2}, (10,), {"vocab_size": 30}),
    ("rnn_text", {"cell": "lstm", "num_units": 32, "layers": 3}, (10,), {"vocab_size": 30}),
    ("rnn_text", {"cell": "attention", "num_units": 32, "layers": 2}, (10,), {"vocab_size": 30}),
]


def make_input(kind: str, shape: tuple[int, ...], batch: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "rnn_text":
        x = torch.randint(1, 30, (batch, *shape), generator=g)
        x[0, shape[0] // 2 :] = 0  # right padding in one row
        return x
    return torch.randn(batch, *shape, generator=g)


def case_id(case: tuple[str, dict[str, Any], tuple[int, ...], dict[str, Any]]) -> str:
    kind, arch, shape, _ = case
    return f"{kind}-{arch.get('cell', arch.get('depth', len(arch)))}-{'x'.join(map(str, shape))}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_forward_backward_shapes(case: Any) -> None:
    kind, arch, shape, options = case
    # a single logit (sigmoid / BCE) for half the cases, several classes for the rest
    n_classes = 1 if CASES.index(case) % 2 else 5
    torch.manual_seed(0)
    model = build_model(kind, arch, shape, n_classes, **options)
    x = make_input(kind, shape)
    out = model(x)
    assert out.shape == (3, n_classes)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # the loss really reaches the weights
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (3, n_classes)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_init_is_deterministic_under_manual_seed(case: Any) -> None:
    kind, arch, shape, options = case

    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model(kind, arch, shape, 4, **options).state_dict()

    a, b, c = state(7), state(7), state(8)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_nb201_reference_size_and_fashion_mnist_shape() -> None:
    torch.manual_seed(0)
    model = build_model("nb201", NB201_ARCH, (1, 28, 28), 10)
    assert len([m for m in model.modules() if m.__class__.__name__ == "NB201Cell"]) == 15
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    "cell",
    [
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|",  # node 1 dead
        "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|",  # conv on a zero node
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_nb201_cell_skipping_none_edges_equals_the_full_sum(cell: str) -> None:
    """The cell's pruned forward gives the benchmark's sum over all six edges (zeros included),
    in training and in eval mode, and the same gradients."""
    from metanas.nn.nb201 import NB201Cell

    torch.manual_seed(0)
    block = NB201Cell(parse_nb201(cell), 4)
    x = torch.randn(3, 4, 6, 6, requires_grad=True)
    ops = [parse_nb201(cell)[key] for key in NB201_EDGE_KEYS]
    edges = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]  # (to, from), in NB201_EDGE_KEYS order

    def full_sum(x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in (1, 2, 3):
            terms = [
                block.edges[k](nodes[frm]) * (0.0 if ops[k] == "none" else 1.0)
                for k, (t, frm) in enumerate(edges)
                if t == to
            ]
            nodes.append(torch.stack(terms).sum(0))
        return nodes[3]

    for train in (True, False):
        block.train(train)
        got, want = block(x), full_sum(x)
        torch.testing.assert_close(got, want)
        (g_got,) = torch.autograd.grad(got.square().sum(), x)
        (g_want,) = torch.autograd.grad(want.square().sum(), x)
        torch.testing.assert_close(g_got, g_want)


def test_text_ignores_padding_and_survives_all_pad_rows() -> None:
    for cell in ("rnn", "gru", "lstm", "attention"):
        torch.manual_seed(0)
        arch = {"cell": cell, "num_units": 32, "layers": 2}
        model = build_model("rnn_text", arch, (8,), 1, vocab_size=20).eval()
        x = torch.tensor([[3, 4, 5, 0, 0, 0, 0, 0], [0] * 8])
        longer = torch.tensor([[3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
        with torch.no_grad():
            out = model(x)
            # appended right padding changes nothing (attention: positions beyond T need max_len)
            if cell != "attention":
                assert torch.allclose(model(longer), out[:1], atol=1e-6)
        assert out.shape == (2, 1) and torch.isfinite(out).all()
    attention = {"cell": "attention", "num_units": 32, "layers": 2}
    model = build_model("rnn_text", attention, (8,), 2, vocab_size=20, max_len=12).eval()
    with torch.no_grad():
        assert torch.allclose(model(longer), model(longer[:, :8]), atol=1e-5)


def test_attention_blocks_compute_what_transformer_encoder_layer_computes() -> None:
    torch.manual_seed(0)
    arch = {"cell": "attention", "num_units": 64, "layers": 2}
    model = build_model("rnn_text", arch, (9,), 3, vocab_size=30).eval()
    x = make_input("rnn_text", (9,), batch=4)
    pad = x == 0
    enc = model.encoder
    h = enc.proj(model.embedding(x)) + enc.pos[:, :9]
    for block in enc.blocks:  # the layer's own forward
        h = block(h, src_key_padding_mask=pad)
    ours = enc(model.embedding(x), pad)
    torch.testing.assert_close(ours[~pad], h[~pad], atol=1e-5, rtol=1e-4)


def test_macro_reduces_resolution_every_two_layers() -> None:
    arch = CASES[5][1]  # depth 6 on 28x28: pools after layers 2 and 4
    model = build_model("macro", arch, (1, 28, 28), 3)
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2
    assert model.features(torch.randn(1, 1, 28, 28)).shape == (1, 16, 7, 7)


def test_registry_lists_builtins_and_accepts_user_builders() -> None:
    assert {"nb201", "nb101", "macro", "rnn_text", "mlp", "cnn1d"} <= set(builder_kinds())
    name = "test_nn_custom_kind"

    @register_builder(name)
    def build_linear(
        arch: Any, input_shape: tuple[int, ...], n_classes: int, bias: bool = True
    ) -> Any:
        return torch.nn.Linear(input_shape[0], n_classes, bias=bias)

    try:
        assert get_builder(name) is build_linear
        assert build_model(name, {}, (4,), 2, bias=False).bias is None
        with pytest.raises(UserInputError, match="unknown option"):
            build_model(name, {}, (4,), 2, colour="red")
        with pytest.raises(ValueError, match="already registered"):
            register_builder(name)(build_linear)
    finally:
        del nn_registry._REGISTRY[name]


@pytest.mark.parametrize(
    ("kind", "arch", "shape", "options", "match"),
    [
        ("nope", {}, (3,), {}, "no model builder"),
        ("mlp", CASES[6][1], (0,), {}, "input_shape"),
        ("mlp", {**CASES[6][1], "width_1": 0}, (7,), {}, "width_1=0"),
        ("mlp", {**CASES[6][1], "depth": 2}, (7,), {}, "lacks 'width_2'"),
        ("nb201", {**NB201_ARCH, "1<-0": "conv"}, (3, 8, 8), {}, "1<-0"),
        ("nb201", NB201_ARCH, (8, 8), {}, "channels, height, width"),
        ("macro", {"depth": 0}, (3, 8, 8), {}, "depth=0"),
        ("cnn1d", CASES[8][1], (9,), {}, "channels, length"),
        ("rnn_text", CASES[10][1], (10,), {}, "vocab_size"),
        ("rnn_text", CASES[10][1], (10,), {"vocab_size": 9, "hidden": 3}, "unknown option"),
        (
            "nb101",
            {"matrix": [[0, 1], [0, 0]], "ops": ["input", "conv", "output"]},
            (3, 8, 8),
            {},
            "n ops",
        ),
        (
            "nb101",
            {"matrix": [[0, 0, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]},
            (3, 8, 8),
            {},
            "prune",
        ),
    ],
)
def test_bad_input_raises_user_input_error(
    kind: str, arch: dict[str, Any], shape: tuple[int, ...], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(UserInputError, match=match):
        build_model(kind, arch, shape, 3, **options)
    with pytest.raises(UserInputError):
        build_model("mlp", CASES[6][1], (7,), 0)


def test_importing_metanas_nn_does_not_import_torch() -> None:
    code = "import sys, metanas.nn; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


SPACE_SHAPES = {
    "nb201": ((3, 8, 8), SMALL["nb201"]),
    "nb101": ((3, 8, 8), SMALL["nb101"]),
    "macro": ((3, 8, 8), {}),
    "mlp": ((6,), {}),
    "cnn1d": ((2, 16), {}),
    "rnn_text": ((10,), {"vocab_size": 30}),
}


@pytest.mark.parametrize("kind", sorted(SPACE_SHAPES))
def test_builds_architectures_sampled_from_the_spaces(kind: str) -> None:
    from metanas.space import get_space

    try:
        space = get_space(kind)
    except UserInputError:
        pytest.fail(f"space {kind!r} is not registered yet")
    shape, options = SPACE_SHAPES[kind]
    for seed in range(4):
        arch = space.sample(seed)
        torch.manual_seed(seed)
        model = build_model(space.kind, arch, shape, 3, **options)
        assert model(make_input(kind, shape, batch=2)).shape == (2, 3)


def test_an_unannotated_builder_s_options_are_held_to_their_defaults_types() -> None:
    """The shared option check reads annotations; a user's builder written without them is
    checked against its defaults instead (an int default takes no 8.0)."""
    from metanas.types import check_option_types

    def builder(arch, input_shape, n_classes, width=16, rate=0.5, pool=False, name="x"):
        return None

    check_option_types("'mine' models", builder, {"width": 8, "rate": 1, "pool": True, "name": "y"})
    for bad in ({"width": 8.0}, {"rate": "0.5"}, {"pool": 1}, {"name": 3}):
        with pytest.raises(UserInputError, match="of 'mine' models must be"):
            check_option_types("'mine' models", builder, bad)
