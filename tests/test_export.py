"""export_model / load_model round trips with a stand-in builder and a generic space."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from metanas.export import export_model, load_model, load_weights, read_manifest
from metanas.space import Choice, Space
from metanas.types import UserInputError


def conv_builder(kind: str, arch, input_shape, n_classes: int, **options) -> nn.Module:
    c = arch["width"]
    return nn.Sequential(
        nn.Conv2d(input_shape[0], c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c * (input_shape[1] // 2) * (input_shape[2] // 2), n_classes),
    )


SPACE = Space([Choice("width", (4, 8))], name="tiny")
ARCH = {"width": 4}


def trained_model() -> nn.Module:
    torch.manual_seed(0)
    m = conv_builder("generic", ARCH, (1, 8, 8), 3)
    m.train()
    m(torch.randn(16, 1, 8, 8))  # move the BatchNorm running statistics off their defaults
    return m.eval()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load
def test_round_trip_all_formats(tmp_path) -> None:
    model = trained_model()
    x = torch.randn(4, 1, 8, 8)
    manifest = export_model(
        model, SPACE, ARCH, tmp_path, example_input=x, metrics={"test_acc": 0.5},
        model_options={},
    )  # fmt: skip
    files = {p.name for p in tmp_path.iterdir()}
    assert {"arch.json", "model.torchscript.pt", "model.onnx"} <= files
    assert manifest["files"]["weights"] in files
    on_disk = json.loads((tmp_path / "arch.json").read_text())
    assert on_disk["arch"] == ARCH and on_disk["input_shape"] == [1, 8, 8]
    assert on_disk["n_classes"] == 3 and on_disk["metrics"] == {"test_acc": 0.5}
    assert on_disk["space"] == SPACE.to_dict()
    assert on_disk["onnx_max_abs_diff"] <= 1e-4 and on_disk["onnx_matches"] is True
    assert on_disk["torchscript_max_abs_diff"] <= 1e-5

    loaded = load_model(tmp_path, builder=conv_builder)
    assert not loaded.training
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    ts = torch.jit.load(str(tmp_path / "model.torchscript.pt"))
    with torch.inference_mode():
        assert torch.allclose(ts(x), model(x), atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_new_export_into_a_folder_removes_the_earlier_export_s_other_formats(tmp_path) -> None:
    """The ONNX and TorchScript files of another model stayed beside the new weights, and the
    folder looked like a complete export of the new one; a user's own file stays."""
    x = torch.randn(4, 1, 8, 8)
    export_model(trained_model(), SPACE, ARCH, tmp_path, example_input=x)
    (tmp_path / "notes.txt").write_text("mine")
    manifest = export_model(trained_model(), SPACE, ARCH, tmp_path, example_input=x,
                            formats=["state_dict"])  # fmt: skip
    files = {p.name for p in tmp_path.iterdir()}
    assert files == {"arch.json", "notes.txt", manifest["files"]["weights"]}


def test_onnx_dynamic_batch(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = trained_model()
    export_model(
        model, SPACE, ARCH, tmp_path, example_input=torch.randn(2, 1, 8, 8), formats=("onnx",)
    )
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(7, 1, 8, 8)
    (out,) = sess.run(None, {"input": x.numpy()})
    with torch.inference_mode():
        assert float((torch.from_numpy(out) - model(x)).abs().max()) <= 1e-4


def test_weights_load_without_pickle(tmp_path) -> None:
    model = trained_model()
    m = export_model(
        model, SPACE, ARCH, tmp_path, example_input=torch.randn(2, 1, 8, 8), formats=()
    )
    assert set(m["files"]) == {"weights"}
    state = load_weights(tmp_path / m["files"]["weights"])
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v)
    # readable by whoever may read the folder's other files (save_file wrote it as 0600)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes[m["files"]["weights"]] == modes["arch.json"], modes


def test_weights_fallback_is_weights_only_loadable(tmp_path, monkeypatch) -> None:
    import metanas.export as ex

    monkeypatch.setattr(ex, "_has", lambda name: False)
    model = trained_model()
    m = export_model(
        model, SPACE, ARCH, tmp_path, example_input=torch.randn(2, 1, 8, 8), formats=()
    )
    assert m["files"]["weights"] == "weights.pt"
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert torch.equal(state["0.weight"], model.state_dict()["0.weight"])
    assert torch.equal(load_model(tmp_path, builder=conv_builder)[0].weight, model[0].weight)


