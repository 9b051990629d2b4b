"""Export a trained model: weights, architecture manifest, TorchScript and ONNX.

``export_model`` writes into one folder:

- ``model.safetensors`` (or ``weights.pt``, a plain state dict, when safetensors is missing)
- ``arch.json``: the space, the architecture, input shape, classes, builder options, metrics and
  what each file is; enough for :func:`load_model` to rebuild the network without the study
- ``model.torchscript.pt`` (traced) and ``model.onnx`` (checked against PyTorch with onnxruntime
  when it is installed; the largest absolute difference is recorded in ``arch.json``)

Averaging models are exported as tested (TorchScript and ONNX hold the whole module):
:class:`~metanas.nn.averaging.TestTimeAugmented` stores the network's weights and is wrapped again
on loading; an :class:`~metanas.nn.averaging.Ensemble` stores every member's architecture
(``ensemble_archs``) and weights, and loads as the same ensemble.

Loading never unpickles: safetensors, or ``torch.load(weights_only=True)``.

Example (with a trained ``model``; tests/test_export.py runs the same)::

    manifest = export_model(model, space, arch, "out", example_input=x[:2])
    model2 = load_model("out")
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metanas.evaluation.base import as_metrics
from metanas.nn.averaging import VIEWS, Ensemble, TestTimeAugmented
from metanas.types import UserInputError

FORMAT_VERSION = 1
FORMATS = ("state_dict", "torchscript", "onnx")
ONNX_TOLERANCE = 1e-4


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share memory (tied weights)
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, out_dir: Path) -> str:
    """Write the state dict; return the file name used."""
    state = _plain_state(model)
    if _has("safetensors"):
        from safetensors.torch import save

        # written as bytes like the other files: save_file leaves it readable by its owner only
        (out_dir / "model.safetensors").write_bytes(save(state))
        return "model.safetensors"
    torch.save(state, out_dir / "weights.pt")
    return "weights.pt"


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict written by :func:`save_weights`, without unpickling anything."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _export_onnx(model: nn.Module, x: torch.Tensor, path: Path) -> None:
    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["logits"]}
    try:
        # the TorchScript-based exporter is fast and needs no extra package; it is deprecated,
        # so its warnings are silenced and the dynamo exporter is the fallback
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (x,), str(path), dynamo=False,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs,
            )  # fmt: skip
    except Exception as legacy_error:
        if not _has("onnxscript"):
            raise RuntimeError(f"ONNX export failed ({legacy_error}); install onnxscript") from None
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(
            model, (x,), str(path), dynamo=True, dynamic_shapes=({0: batch},), **kwargs
        )


def _onnx_max_diff(path: Path, x: torch.Tensor, expected: torch.Tensor) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    return float((torch.from_numpy(out) - expected).abs().max())


def export_model(
    model: nn.Module,
    space: Any,
    arch: Mapping[str, Any],
    out_dir: str | Path,
    *,
    example_input: torch.Tensor,
    formats: Sequence[str] = FORMATS,
    metrics: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    member_archs: Sequence[Mapping[str, Any]] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model`` and its description to ``out_dir``; return the manifest (``arch.json``).

    ``space`` is the :class:`~metanas.space.Space` the architecture came from (its ``kind``
    names the builder that :func:`load_model` uses). ``example_input`` is a small batch
    ``(B, *input_shape)``; it fixes the input shape and checks the exported formats. An
    :class:`~metanas.nn.averaging.Ensemble` needs ``member_archs``, one per member, in order.
    ``preprocessing`` (e.g. :func:`metanas.data.input_preprocessing` of a data set's ``meta``: a
    text's vocabulary and length, the training statistics that standardised images) is written
    to ``preprocessing.json``, so new raw inputs can be prepared as the training data was
    (:func:`prepare_inputs`). ``model`` is moved to the
    CPU and left in eval mode (as :func:`load_model` gives it back).
    """
    if isinstance(formats, str):  # one format given without its list
        formats = [formats]
    checked_metrics = as_metrics(metrics or {})  # before anything is written
    if isinstance(space, str):  # a registered space's name, as train_final takes it
        from metanas.space import get_space

        space = get_space(space)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UserInputError(f"unknown export format(s) {unknown}; use some of {list(FORMATS)}.")
    net = _network(model)
    if isinstance(net, Ensemble) != (member_archs is not None) or (
        isinstance(net, Ensemble) and len(member_archs or ()) != len(net.members)
    ):
        raise UserInputError(
            "pass member_archs (one architecture per member) exactly when exporting an Ensemble."
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"out_dir {str(out)!r} is a file; give a directory to export into.")
    model = model.cpu().eval()
    x = torch.as_tensor(example_input).detach().cpu()  # a NumPy batch too
    try:
        with torch.inference_mode():
            expected = model(x)
    except (RuntimeError, IndexError) as e:  # an input of the wrong shape, ids beyond a vocabulary
        raise UserInputError(
            f"the model cannot run example_input of shape {tuple(x.shape)} "
            f"({str(e).splitlines()[0]}); pass a small batch (B, *input_shape) it was trained on."
        ) from None
    _check_rebuilds(
        net, space, arch, member_archs, tuple(x.shape[1:]), int(expected.shape[1]), model_options
    )
    out.mkdir(parents=True, exist_ok=True)
    earlier = _listed_files(out)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": space.kind,
        "space": space.to_dict(),
        "arch": dict(arch),
        "description": space.describe(arch),
        "input_shape": list(x.shape[1:]),
        "input_dtype": str(x.dtype).removeprefix("torch."),
        "n_classes": int(expected.shape[1]),
        "model_options": dict(model_options or {}),
        "metrics": checked_metrics,
        "files": {},
        "torch_version": torch.__version__,
    }
    manifest.update(extra or {})
    # weights are always written: load_model needs them (a TTA wrapper's are its network's)
    if isinstance(model, TestTimeAugmented):
        manifest["test_time_augmentation"] = VIEWS
    if member_archs is not None:
        manifest["ensemble_archs"] = [dict(a) for a in member_archs]
        manifest["description"] = f"ensemble of {len(member_archs)}: " + "; ".join(
            space.describe(a) for a in member_archs
        )
    if preprocessing is not None:
        (out / "preprocessing.json").write_text(json.dumps(dict(preprocessing)) + "\n")
        manifest["files"]["preprocessing"] = "preprocessing.json"
    manifest["files"]["weights"] = save_weights(net, out)
    if "torchscript" in formats:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about python control flow
            traced = torch.jit.trace(model, x)
        traced.save(str(out / "model.torchscript.pt"))
        with torch.inference_mode():
            diff = float((traced(x) - expected).abs().max())
        manifest["files"]["torchscript"] = "model.torchscript.pt"
        manifest["torchscript_max_abs_diff"] = diff
    if "onnx" in formats:
        _export_onnx(model, x, out / "model.onnx")
        manifest["files"]["onnx"] = "model.onnx"
        if _has("onnxruntime"):
            diff = _onnx_max_diff(out / "model.onnx", x, expected)
            manifest["onnx_max_abs_diff"] = diff
            manifest["onnx_matches"] = diff <= ONNX_TOLERANCE
    (out / "arch.json").write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
    for name in earlier - set(manifest["files"].values()):  # an earlier export's other formats
        with contextlib.suppress(OSError):
            (out / name).unlink()
    return manifest


