"""One-shot search (NB201 supernet, DARTS and GDAS) and the most_probable strategy it hands off to."""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from metanas.data import load_dataset
from metanas.data.base import Dataset
from metanas.oneshot import NB201Supernet, oneshot_search
from metanas.oneshot.search import perturbation_scores
from metanas.space import Choice, Condition, IntRange, Space, get_space
from metanas.strategies import MostProbable, SpaceExhausted, get_strategy
from metanas.types import UserInputError
from strategy_conformance import StrategyConformance


def _random_probs(space: Space, seed: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    return {d.name: {o: float(rng.random()) for o in d.options} for d in space.dims}


# ---------------------------------------------------------------------------- most_probable
def test_most_probable_matches_a_brute_force_sort() -> None:
    space = Space([Choice("a", (1, 2, 3)), Choice("b", ("x", "y")), Choice("c", tuple("pqrs"))])
    for seed in range(5):
        probs = _random_probs(space, seed)
        st = MostProbable(space, probs=probs)
        asked = [st.ask().arch for _ in range(24)]
        with pytest.raises(SpaceExhausted):
            st.ask()

        def p(arch: dict[str, Any], probs: dict[str, dict[str, float]] = probs) -> float:
            return math.prod(probs[k][v] / sum(probs[k].values()) for k, v in arch.items())

        every = [dict(zip("abc", t)) for t in itertools.product((1, 2, 3), "xy", "pqrs")]
        assert [p(a) for a in asked] == pytest.approx(sorted(map(p, every), reverse=True))
        assert len({tuple(a.values()) for a in asked}) == 24


def test_most_probable_counts_isomorphic_cells_once_and_exhausts_nb201() -> None:
    space = get_space("nb201")
    probs = {d.name: {"none": 0.5, "skip_connect": 0.2} for d in space.dims}  # others: 0
    st = MostProbable(space, probs=probs)
    keys = []
    with pytest.raises(SpaceExhausted):
        while True:
            keys.append(st.ask().key)
    assert len(keys) == len(set(keys)) == len({space.key(a) for a in space.enumerate()})
    # the all-"none" cell comes first; options with probability 0 only after every other one
    assert keys[0] == space.key({d.name: "none" for d in space.dims})


def test_most_probable_refuses_bad_probs_in_one_sentence() -> None:
    space = Space([Choice("a", (1, 2)), Choice("b", ("x", "y"))])
    bad = [
        None,
        {"a": {1: 1.0}},  # b missing
        {"a": {1: 1.0, 3: 1.0}, "b": {"x": 1.0}},  # unknown option
        {"a": {1: -1.0, 2: 1.0}, "b": {"x": 1.0}},  # negative
        {"a": {1: 0.0}, "b": {"x": 1.0}},  # zero sum
        {"a": {1: 1.0}, "b": {"x": 1.0}, "c": {"z": 1.0}},  # unknown decision
        {"a": {1: math.inf}, "b": {"x": 1.0}},  # no finite weight (was accepted)
        {"a": {1: 1e308, 2: 1e308}, "b": {"x": 1.0}},  # a sum past floats (was a ValueError)
    ]
    for probs in bad:
        with pytest.raises(UserInputError):
            MostProbable(space, probs=probs)
    conditional = Space(
        [Choice("a", (1, 2)), Choice("b", ("x", "y"), when=Condition("a", "==", 2))]
    )
    with pytest.raises(UserInputError, match="unconditional"):
        MostProbable(conditional, probs={"a": {1: 1.0}, "b": {"x": 1.0}})
    with pytest.raises(UserInputError, match="unconditional"):
        MostProbable(Space([IntRange("n", 1, 3)]), probs={"n": {1: 1.0}})


def test_most_probable_asks_only_valid_architectures() -> None:
    class Distinct(Space):  # a constraint of the user's: the two widths must differ
        def is_valid(self, arch: dict[str, Any]) -> bool:
            return bool(arch["w1"] != arch["w2"])

    space = Distinct([Choice("w1", (16, 32)), Choice("w2", (16, 32))])
    probs = {"w1": {16: 0.9, 32: 0.1}, "w2": {16: 0.9, 32: 0.1}}
    st = MostProbable(space, probs=probs)
    assert [st.ask().arch for _ in range(2)] == [{"w1": 16, "w2": 32}, {"w1": 32, "w2": 16}]
    with pytest.raises(SpaceExhausted):
        st.ask()
    # NAS-Bench-101: the most probable cells under a uniform prior are cut off from the output
    nb101 = get_space("nb101")
    uniform = {d.name: {o: 1.0 for o in d.options} for d in nb101.dims}
    st = MostProbable(nb101, probs=uniform)
    assert all(nb101.is_valid(st.ask().arch) for _ in range(3))


def test_a_most_probable_study_over_numbers_resumes(tmp_path) -> None:
    """The store keeps probs as JSON, whose keys are strings ("16"); they name the options."""
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.study import create_study

    space = Space([Choice("width", (16, 32, 64)), Choice("bn", (True, False))], name="k")
    probs = {"width": {16: 0.2, 32: 0.5, 64: 0.3}, "bn": {True: 0.6, False: 0.4}}
    ev = FunctionEvaluator(lambda a: a["width"] / 64)
    db = tmp_path / "s.db"
    kw: dict[str, Any] = {"storage": db, "study_name": "s"}
    create_study(space, "most_probable", ev, strategy_kwargs={"probs": probs}, **kw).optimize(2)
    study = create_study(space, "most_probable", ev, resume=True, **kw)
    study.optimize(4)
    assert [(t.arch["width"], t.arch["bn"]) for t in study.trials] == [
        (32, True), (32, False), (64, True), (64, False)
    ]  # fmt: skip


class TestMostProbableNB201(StrategyConformance):
    strategy = "most_probable"
    params: ClassVar[dict[str, Any]] = {"probs": _random_probs(get_space("nb201"), 0)}
    seeded = False
    n_asks = 60

    def make_space(self) -> Space:
        return get_space("nb201")

    def test_exhausting_a_small_space(self) -> None:
        space = Space([Choice("a", (1, 2)), Choice("b", ("x", "y", "z"))])
        st = get_strategy("most_probable", space, probs=_random_probs(space, 1))
        assert len({tuple(st.ask().arch.values()) for _ in range(6)}) == 6
        with pytest.raises(SpaceExhausted):
            st.ask()


# ---------------------------------------------------------------------------- the supernet
def _count_op_calls(net: NB201Supernet) -> list[int]:
    calls = [0] * 5
    for cell in net.cells:
        for edge in getattr(cell, "edges", []):
            for k, op in enumerate(edge):
                op.register_forward_hook(lambda *_, k=k: calls.__setitem__(k, calls[k] + 1))
    return calls


@pytest.mark.parametrize("mix", ["darts", "gdas"])
def test_supernet_runs_and_its_logits_get_gradients(mix: str) -> None:
    torch.manual_seed(0)
    net = NB201Supernet(1, 10, C=4, N=2, mix=mix)
    calls = _count_op_calls(net)
    out = net(torch.randn(8, 1, 8, 8))
    assert out.shape == (8, 10)
    cells_edges = 3 * 2 * 6
    # DARTS runs every op on every edge; GDAS one op per edge (its draw is shared by all cells)
    assert sum(calls) == (5 if mix == "darts" else 1) * cells_edges
    out.sum().backward()
    g = net.arch_logits.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_gdas_eval_runs_the_derived_ops() -> None:
    torch.manual_seed(0)
    net = NB201Supernet(1, 10, C=4, N=1, mix="gdas")
    with torch.no_grad():
        net.arch_logits.copy_(torch.eye(6, 5) * 5)  # edges 0-4: op = edge index; edge 5: op 0
    calls = _count_op_calls(net)
    net.eval()
    net(torch.randn(2, 1, 8, 8))
    assert calls == [2 * 3, 3, 3, 3, 3]  # 3 cells: op k on edge k, and "none" on edge 5 too
    assert list(net.derive().values()) == [
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "none",
    ]


def test_darts_logit_gradient_matches_finite_differences() -> None:
    """The gradient path to the logits is right: autograd agrees with a central difference."""
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    net = NB201Supernet(1, 10, C=4, N=1, mix="darts").double()
    x, y = data.x_train[:64].double(), data.y_train[:64]
    loss_fn = torch.nn.CrossEntropyLoss()
    loss_fn(net(x), y).backward()
    grad = net.arch_logits.grad.clone()
    direction = torch.randn_like(grad)
    eps = 1e-6  # float64; larger steps cross ReLU kinks
    with torch.no_grad():
        base = net.arch_logits.clone()
        net.arch_logits.copy_(base + eps * direction)
        up = float(loss_fn(net(x), y))
        net.arch_logits.copy_(base - eps * direction)
        down = float(loss_fn(net(x), y))
    assert (up - down) / (2 * eps) == pytest.approx(float((grad * direction).sum()), rel=1e-4)
    assert grad.abs().sum() > 1e-4


def test_perturbation_scores_measure_what_an_edit_changes() -> None:
    """GDAS: edits of edges whose node never reaches the output change nothing; DARTS: removing
    an op zeroes its weight and keeps the others'."""
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    net = NB201Supernet(1, 10, C=4, N=1, mix="gdas")
    with torch.no_grad():  # 3<-2 "none": node 2 (edges 2<-0, 2<-1) never reaches the output
        net.arch_logits.zero_()
        net.arch_logits[:, 3] = 1.0
        net.arch_logits[5, 0] = 2.0
    scores = perturbation_scores(net, data.x_val, data.y_val)
    assert scores.shape == (6, 5)
    assert torch.all(scores[1] == scores[1, 0]) and torch.all(scores[2] == scores[2, 0])
    assert scores[0].std() > 0 and scores[3].std() > 0  # edges that feed the output do matter
    assert net.forced is None  # restored
    darts = NB201Supernet(1, 10, C=4, N=1, mix="darts")
    p = darts.probabilities()
    w, chosen = darts.edited(2, 4)
    assert chosen is None and w[2, 4] == 0 and torch.equal(w[2, :4], p[2, :4])
    assert torch.equal(w[[0, 1, 3, 4, 5]], p[[0, 1, 3, 4, 5]])


# ---------------------------------------------------------------------------- the search
@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


@pytest.mark.parametrize(
    ("method", "selection"), [("gdas", "logits"), ("darts", "logits"), ("darts", "perturbation")]
)
def test_oneshot_search_is_deterministic_and_derives_a_valid_cell(
    digits: Dataset, method: str, selection: str
) -> None:
    def run(seed: int) -> Any:
        return oneshot_search(
            digits, method=method, epochs=2, C=4, N=1, seed=seed, selection=selection
        )

    runs = [run(3) for _ in range(2)]
    a, b = runs
    assert a.probs == b.probs and a.arch == b.arch
    assert a.epochs == len(a.history) == 2 and a.method == method and a.selection == selection
    space = get_space("nb201")
    assert space.is_valid(a.arch)
    for dist in a.probs.values():
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5)
    # the derived cell is the argmax of the final distributions
    assert a.arch == {k: max(d, key=d.get) for k, d in a.probs.items()}
    if selection == "logits":  # the softmax of the final logits
        assert a.probs == a.history[-1].probs
    assert run(4).probs != a.probs
    # and hands off to the strategy: the first ask is the derived cell
    assert get_strategy("most_probable", space, probs=a.probs).ask().arch == a.arch


