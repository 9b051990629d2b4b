"""TrainingEvaluator and train_final on a tiny synthetic data set with a stand-in builder."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

from metanas.data.base import Dataset
from metanas.evaluation.base import Evaluator
from metanas.evaluation.training import TrainingEvaluator, arch_seed, fit, train_final
from metanas.types import Budget, Decision, TrialState, UserInputError


def tiny_builder(kind: str, arch, input_shape, n_classes: int, **options) -> nn.Module:
    """A module-level (picklable) stand-in for metanas.nn.build_model: an MLP of width arch['w']."""
    if arch.get("broken"):
        raise RuntimeError("cannot build this one")
    n_in = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(n_in, arch["w"]), nn.ReLU()]
    if options.get("dropout"):
        layers.append(nn.Dropout(options["dropout"]))
    layers.append(nn.Linear(arch["w"], n_classes))
    return nn.Sequential(*layers)


def blobs(n: int = 600, seed: int = 0, n_classes: int = 3) -> Dataset:
    """Separable Gaussian blobs in 8 dimensions, split 60/20/20."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, 8, generator=g) * 3
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, 8, generator=g)
    a, b = int(0.6 * n), int(0.8 * n)
    return Dataset("blobs", "tabular", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], n_classes)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return blobs()


def make(data: Dataset, **kw) -> TrainingEvaluator:
    kw.setdefault("epochs", 3)
    kw.setdefault("lr", 1e-2)
    kw.setdefault("device", "cpu")
    kw.setdefault("num_threads", 1)  # tiny models: threads only contend
    return TrainingEvaluator(data, "tiny", builder=tiny_builder, **kw)


def test_protocol_and_learning(data: Dataset) -> None:
    ev = make(data)
    assert isinstance(ev, Evaluator)
    assert ev.objective == "val_acc"
    res = ev.evaluate({"w": 16}, None, lambda s, m: Decision.CONTINUE)
    assert res.state is TrialState.COMPLETE, res.error
    m = res.metrics
    assert m["val_acc"] > 0.8  # chance is 1/3
    assert res.value == m["val_acc"]
    assert {"val_acc", "val_loss", "train_loss", "params", "epochs", "seconds"} <= set(m)
    assert m["params"] == 8 * 16 + 16 + 16 * 3 + 3
    assert m["epochs"] == 3
    assert len(res.curve) == 3 and [p["epoch"] for p in res.curve] == [1, 2, 3]
    assert res.cost == m["seconds"] > 0
    assert ev.task_info().n_classes == 3


def test_same_arch_and_seed_same_result(data: Dataset) -> None:
    a = make(data, seed=1, model_options={"dropout": 0.3}).evaluate({"w": 8})
    b = make(data, seed=1, model_options={"dropout": 0.3}).evaluate({"w": 8})
    c = make(data, seed=2, model_options={"dropout": 0.3}).evaluate({"w": 8})
    assert a.metrics["val_loss"] == b.metrics["val_loss"]
    assert a.metrics["train_loss"] == b.metrics["train_loss"]
    assert a.metrics["train_loss"] != c.metrics["train_loss"]


def test_global_rng_untouched(data: Dataset) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make(data, epochs=1).evaluate({"w": 4})
    assert torch.equal(torch.rand(3), expected)


def test_arch_seed_depends_on_arch_and_seed() -> None:
    assert arch_seed({"a": 1, "b": 2}, 0) == arch_seed({"b": 2, "a": 1}, 0)
    assert arch_seed({"a": 1}, 0) != arch_seed({"a": 2}, 0)
    assert arch_seed({"a": 1}, 0) != arch_seed({"a": 1}, 1)


def test_budget_overrides_epochs_and_fraction(data: Dataset) -> None:
    ev = make(data, epochs=5)
    res = ev.evaluate({"w": 8}, Budget(epochs=2, fraction=0.5))
    assert res.metrics["epochs"] == 2 and len(res.curve) == 2
    half = ev.train_subset(data, 0.5)[0]
    assert half.shape[0] == 180
    # the subset is the same for every architecture (fixed by the evaluator seed)
    assert torch.equal(half, ev.train_subset(data, 0.5)[0])


def test_fractional_epochs(data: Dataset) -> None:
    res = make(data, batch_size=60).evaluate({"w": 8}, Budget(epochs=0.5))
    assert res.state is TrialState.COMPLETE
    assert res.metrics["epochs"] == pytest.approx(0.5)