def test_bad_input(tmp_path) -> None:
    with pytest.raises(UserInputError, match="format"):
        export_model(trained_model(), SPACE, ARCH, tmp_path, example_input=torch.randn(1, 1, 8, 8),
                     formats=("tflite",))  # fmt: skip
    with pytest.raises(UserInputError, match="metric 'note' is 'best', not a number"):
        export_model(trained_model(), SPACE, ARCH, tmp_path / "m", metrics={"note": "best"},
                     example_input=torch.randn(1, 1, 8, 8))  # fmt: skip
    assert not (tmp_path / "m").exists()
    with pytest.raises(UserInputError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    (tmp_path / "arch.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        read_manifest(tmp_path)
    for text, says in [
        ("[1, 2]", "is not a metanas export manifest"),
        (
            '{"kind": "mlp"}',
            "not a complete metanas export (no arch, input_shape, n_classes, files",
        ),
    ]:
        (tmp_path / "arch.json").write_text(text)
        with pytest.raises(UserInputError, match=re.escape(says)):
            load_model(tmp_path)


def test_a_lost_weights_file_and_loose_inputs(tmp_path) -> None:
    # one format without its list, a NumPy example batch
    x = torch.randn(2, 1, 8, 8).numpy()
    export_model(trained_model(), SPACE, ARCH, tmp_path, example_input=x, formats="state_dict")
    assert json.loads((tmp_path / "arch.json").read_text())["input_shape"] == [1, 8, 8]
    load_model(tmp_path, builder=conv_builder)
    (tmp_path / read_manifest(tmp_path)["files"]["weights"]).unlink()
    with pytest.raises(UserInputError, match="is missing from the export"):
        load_model(tmp_path, builder=conv_builder)


def test_a_model_that_is_not_its_architectures_network_is_refused_before_writing(tmp_path):
    from metanas.nn import build_model
    from metanas.space import get_space

    space = get_space("mlp", max_depth=2, widths=[8, 16], dropouts=[0.0])
    arch = {"depth": 1, "width_1": 8, "activation": "relu", "dropout": 0.0}
    other = {**arch, "width_1": 16}
    model = build_model("mlp", arch, (5,), 3)
    x = torch.randn(4, 5)
    out = tmp_path / "m"
    with pytest.raises(UserInputError, match=r"do not fit the network of mlp 16 relu.*difference"):
        export_model(model, space, other, out, example_input=x)
    with pytest.raises(UserInputError, match=r"cannot run example_input of shape \(4, 7\)"):
        export_model(model, space, arch, out, example_input=torch.randn(4, 7))
    (tmp_path / "file").write_text("")
    with pytest.raises(UserInputError, match="is a file; give a directory"):
        export_model(model, space, arch, tmp_path / "file", example_input=x)
    assert not out.exists()
    export_model(model, space, arch, out, example_input=x, formats=("state_dict",))
    assert torch.equal(load_model(out)(x), model.eval()(x))


def test_weights_that_do_not_fit_the_described_network_are_one_sentence(tmp_path) -> None:
    export_model(trained_model(), SPACE, ARCH, tmp_path, example_input=torch.randn(2, 1, 8, 8))
    manifest = json.loads((tmp_path / "arch.json").read_text())
    manifest["arch"] = {"width": 8}  # edited by hand: the weights are a width-4 network's
    (tmp_path / "arch.json").write_text(json.dumps(manifest))
    with pytest.raises(UserInputError, match=r"do not fit the network arch.json describes \(") as e:
        load_model(tmp_path, builder=conv_builder)
    assert "\n" not in str(e.value)


def test_word_ids_beyond_the_vocabulary_are_one_sentence(tmp_path) -> None:
    from metanas.nn import build_model
    from metanas.space import get_space

    space = get_space("rnn_text", units=(8,))
    arch = space.sample(0)
    model = build_model("rnn_text", arch, (20,), 2, vocab_size=50)
    with pytest.raises(UserInputError, match=r"cannot run example_input of shape \(4, 20\)"):
        export_model(model, space, arch, tmp_path, example_input=torch.randint(60, 70, (4, 20)),
                     model_options={"vocab_size": 50})  # fmt: skip