def test_oneshot_search_learns_the_task(digits: Dataset) -> None:
    """The supernet is really trained: after a few epochs it classifies the held-out digits."""
    r = oneshot_search(digits, method="darts", epochs=4, C=8, N=1, seed=0)
    assert r.history[-1].val_accuracy > 0.7  # chance: 0.1
    assert r.history[-1].train_loss < r.history[0].train_loss


def test_oneshot_search_refuses_bad_input_in_one_sentence(digits: Dataset) -> None:
    with pytest.raises(UserInputError, match="method"):
        oneshot_search(digits, method="enas")
    with pytest.raises(UserInputError, match="epochs"):
        oneshot_search(digits, epochs=0)
    with pytest.raises(UserInputError, match="batch_size"):
        oneshot_search(digits, batch_size=5000)
    with pytest.raises(UserInputError, match="selection"):
        oneshot_search(digits, selection="magnitude")
    with pytest.raises(UserInputError, match="temperature"):
        oneshot_search(digits, temperature=0)
    text = load_dataset("rotten_tomatoes", seed=0, limit=200)
    with pytest.raises(UserInputError, match="images"):
        oneshot_search(text)
    # a GDAS end temperature of 0 made every Gumbel draw infinite: the search hung for good
    for bad in [{"tau": (1.0, 0.0)}, {"tau": 3.0}, {"lr": -0.1}, {"arch_lr": float("nan")},
                {"weight_decay": -1.0}, {"num_threads": 0}, {"batch_size": 1}]:  # fmt: skip
        (name,) = bad
        with pytest.raises(UserInputError, match=f"one-shot {name} must be"):
            oneshot_search(digits, method="gdas", **bad)
    if not torch.cuda.is_available():
        with pytest.raises(UserInputError, match="not on this machine"):
            oneshot_search(digits, device="cuda")