def _listed_files(out: Path) -> set[str]:
    """The files an earlier export in ``out`` wrote (its manifest's), as plain names in ``out``."""
    try:
        files = json.loads((out / "arch.json").read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(files, dict):
        return set()
    return {f for f in files.values() if isinstance(f, str) and f == Path(f).name}


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy / torch scalars
        return v.item()
    if isinstance(v, (tuple, set)):
        return list(v)
    raise TypeError(f"cannot write {type(v).__name__} to arch.json")


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / "arch.json"
    if not path.is_file():
        raise UserInputError(f"{path} does not exist; point to a folder written by export_model.")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserInputError(
            f"{path} is not valid JSON (line {e.lineno}); re-export the model."
        ) from None
    if not isinstance(manifest, dict):
        raise UserInputError(f"{path} is not a metanas export manifest; re-export the model.")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise UserInputError(f"{path} was written by a newer metanas; upgrade metanas to load it.")
    files = manifest.get("files")
    weights_file = files.get("weights") if isinstance(files, dict) else None
    missing = [k for k in _REQUIRED if k not in manifest]
    missing += ["files.weights"] if weights_file is None else []
    if missing or weights_file is None:
        raise UserInputError(
            f"{path} is not a complete metanas export (no {', '.join(missing)}); re-export the model."
        )
    weights = Path(out_dir) / weights_file
    if not weights.is_file():
        raise UserInputError(
            f"{weights} is missing from the export in {out_dir}; re-export the model."
        )
    return manifest


def encode_texts(out_dir: str | Path, texts: Sequence[str]) -> torch.Tensor:
    """Raw texts as the exported text model's input ``(N, max_len)`` word ids, prepared as its
    training data was (the export's ``preprocessing.json``: vocabulary, tokens, length).

    ``load_model(out_dir)(encode_texts(out_dir, ["a gripping, funny film"]))`` scores new text.
    """
    from metanas.data.text import encode  # the tokenizer the data set used

    if isinstance(texts, str):  # one text given without its list
        texts = [texts]
    prep = _preprocessing(
        out_dir, "word_ids", "not a text model, or exported before 0.2.4: re-export it from its "
        "study with metanas export",
    )  # fmt: skip
    ids = encode(list(texts), prep["vocab"], int(prep["max_len"]), prep.get("token_pattern"))
    return torch.from_numpy(ids)


def prepare_inputs(out_dir: str | Path, raw: Any) -> torch.Tensor:
    """Raw inputs as the exported model's inputs, prepared as its training data was: texts
    become word ids (:func:`encode_texts`); images, series and tables (a batch ``(N, ...)`` of
    plain pixel or feature values) are scaled and standardised with the training statistics.

    ``load_model(out_dir)(prepare_inputs(out_dir, pixels))`` scores new images.
    """
    if isinstance(raw, str) or (
        isinstance(raw, Sequence) and raw and all(isinstance(t, str) for t in raw)
    ):
        return encode_texts(out_dir, raw)
    from metanas.data._common import standardize

    prep = _preprocessing(
        out_dir, "standardize", "its data was used as given, so give the inputs as they are; "
        "or it was exported before 0.2.7: re-export it from its study with metanas export",
    )  # fmt: skip
    return torch.from_numpy(standardize(raw, prep))


def _preprocessing(out_dir: str | Path, kind: str, why: str) -> dict[str, Any]:
    """The export's ``preprocessing.json`` of ``kind``, or one sentence why there is none."""
    manifest = read_manifest(out_dir)
    name = manifest["files"].get("preprocessing")
    prep = json.loads((Path(out_dir) / name).read_text()) if name is not None else {}
    if prep.get("kind") != kind:
        raise UserInputError(f"the export in {out_dir} has no {kind} preprocessing ({why}).")
    return dict(prep)


#: what load_model needs of a manifest
_REQUIRED = ("kind", "arch", "input_shape", "n_classes")


def load_model(out_dir: str | Path, builder: Any = None) -> nn.Module:
    """Rebuild the exported network from ``arch.json`` and its weights, in eval mode on CPU.

    ``builder`` (``fn(kind, arch, input_shape, n_classes, **options)``) overrides
    :func:`metanas.nn.build_model`, e.g. for a custom model kind.
    """
    manifest = read_manifest(out_dir)
    if builder is None:
        from metanas.nn import build_model as builder

    def build(arch: Mapping[str, Any]) -> nn.Module:
        return builder(  # type: ignore[no-any-return]
            manifest["kind"],
            arch,
            tuple(manifest["input_shape"]),
            int(manifest["n_classes"]),
            **manifest.get("model_options", {}),
        )

    members = manifest.get("ensemble_archs")
    model = Ensemble([build(a) for a in members]) if members else build(manifest["arch"])
    state = load_weights(Path(out_dir) / manifest["files"]["weights"])
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # torch lists every mismatched tensor over many lines
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise UserInputError(
            f"the weights in {out_dir} do not fit the network arch.json describes ({first}); "
            "arch.json or the weights were changed or mixed up: re-export the model."
        ) from None
    if manifest.get("test_time_augmentation"):
        model = TestTimeAugmented(model)
    return model.eval()


def _check_rebuilds(
    net: nn.Module,
    space: Any,
    arch: Mapping[str, Any],
    member_archs: Sequence[Mapping[str, Any]] | None,
    input_shape: tuple[int, ...],
    n_classes: int,
    model_options: Mapping[str, Any] | None,
) -> None:
    """Refuse weights that the network :func:`load_model` rebuilds could not take: the model
    must be the one built from ``arch`` (each member from its own), with ``model_options``."""
    from metanas.nn import build_model
    from metanas.nn.registry import builder_kinds

    kind = getattr(space, "kind", None)
    if kind not in builder_kinds():
        return  # a custom builder: load_model(builder=...) is the user's to match
    members = list(net.members) if isinstance(net, Ensemble) else [net]
    for m, a in zip(members, member_archs or [arch], strict=True):
        built = build_model(kind, a, input_shape, n_classes, **dict(model_options or {}))
        want = {k: tuple(v.shape) for k, v in built.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        if want != have:
            diff = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
            raise UserInputError(
                f"the model's weights do not fit the network of {space.describe(a)} (first "
                f"difference: {diff[0]}); export the model built from this architecture and "
                "these model_options."
            )


def _network(model: nn.Module) -> nn.Module:
    return model.model if isinstance(model, TestTimeAugmented) else model


__all__ = [
    "FORMATS",
    "encode_texts",
    "export_model",
    "load_model",
    "load_weights",
    "read_manifest",
    "save_weights",
]
