"""Every builder's model is TorchScript-scriptable, traceable and ONNX-exportable (checked with onnxruntime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from metanas.nn import build_model
from test_nn import CASES, case_id, make_input

# torch marks jit.script / jit.trace deprecated; they are still what users export with
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# one case per builder (and per recurrent cell), small enough to export in well under a second
EXPORT_CASES = [CASES[i] for i in (0, 2, 4, 7, 9, 10, 11, 12, 13)]


def eval_model(case: Any) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    kind, arch, shape, options = case
    torch.manual_seed(0)
    model = build_model(kind, arch, shape, 3, **options).eval()
    x = make_input(kind, shape, batch=2)
    with torch.no_grad():
        return model, x, model(x)


@pytest.mark.parametrize("case", EXPORT_CASES, ids=[case_id(c) for c in EXPORT_CASES])
def test_torchscript_script_matches_eager(case: Any) -> None:
    model, x, ref = eval_model(case)
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), ref, atol=1e-5, rtol=1e-4)


# script covers every builder; trace (as metanas.export uses it: grad on, with its sanity check)
# is checked on a convolutional, a recurrent and the attention model
TRACE_CASES = [CASES[0], CASES[12], CASES[13]]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", TRACE_CASES, ids=[case_id(c) for c in TRACE_CASES])
def test_torchscript_trace_matches_eager(case: Any) -> None:
    model, x, ref = eval_model(case)
    traced = torch.jit.trace(model, x)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), ref, atol=1e-5, rtol=1e-4)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", EXPORT_CASES, ids=[case_id(c) for c in EXPORT_CASES])
def test_onnx_export_runs_in_onnxruntime(case: Any, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model, x, ref = eval_model(case)
    path = tmp_path / "model.onnx"
    # dynamo=False: the TorchScript-based exporter is quick and needs no onnxscript
    torch.onnx.export(
        model,
        (x,),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4, rtol=1e-3)
    # a different batch size works through the dynamic axis
    x3 = torch.cat([x, x[:1]])
    (out3,) = session.run(None, {"x": x3.numpy()})
    assert out3.shape == (3, 3)
