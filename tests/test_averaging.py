"""Averaging models: test-time augmentation (views, train_final, export) and ensembles (export)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from torch import nn

from metanas.data.base import Dataset
from metanas.evaluation.training import train_final
from metanas.export import export_model, load_model
from metanas.nn.averaging import Ensemble, TestTimeAugmented, _shift
from metanas.types import UserInputError
from test_export import ARCH, SPACE, conv_builder, trained_model


class Recorder(nn.Module):
    """Records each view it is called on; its logits are the first three pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return x.flatten(1)[:, :3]


def test_shift_moves_and_zero_fills() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    down = _shift(x, 1, 0)
    assert torch.equal(down[0, 0], torch.tensor([[0.0, 0, 0], [0, 1, 2], [3, 4, 5]]))
    left = _shift(x, 0, -1)
    assert torch.equal(left[0, 0], torch.tensor([[1.0, 2, 0], [4, 5, 0], [7, 8, 0]]))


def test_views_and_mean_probability() -> None:
    rec = Recorder()
    x = torch.randn(2, 1, 4, 4)
    out = TestTimeAugmented(rec)(x)
    assert len(rec.seen) == 6
    assert torch.equal(rec.seen[0], x) and torch.equal(rec.seen[1], x.flip(3))
    expected = torch.stack([torch.softmax(v.flatten(1)[:, :3], 1) for v in rec.seen]).mean(0)
    assert torch.allclose(torch.softmax(out, 1), expected, atol=1e-6)
    assert torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-6)  # log-probabilities


def test_one_logit_models_average_the_sigmoid() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    x = torch.randn(5, 1, 4, 4)
    views = [x, x.flip(3), _shift(x, 1, 0), _shift(x, -1, 0), _shift(x, 0, 1), _shift(x, 0, -1)]
    with torch.no_grad():
        p = torch.stack([torch.sigmoid(net(v)) for v in views]).mean(0)
        assert torch.allclose(torch.sigmoid(TestTimeAugmented(net)(x)), p, atol=1e-6)


def images(n: int = 240, seed: int = 0) -> Dataset:
    """Two classes of 6x6 images: a bright blob left or right of the centre. A flip swaps the
    classes, so these tests check the plumbing, not a gain."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 6, 6, generator=g) * 0.3
    x[:, 0, 2:4, 1:3] += (y == 0).float()[:, None, None] * 2
    x[:, 0, 2:4, 3:5] += (y == 1).float()[:, None, None] * 2
    a, b = int(0.6 * n), int(0.8 * n)
    return Dataset("blob", "image", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 2)


def small_cnn(kind, arch, input_shape, n_classes, **options) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, n_classes)
    )


def test_train_final_with_tta_reports_both_accuracies() -> None:
    data = images()
    kw = dict(epochs=3, lr=1e-2, device="cpu", num_threads=1, builder=small_cnn)
    plain, m = train_final("cnn", {}, data, **kw)
    wrapped, mt = train_final("cnn", {}, data, tta=True, **kw)
    assert isinstance(wrapped, TestTimeAugmented) and not isinstance(plain, TestTimeAugmented)
    assert mt["test_acc_single_view"] == m["test_acc"]  # the same training, tested two ways
    with torch.no_grad():
        acc = float((wrapped(data.x_test).argmax(1) == data.y_test).float().mean())
    assert mt["test_acc"] == pytest.approx(acc)


def test_tta_needs_images() -> None:
    from test_training import blobs, tiny_builder

    with pytest.raises(UserInputError, match="image data"):
        train_final("tiny", {"w": 4}, blobs(), epochs=1, builder=tiny_builder, tta=True)


def reloads_as_exported(folder, model: nn.Module, x: torch.Tensor, manifest: dict) -> nn.Module:
    """Check that load_model and the TorchScript file give ``model``'s outputs, and that ONNX
    matched on export; return the reloaded model."""
    loaded = load_model(folder, builder=conv_builder)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
        ts = torch.jit.load(str(folder / "model.torchscript.pt"))
        assert torch.allclose(ts(x), model(x), atol=1e-5)
    if importlib.util.find_spec("onnxruntime") is not None:
        assert manifest["onnx_matches"] is True
    return loaded


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load
def test_export_round_trip_keeps_the_wrapper(tmp_path) -> None:
    model = TestTimeAugmented(trained_model())
    x = torch.randn(4, 1, 8, 8)
    manifest = export_model(model, SPACE, ARCH, tmp_path, example_input=x, model_options={})
    assert "flip" in json.loads((tmp_path / "arch.json").read_text())["test_time_augmentation"]
    assert isinstance(reloads_as_exported(tmp_path, model, x, manifest), TestTimeAugmented)


def test_ensemble_is_the_mean_probability() -> None:
    torch.manual_seed(0)
    nets = [nn.Linear(4, 3) for _ in range(3)]
    x = torch.randn(5, 4)
    with torch.no_grad():
        p = torch.stack([torch.softmax(n(x), 1) for n in nets]).mean(0)
        assert torch.allclose(torch.softmax(Ensemble(nets)(x), 1), p, atol=1e-6)
    with pytest.raises(ValueError):
        Ensemble([])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load
def test_ensemble_export_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    archs = [{"width": 4}, {"width": 8}]
    model = Ensemble([conv_builder("generic", a, (1, 8, 8), 3) for a in archs]).eval()
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(UserInputError, match="member_archs"):
        export_model(model, SPACE, archs[0], tmp_path, example_input=x)
    with pytest.raises(UserInputError, match="member_archs"):
        export_model(model, SPACE, archs[0], tmp_path, example_input=x, member_archs=archs[:1])
    manifest = export_model(model, SPACE, archs[0], tmp_path, example_input=x, member_archs=archs)
    assert json.loads((tmp_path / "arch.json").read_text())["ensemble_archs"] == archs
    loaded = reloads_as_exported(tmp_path, model, x, manifest)
    assert isinstance(loaded, Ensemble) and len(loaded.members) == 2