def test_a_budget_that_float_arithmetic_rounds_up_trains_no_extra_step(data: Dataset) -> None:
    """A scheduler's rungs may come out as 0.6000000000000001 epochs: with 10 steps
    an epoch, ceil made that 7 steps (0.7 epochs)."""
    from metanas.evaluation.fit import fit

    n = 10 * 16  # 10 steps of 16 per epoch
    out = fit(tiny_builder("tiny", {"w": 4}, (8,), 3), data.x_train[:n], data.y_train[:n],
              epochs=0.6000000000000001, batch_size=16,
              generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out["steps"] == 6 and out["epochs"] == pytest.approx(0.6)


def test_stop_prunes_with_metrics_so_far(data: Dataset) -> None:
    calls: list[int] = []

    def stop_after_one(step: int, metrics) -> Decision:
        calls.append(step)
        return Decision.STOP

    res = make(data, epochs=4).evaluate({"w": 8}, None, stop_after_one)
    assert calls == [1]
    assert res.state is TrialState.PRUNED
    assert res.metrics["epochs"] == 1 and res.metrics["pruned"] == 1.0
    assert res.value == res.metrics["val_acc"]
    # a STOP answered to the last report changes nothing: the budget is spent
    full = make(data, epochs=1).evaluate({"w": 8}, None, stop_after_one)
    assert full.state is TrialState.COMPLETE and calls == [1, 1]


def test_failures_become_results(data: Dataset) -> None:
    res = make(data).evaluate({"w": 8, "broken": True})
    assert res.state is TrialState.FAILED and "cannot build" in res.error
    nan = make(data, lr=1e9, optimizer="sgd").evaluate({"w": 64})
    assert nan.state is TrialState.FAILED and "non-finite" in nan.error
    slow = make(data, epochs=1000, time_limit=0.05).evaluate({"w": 8})
    assert slow.state is TrialState.FAILED and "time limit" in slow.error
    assert slow.cost >= 0.05


def test_bad_settings_raise_user_input_error(data: Dataset) -> None:
    with pytest.raises(UserInputError, match="optimizer"):
        make(data, optimizer="rmsprop")
    with pytest.raises(UserInputError, match="fraction"):
        make(data, fraction=0)
    with pytest.raises(UserInputError, match="loss"):
        make(data, loss="mse")


def test_bce_loss_and_sgd(data: Dataset) -> None:
    res = make(data, loss="bce", optimizer="sgd", lr=0.1).evaluate({"w": 16})
    assert res.state is TrialState.COMPLETE and res.metrics["val_acc"] > 0.8


def test_num_threads_restored(data: Dataset) -> None:
    before = torch.get_num_threads()
    make(data, epochs=1, num_threads=1).evaluate({"w": 4})
    assert torch.get_num_threads() == before


def test_pickle_roundtrip_gives_same_result(data: Dataset) -> None:
    ev = make(data, epochs=2)
    ev2 = pickle.loads(pickle.dumps(ev))
    a, b = ev.evaluate({"w": 8}).metrics, ev2.evaluate({"w": 8}).metrics
    assert (a["val_loss"], a["train_loss"]) == (b["val_loss"], b["train_loss"])


def test_named_dataset_pickles_small() -> None:
    ev = TrainingEvaluator("fashion_mnist", "macro", epochs=1)
    assert len(pickle.dumps(ev)) < 2000  # no tensors travel with it


def test_augment_keeps_shape_and_learns() -> None:
    from metanas.evaluation.fit import _augment

    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5)
    out = _augment(x, torch.Generator().manual_seed(0), shift=1)
    assert out.shape == x.shape
    # every output row of a sample comes from its own (possibly flipped/shifted) input or padding
    assert set(out[0].unique().tolist()) <= set(x[0].unique().tolist()) | {0.0}

    # which view each output is: a flip (or not), then a shift by (dy, dx) with zero padding
    img = torch.arange(1, 1 + 2 * 6 * 7, dtype=torch.float32).reshape(2, 6, 7)  # no symmetry
    s = 2
    views = {}
    for f in (False, True):
        src = img.flip(2) if f else img
        padded = torch.nn.functional.pad(src, (s, s, s, s))
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                views[(f, dy, dx)] = padded[:, s + dy : s + dy + 6, s + dx : s + dx + 7]
    seen = []
    for seed in range(4):
        out = _augment(img.expand(200, 2, 6, 7), torch.Generator().manual_seed(seed), shift=s)
        assert out.shape == (200, 2, 6, 7)
        for o in out:
            match = [k for k, v in views.items() if torch.equal(o, v)]
            assert len(match) == 1, "an output that is no flip/shift of its input"
            seen.append(match[0])
    n = len(seen)
    # fair coins: half the views flipped, each of the 5 offsets about a fifth of the time per axis
    assert 0.43 < sum(f for f, _, _ in seen) / n < 0.57
    for axis in (1, 2):
        for d in range(-s, s + 1):
            assert 0.14 < sum(k[axis] == d for k in seen) / n < 0.26, (axis, d)
    assert sum(k == (False, 0, 0) for k in seen) / n < 0.06  # the input itself: 1 in 50
    # shift=0 only flips
    out = _augment(img.expand(200, 2, 6, 7), torch.Generator().manual_seed(0), shift=0)
    flipped = [torch.equal(o, img.flip(2)) for o in out]
    assert all(f or torch.equal(o, img) for f, o in zip(flipped, out))
    assert 70 < sum(flipped) < 130


def test_fit_stops_when_on_epoch_says_so(data: Dataset) -> None:
    model = tiny_builder("tiny", {"w": 4}, (8,), 3)
    out = fit(
        model, data.x_train, data.y_train, epochs=5, generator=torch.Generator().manual_seed(0),
        on_epoch=lambda e, d, loss: e < 2,
    )  # fmt: skip
    assert out["epochs"] == 2