@pytest.mark.parametrize("side", [2, 5, 15])
def test_oneshot_trains_on_small_and_odd_sized_images(side: int) -> None:
    """Odd sides (5 -> 3 by the strided conv, 2 by the shortcut's pooling) failed to add up, and
    a last batch of one example failed batch norm."""
    from metanas.data import from_arrays

    rng = np.random.default_rng(0)
    x = rng.normal(size=(131, 1, side, side)).astype("float32")
    data = from_arrays(x, rng.integers(0, 2, 131), test_fraction=0.1, val_fraction=0.1)
    half = data.x_train.shape[0] // 2
    batch = half - 1  # the weights' half ends in a batch of one
    r = oneshot_search(data, epochs=1, C=2, N=1, batch_size=batch, selection="logits")
    assert len(r.history) == 1 and math.isfinite(r.history[0].train_loss)


def test_oneshot_time_budget_stops_after_an_epoch(digits: Dataset) -> None:
    r = oneshot_search(digits, method="gdas", epochs=50, C=4, N=1, time_budget=0.0)
    assert r.epochs == 1 and len(r.history) == 1


def test_a_time_budget_within_the_warm_up_is_refused_when_the_logits_choose(
    digits: Dataset,
) -> None:
    """The warm-up trains the weights alone: the logits a budget stopped there handed back as
    the result were their random start."""
    with pytest.raises(UserInputError, match=r"within its 3-epoch warm-up.*learned nothing"):
        oneshot_search(digits, epochs=10, C=2, N=1, time_budget=0.0, selection="logits")


