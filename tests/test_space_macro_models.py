"""Conditional model spaces (macro, rnn_text, mlp, cnn1d) and the core fixes they rely on."""

from __future__ import annotations

import numpy as np
import pytest

from metanas.space import Choice, IntRange, Space, get_space, space_from_dict
from metanas.types import UserInputError


def test_macro_layer_dims_exist_only_up_to_depth() -> None:
    s = get_space("macro")
    assert s.dim("depth") == IntRange("depth", 1, 6)
    assert s.dim("unit_1").when is None
    assert s.dim("width_3").when.dim == "depth" and s.dim("width_3").when.value == 3
    depths = set()
    for seed in range(60):
        a = s.sample(seed)
        d = a["depth"]
        depths.add(d)
        for i in range(1, 7):
            for k in ("unit", "width", "skip"):
                assert (f"{k}_{i}" in a) == (i <= d)
    assert depths == set(range(1, 7))


def test_macro_depth_mutation_adds_and_removes_layers() -> None:
    s = get_space("macro", max_depth=4)
    a = s.validate(
        {"depth": 2, "unit_1": "conv3x3", "width_1": 16, "skip_1": False}
        | {"unit_2": "identity", "width_2": 64, "skip_2": True}
    )
    nbrs = s.neighbours(a)
    deeper = [n for n in nbrs if n["depth"] == 3]
    shallower = [n for n in nbrs if n["depth"] == 1]
    assert len(deeper) == 1 and "width_3" in deeper[0] and "width_4" not in deeper[0]
    assert len(shallower) == 1 and "unit_2" not in shallower[0]
    assert deeper[0]["width_2"] == 64  # existing layers are kept
    with pytest.raises(UserInputError):
        s.validate(a | {"width_3": 16})  # inactive dimension given


def test_macro_size_formula_matches_enumeration() -> None:
    s = get_space("macro", max_depth=3, widths=(16, 32), units=("conv3x3", "identity"))
    assert s.size == 8 + 8**2 + 8**3
    assert sum(1 for _ in s.enumerate()) == s.size
    again = space_from_dict(s.to_dict())
    assert again == s and again.size == s.size


def test_rnn_text_space() -> None:
    s = get_space("rnn_text")
    assert [d.name for d in s.dims] == ["cell", "num_units", "layers"]
    assert s.dim("cell").options == ("rnn", "gru", "lstm", "attention")
    assert s.dim("num_units").options == (32, 64, 128)
    assert s.dim("layers") == IntRange("layers", 1, 3)
    assert s.size == 36
    custom = get_space("rnn_text", units=[16, 256], max_layers=2)
    assert space_from_dict(custom.to_dict()) == custom and custom.size == 16


def test_mlp_space() -> None:
    s = get_space("mlp")
    assert s.dim("width_4").when.value == 4 and s.dim("width_1").when is None
    assert s.dim("activation").options == ("relu", "gelu", "tanh")
    assert s.dim("dropout").options == (0.0, 0.1, 0.3)
    assert s.size == (4 + 4**2 + 4**3 + 4**4) * 3 * 3
    a = s.sample(0)
    assert s.from_json(s.to_json(a)) == a


def test_cnn1d_space() -> None:
    s = get_space("cnn1d")
    for seed in range(30):
        a = s.sample(seed)
        for i in range(1, 5):
            assert (f"channels_{i}" in a) == (f"kernel_{i}" in a) == (i <= a["depth"])
        assert a["pool"] in ("avg", "max")
    assert s.size == (9 + 81 + 729 + 6561) * 2


@pytest.mark.parametrize("name", ["macro", "mlp", "cnn1d"])
def test_features_mark_absent_layers(name: str) -> None:
    s = get_space(name)
    shallow = next(s.sample(i) for i in range(200) if s.sample(i)["depth"] == 1)
    deep = next(s.sample(i) for i in range(200) if s.sample(i)["depth"] > 2)
    assert s.features(shallow).sum() < s.features(deep).sum()


def test_bad_factory_arguments() -> None:
    with pytest.raises(UserInputError):
        get_space("macro", max_depth=0)
    with pytest.raises(UserInputError):
        get_space("rnn_text", max_layers=0)
    with pytest.raises(UserInputError):
        get_space("mlp", widths=())
    with pytest.raises(UserInputError):
        get_space("nope")


# ---------------------------------------------------------------- fixes in the core
def test_choice_accepts_numpy_scalars() -> None:
    c = Choice("w", (16, 32, 64))
    assert c.index(np.int64(32)) == 1 and c.validate(np.int64(64)) == 64
    assert Choice("p", (0.0, 0.5)).index(np.float64(0.5)) == 1
    with pytest.raises(UserInputError):
        c.index(np.int64(8))


def test_size_of_a_huge_space_is_none_not_a_hang() -> None:
    s = Space([Choice(f"x{i}", tuple(range(10))) for i in range(9)])
    assert s.size is None
    assert Space([Choice("a", (1, 2)), IntRange("b", 0, 2)]).size == 6


def test_space_from_dict_classmethod_dispatches_on_kind() -> None:
    for name in ("nb201", "macro", "mlp"):
        s = get_space(name)
        again = Space.from_dict(s.to_dict())
        assert again == s and type(again) is type(s)


def test_macro_space_refuses_unknown_units():
    import pytest

    from metanas.space.macro import MacroChainSpace
    from metanas.types import UserInputError

    with pytest.raises(UserInputError, match="conv9x9"):
        MacroChainSpace(units=("conv3x3", "conv9x9"))


def test_macro_heads_add_a_head_dimension_only_when_searched() -> None:
    assert "head" not in [d.name for d in get_space("macro").dims]
    s = get_space("macro", max_depth=2, widths=[16], units=["conv3x3"], heads=["gap", "dense"])
    assert s.dim("head") == Choice("head", ("gap", "dense"))
    assert {s.sample(seed)["head"] for seed in range(30)} == {"gap", "dense"}
    assert s.size == 2 * sum(2**d for d in (1, 2))
    assert space_from_dict(s.to_dict()).to_dict() == s.to_dict()
    with pytest.raises(UserInputError, match="heads"):
        get_space("macro", heads=["mlp"])
    # one head other than gap is still a dimension, or the builder would build gap
    dense = get_space("macro", max_depth=2, widths=[16], units=["conv3x3"], heads=["dense"])
    assert {dense.sample(seed)["head"] for seed in range(5)} == {"dense"}
    assert dense.size == sum(2**d for d in (1, 2))


def test_macro_dense_head_builds_for_any_depth_and_shape() -> None:
    torch = pytest.importorskip("torch")
    from metanas.nn import build_model

    s = get_space("macro", max_depth=3, widths=[8], units=["conv3x3"], heads=["dense"])
    for seed in range(4):
        arch = s.sample(seed)
        for shape in ((1, 28, 28), (3, 40, 30), (1, 5, 5)):
            net = build_model(
                "macro", arch, shape, 7, reduce_every=1, head_units=16, stem_pool=True
            )
            assert tuple(net(torch.zeros(2, *shape)).shape) == (2, 7)
            assert not net.gap  # the dense head the space describes
    with pytest.raises(UserInputError, match="dropout"):
        build_model("macro", s.sample(0), (1, 28, 28), 7, dropout=1.5)