def test_fit_time_budget_replans_from_the_measured_pace(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock that moves one second per epoch and a 3.5-second budget: the run that planned 50
    epochs ends after 3.5, with the cosine schedule (read through the LambdaLR) at its end."""
    from types import SimpleNamespace

    import metanas.evaluation.fit as fit_module

    clock = iter(range(1000))
    monkeypatch.setattr(fit_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    lrs: list[float] = []
    real_step = torch.optim.lr_scheduler.LambdaLR.step

    def step(self: torch.optim.lr_scheduler.LambdaLR, *a: object) -> None:
        real_step(self, *a)
        lrs.append(self.get_last_lr()[0])

    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "step", step)
    model = tiny_builder("tiny", {"w": 4}, (8,), 3)
    out = fit(
        model, data.x_train, data.y_train, epochs=50, lr=1e-2, batch_size=16,
        generator=torch.Generator().manual_seed(0), time_budget=3.5,
    )  # fmt: skip
    assert out["epochs"] == pytest.approx(3.5, abs=0.1)
    assert lrs[-1] < 1e-4 and lrs[len(lrs) // 2] > 1e-3  # annealed over the shortened run


def test_fit_time_budget_may_lengthen_a_run_planned_too_short(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first guess of 2 epochs (a probe timed while the machine was busy) and a pace of one
    second per epoch: with max_epochs the run grows to what 6.5 seconds fit, and no further."""
    from types import SimpleNamespace

    import metanas.evaluation.fit as fit_module

    def run(max_epochs: float | None, budget: float = 6.5) -> float:
        clock = iter(range(1000))
        monkeypatch.setattr(fit_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
        out = fit(
            tiny_builder("tiny", {"w": 4}, (8,), 3), data.x_train, data.y_train, epochs=2,
            batch_size=16, generator=torch.Generator().manual_seed(0), time_budget=budget,
            max_epochs=max_epochs,
        )  # fmt: skip
        return out["epochs"]

    assert run(None) == 2
    assert run(10) == pytest.approx(6.5, abs=0.1)
    assert run(4) == 4  # never past max_epochs
    assert run(10, budget=1.5) == pytest.approx(1.5, abs=0.1)  # and still shortened


def test_train_final_uses_train_and_val(data: Dataset) -> None:
    seen: list[float] = []
    model, m = train_final(
        "tiny", {"w": 16}, data, epochs=3, lr=1e-2, device="cpu", builder=tiny_builder, num_threads=1,
        progress=lambda e, d, loss: seen.append(d),
    )  # fmt: skip
    assert seen == [1, 2, 3]
    assert m["test_acc"] > 0.8 and m["epochs"] == 3
    assert not model.training
    _, m2 = train_final(
        "tiny",
        {"w": 16},
        data,
        epochs=3,
        lr=1e-2,
        device="cpu",
        builder=tiny_builder,
        num_threads=1,
    )
    assert m2["test_acc"] == m["test_acc"]  # deterministic


def test_train_final_time_budget_shortens_training(data: Dataset) -> None:
    _, m = train_final(
        "tiny", {"w": 8}, data, epochs=10_000, device="cpu", builder=tiny_builder, num_threads=1,
        time_budget=0.5,
    )  # fmt: skip
    assert m["planned_epochs"] == 10_000
    assert 0.1 <= m["epochs"] < 10_000


def _bn_net(running: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2, track_running_stats=running),
                         nn.Flatten(), nn.Linear(2, 2))  # fmt: skip


def test_a_batch_of_one_at_a_one_pixel_map_trains_and_evaluates() -> None:
    """129 examples in batches of 128 left a last batch of one, which batch norm at 1x1 cannot
    take: every trial failed (images of 4 px in NB201 networks), and the one-shot supernet,
    normalising by batch statistics in eval mode too, failed on 513 validation examples."""
    from metanas.evaluation.fit import evaluate_model

    x, y = torch.randn(129, 1, 1, 1), torch.arange(129) % 2
    out = fit(_bn_net(), x, y, epochs=1, batch_size=128, generator=torch.Generator().manual_seed(0))
    assert out["steps"] == 2.0 and math.isfinite(out["train_loss"])
    xv, yv = torch.randn(513, 1, 1, 1), torch.arange(513) % 2
    acc, loss = evaluate_model(_bn_net(running=False), xv, yv, batch_size=512)
    assert 0.0 <= acc <= 1.0 and math.isfinite(loss)


def test_a_final_time_cap_on_data_of_two_batches_or_fewer_trains() -> None:
    """The pace probe timed the examples after the first two batches: none, so it failed with
    'the training split is empty' after the search had finished."""
    data = blobs(300)
    arch = {"w": 8}
    _, metrics = train_final(
        "generic", arch, data, epochs=2, batch_size=256, time_budget=60, builder=tiny_builder
    )
    assert metrics["epochs"] > 0 and 0.0 <= metrics["test_acc"] <= 1.0


def test_infinite_epochs_are_refused_up_front() -> None:
    with pytest.raises(UserInputError, match="budget epochs must be a positive number"):
        Budget(epochs=math.inf)
