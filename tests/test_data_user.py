"""User data: arrays, CSV files and image folders, including the error messages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metanas.data import from_arrays, from_csv, from_image_folder
from metanas.data.imagefiles import read_image
from metanas.types import UserInputError


def blobs(n: int = 300, f: int = 4, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return rng.normal(size=(n, f)) * 5 + 3 + y[:, None], y


# ------------------------------------------------------------------------------------ arrays
@pytest.mark.parametrize(
    ("shape", "modality"),
    [((90, 5), "tabular"), ((90, 2, 7), "timeseries"), ((90, 1, 6, 6), "image")],
)
def test_modality_from_ndim(shape: tuple[int, ...], modality: str) -> None:
    x = np.random.default_rng(0).normal(size=shape)
    d = from_arrays(x, np.arange(90) % 3)
    assert d.modality == modality and d.input_shape == shape[1:] and d.n_classes == 3
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (65, 7, 18)
    assert d.y_test.bincount().tolist() == [6, 6, 6]


def test_split_deterministic_disjoint_and_seeded() -> None:
    x, y = blobs()
    x[:, 0] = np.arange(len(x))  # row ids let us check the splits are disjoint
    a, b, c = from_arrays(x, y, seed=0), from_arrays(x, y, seed=0), from_arrays(x, y, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_test, c.x_test)
    ids = [set(t[:, 0].long().tolist()) for t in (a.x_train, a.x_val, a.x_test)]
    assert sum(map(len, ids)) == len(x) and len(set.union(*ids)) == len(x)


def test_torch_input_standardize_and_given_test() -> None:
    x, y = blobs()
    d = from_arrays(torch.from_numpy(x), torch.from_numpy(y), standardize=True)
    assert torch.allclose(d.x_train.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    assert d.meta["normalization"]["kind"] == "feature"
    e = from_arrays(x[:200], y[:200], x_test=x[200:], y_test=y[200:])
    assert len(e.y_test) == 100 and len(e.y_train) + len(e.y_val) == 200
    assert torch.equal(e.x_test, torch.from_numpy(x[200:]).float())


def test_text_arrays() -> None:
    ids = np.random.default_rng(0).integers(0, 50, size=(60, 12))
    d = from_arrays(ids, np.arange(60) % 2, modality="text")
    assert d.modality == "text" and d.x_train.dtype == torch.int64
    assert d.meta["vocab_size"] == int(ids.max()) + 1
    with pytest.raises(UserInputError, match="token ids"):
        from_arrays(ids.astype(float), np.arange(60) % 2, modality="text")


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((10, 3)), np.arange(9) % 2, "rows but its labels have 9"),
        (np.zeros((10, 3)), np.arange(10) % 2 + 1, r"every label 0..K-1"),
        (np.zeros((10, 3)), np.array([0, 1, 3] * 3 + [0]), r"every label 0..K-1"),
        (np.zeros((10, 3)), np.zeros(10, dtype=int), "single class"),
        (np.zeros((10, 3)), np.linspace(0, 1, 10), "integer class labels"),
        (np.zeros((10, 3)), np.array(list("ababababab")), "integer class labels"),
        (np.zeros((10, 3)), np.zeros((10, 2), dtype=int), "1-D"),
        (np.full((10, 3), np.nan), np.arange(10) % 2, "NaN"),
        (np.zeros((10, 1, 1, 1, 1)), np.arange(10) % 2, "5 dimensions"),
        (np.array([["a", "b"]] * 10), np.arange(10) % 2, "numeric"),
    ],
)
def test_array_errors(x: np.ndarray, y: np.ndarray, match: str) -> None:
    with pytest.raises(UserInputError, match=match):
        from_arrays(x, y)


def test_array_option_errors() -> None:
    x, y = blobs()
    with pytest.raises(UserInputError, match="both x_test and y_test"):
        from_arrays(x, y, x_test=x)
    with pytest.raises(UserInputError, match="unknown modality"):
        from_arrays(x, y, modality="audio")
    with pytest.raises(UserInputError, match="3 dimensions"):
        from_arrays(x, y, modality="timeseries")
    with pytest.raises(UserInputError, match="test_fraction"):
        from_arrays(x, y, test_fraction=1.0)
    with pytest.raises(UserInputError, match="rows hold no values"):
        from_arrays(np.zeros((len(y), 0)), y, standardize=True)
    for seed in (-1, None, 1.5):
        with pytest.raises(UserInputError, match="seed must be a non-negative integer"):
            from_arrays(x, y, seed=seed)  # type: ignore[arg-type]


def test_a_data_set_without_validation_or_test_examples_is_refused_where_they_are_needed() -> None:
    """Empty splits are allowed (a final training needs no validation, a search no test), but a
    search on no validation examples scored every trial 0 and a final training without a test
    set reported test accuracy 0."""
    from metanas.evaluation.training import TrainingEvaluator, train_final
    from metanas.study import create_study

    x, y = blobs()
    no_val = from_arrays(x, y, val_fraction=0)
    with pytest.raises(UserInputError, match=r"no validation examples.*val_fraction > 0"):
        create_study("mlp", "random", TrainingEvaluator(no_val, "mlp", epochs=1))
    arch = {"depth": 1, "width_1": 8, "activation": "relu", "dropout": 0.0}
    _, m = train_final("mlp", arch, no_val, epochs=1, num_threads=1)
    assert 0 <= m["test_acc"] <= 1
    with pytest.raises(UserInputError, match=r"no test examples.*test_fraction > 0"):
        train_final("mlp", arch, from_arrays(x, y, test_fraction=0), epochs=1, num_threads=1)


# --------------------------------------------------------------------------------------- CSV
def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_round_trip(tmp_path: Path) -> None:
    x, y = blobs(n=120)
    names = np.array(["setosa", "virginica", "versicolor"])[y]
    lines = ["a,b,species,c,d"] + [f"{r[0]},{r[1]},{s},{r[2]},{r[3]}" for r, s in zip(x, names)]
    d = from_csv(write(tmp_path / "flowers.csv", "\n".join(lines) + "\n"), "species")
    assert d.name == "flowers" and d.modality == "tabular" and d.input_shape == (4,)
    assert d.meta["class_names"] == ["setosa", "versicolor", "virginica"]
    assert d.meta["feature_names"] == ["a", "b", "c", "d"]
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 120
    assert torch.allclose(d.x_train.mean(0), torch.zeros(4), atol=1e-5)  # train statistics
    by_index = from_csv(tmp_path / "flowers.csv", 2, standardize=False)
    assert torch.equal(by_index.y_test, d.y_test)
    assert abs(by_index.x_train.mean().item()) > 1  # raw values are kept when asked


def test_csv_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{[2, 10, 7][i % 3]}" for i in range(30))
    d = from_csv(write(tmp_path / "n.csv", "x,label\n" + rows), "label")
    assert d.meta["class_names"] == ["2", "7", "10"] and d.n_classes == 3
    # one class however the number is written (a spreadsheet may write 1 as 1.0)
    rows = "\n".join(f"{i},{['1', '1.0', '2'][i % 3]}" for i in range(30))
    d = from_csv(write(tmp_path / "f.csv", "x,label\n" + rows), "label")
    assert d.meta["class_names"] == ["1", "2"] and d.n_classes == 2


@pytest.mark.parametrize(
    ("text", "column", "match"),
    [
        ("a,b,y\n1,2,0\n3,4,1\n", "label", r"no column 'label'; columns are \['a', 'b', 'y'\]"),
        ("a,b,y\n1,x,0\n3,4,1\n", "y", r"column 'b' row 2 holds 'x'.*numeric"),
        ("a,b,y\n1,,0\n3,4,1\n", "y", r"column 'b' row 2 is empty"),
        ("a,b,y\n1,2,0\n3,4\n", "y", "row 3 has 2 fields"),
        ("a,b,y\n1,2,\n3,4,1\n", "y", "label column has empty cells"),
        ("y\n0\n1\n", "y", "only the label column"),
        ("a,b,y\n", "y", "at least one data row"),
        ("a,y\n1,0\n2,0\n", "y", "single class"),
        ("a,b,y\n1,2,0\n3,4,1\n", 5, "out of range"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, column: str | int, match: str) -> None:
    with pytest.raises(UserInputError, match=match):
        from_csv(write(tmp_path / "bad.csv", text), column)


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        from_csv(tmp_path / "nope.csv", "y")


def test_csv_not_in_utf8_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("name,caf\u00e9,y\na,1,0\nb,2,1\n".encode("cp1252"))
    with pytest.raises(UserInputError, match=r"not UTF-8 text \(byte 0xe9.*save it as UTF-8"):
        from_csv(path, "y")


# ------------------------------------------------------------------------------ image folders
def pgm(path: Path, a: np.ndarray, binary: bool = True) -> None:
    h, w = a.shape
    if binary:
        path.write_bytes(
            f"P5\n# made by a test\n{w} {h}\n255\n".encode() + a.astype(np.uint8).tobytes()
        )
    else:
        body = " ".join(str(int(v)) for v in a.ravel())
        path.write_text(f"P2\n{w} {h}\n255\n{body}\n")


def ppm(path: Path, a: np.ndarray) -> None:
    h, w, _ = a.shape
    path.write_bytes(f"P6 {w} {h} 255\n".encode() + a.astype(np.uint8).tobytes())


def test_netpbm_and_npy_readers(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    pgm(tmp_path / "a.pgm", a)
    pgm(tmp_path / "b.pgm", a, binary=False)
    for f in ("a.pgm", "b.pgm"):
        im = read_image(tmp_path / f)
        assert im.shape == (1, 3, 4) and np.allclose(im[0], a / 255)
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 6, 3))
    ppm(tmp_path / "c.ppm", rgb)
    assert np.allclose(read_image(tmp_path / "c.ppm"), rgb.transpose(2, 0, 1) / 255)
    deep = np.array([[0, 65535], [1000, 30000]], dtype=">u2")
    (tmp_path / "d.pgm").write_bytes(b"P5 2 2 65535\n" + deep.tobytes())
    assert np.allclose(read_image(tmp_path / "d.pgm")[0], deep / 65535)
    np.save(tmp_path / "e.npy", rgb.astype(np.uint8))  # (H, W, C)
    assert read_image(tmp_path / "e.npy").shape == (3, 5, 6)
    (tmp_path / "f.pgm").write_bytes(b"P5 4 4 255\n\x00\x01")
    with pytest.raises(UserInputError, match="truncated"):
        read_image(tmp_path / "f.pgm")


def test_npy_integer_pixels_are_scaled_by_their_range_not_their_dtype(tmp_path: Path) -> None:
    """np.save of plain Python-made pixels stores int64: 0-255 values are 8-bit pixels."""
    px = np.random.default_rng(0).integers(0, 256, size=(6, 7))  # int64
    np.save(tmp_path / "a.npy", px)
    assert np.allclose(read_image(tmp_path / "a.npy")[0], px / 255)
    np.save(tmp_path / "b.npy", (px * 200).astype(np.int32))  # 16-bit range
    assert np.allclose(read_image(tmp_path / "b.npy")[0], px * 200 / 65535)
    np.save(tmp_path / "c.npy", px.astype(np.uint16))  # the dtype says 16 bits: kept
    assert np.allclose(read_image(tmp_path / "c.npy")[0], px / 65535)
    np.save(tmp_path / "d.npy", px - 300)
    with pytest.raises(UserInputError, match=r"int64 pixels from -300 to .*save 0-255"):
        read_image(tmp_path / "d.npy")
    np.save(tmp_path / "e.npy", px.astype(np.float32))  # 0-255 as floats: ambiguous
    with pytest.raises(
        UserInputError, match=r"float pixels from 0 to 2[0-9]+; save floats in \[0, 1\]"
    ):
        read_image(tmp_path / "e.npy")
    np.save(tmp_path / "f.npy", (px / 255).astype(np.float32))
    assert np.allclose(read_image(tmp_path / "f.npy")[0], px / 255)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for cls, level in (("cat", 40), ("dog", 200)):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(10):
            pgm(
                tmp_path / "pets" / cls / f"{i}.pgm", rng.integers(level - 30, level + 30, (12, 10))
            )
    (tmp_path / "pets" / "dog" / "notes.txt").write_text("ignored")
    return tmp_path / "pets"


def test_image_folder(folder: Path) -> None:
    d = from_image_folder(folder, size=(8, 8), standardize=False)
    assert d.name == "pets" and d.meta["class_names"] == ["cat", "dog"]
    assert d.x_train.shape[1:] == (1, 8, 8) and d.n_classes == 2
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 20
    # resizing keeps the brightness that separates the classes
    cats = torch.cat([d.x_train[d.y_train == 0], d.x_test[d.y_test == 0]])
    assert abs(cats.mean().item() - 40 / 255) < 0.03
    assert d.x_train.min().item() >= 0.0 and d.x_train.max().item() <= 1.0
    ppm(folder / "cat" / "colour.ppm", np.full((12, 10, 3), [255, 0, 0]))
    colour = from_image_folder(folder, size=(8, 8))
    assert colour.input_shape == (3, 8, 8)  # one colour image makes every image RGB
    assert colour.meta["normalization"]["kind"] == "channel"


def test_image_folder_errors(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        from_image_folder(tmp_path / "missing")
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(UserInputError, match="1 class sub-folders"):
        from_image_folder(tmp_path / "one")
    for size in (28, (28.5, 28), (0, 28), "28x28"):
        with pytest.raises(UserInputError, match=r"size must be \(height, width\)"):
            from_image_folder(folder, size)  # type: ignore[arg-type]
    (folder / "empty").mkdir()
    with pytest.raises(UserInputError, match=r"empty holds no images"):
        from_image_folder(folder)


def test_png_with_and_without_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = pytest.importorskip("PIL.Image")
    a = np.zeros((6, 6, 3), dtype=np.uint8)
    a[..., 1] = 255
    image.fromarray(a).save(tmp_path / "g.png")
    im = read_image(tmp_path / "g.png")
    assert im.shape == (3, 6, 6) and np.allclose(im[1], 1.0) and np.allclose(im[0], 0.0)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(UserInputError, match="pip install pillow"):
        read_image(tmp_path / "g.png")