# ---------------------------------------------------------------------------- the CLI
ONESHOT = """\
study: os
seed: 0
space: {name: nb201}
strategy: {name: most_probable, oneshot: {method: gdas, epochs: 2, C: 4}}
data: {name: digits, limit: 400}
training: {epochs: 1, batch_size: 64, lr: 0.01, num_threads: 1, model_options: {C: 4, N: 1}}
budget: {n_trials: 2}
final: {enabled: false}
"""


def test_cli_runs_the_supernet_then_trains_the_most_probable_cells(tmp_path, monkeypatch, capsys):
    from metanas.cli import main
    from metanas.study import load_study

    monkeypatch.chdir(tmp_path)
    (tmp_path / "os.yaml").write_text(ONESHOT)
    assert main(["search", "os.yaml", "--storage", "s.db"]) == 0
    err = capsys.readouterr().err
    assert "one-shot gdas search: 2 epochs" in err
    study = load_study("s.db", "os")
    probs = study.store.get_study("os").config["strategy_kwargs"]["probs"]
    expected = MostProbable(get_space("nb201"), probs=probs)
    assert [t.arch for t in study.trials] == [expected.ask().arch for _ in range(2)]
    # a resume keeps the stored distributions: no second supernet, the next most probable cell
    assert main(["search", "os.yaml", "--storage", "s.db", "--resume", "--n-trials", "3"]) == 0
    assert "one-shot" not in capsys.readouterr().err
    trials = load_study("s.db", "os").trials
    assert len(trials) == 3 and trials[2].arch == expected.ask().arch
    # the same search without --resume, or with workers the inline executor cannot have, is
    # refused before the supernet trains (minutes on a real data set), not after it
    import metanas.oneshot

    monkeypatch.setattr(metanas.oneshot, "oneshot_search", lambda *a, **k: pytest.fail("trained"))
    assert main(["search", "os.yaml", "--storage", "s.db", "-q"]) == 2
    assert "study 'os' already exists" in capsys.readouterr().err
    args = ["--storage", "s2.db", "--workers", "2", "--executor", "inline", "-q"]
    assert main(["search", "os.yaml", *args]) == 2
    assert "the inline executor runs one trial at a time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("name: most_probable", "name: random"), "set strategy.name: most_probable"),
        (("{name: nb201}", "{name: macro}"), "set space.name: nb201"),
        (("method: gdas", "method: enas"), "strategy.oneshot.method"),
    ],
)
def test_cli_refuses_a_bad_oneshot_config(tmp_path, monkeypatch, capsys, change, message):
    from metanas.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(ONESHOT.replace(*change))
    assert main(["search", "bad.yaml", "--storage", "s.db", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
