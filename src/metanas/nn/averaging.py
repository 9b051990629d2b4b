"""Classifiers that average predicted probabilities: over views of the input, or over networks.

* :class:`TestTimeAugmented`: one network on flipped and shifted views. A network trained with
  flip/shift augmentation (``augment: true``) has learnt those views as the same class; averaging
  its probabilities over them removes some of the single view's noise.
* :class:`Ensemble`: several trained networks (e.g. a search's finalists) on the same input.

Both are modules, so what is tested is what is exported (TorchScript, ONNX).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = TestTimeAugmented(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)))
    >>> net(torch.zeros(2, 1, 4, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import torch
from torch import nn

#: the views: the image, its mirror image, and the image moved by one pixel each way
VIEWS = "identity, horizontal flip, shifts by one pixel up, down, left and right"


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` (B, C, H, W) moved by ``dy`` rows and ``dx`` columns, zeros shifted in (as in training)."""
    h, w = x.shape[2], x.shape[3]
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    return padded[:, :, 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


def mean_probability_logits(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Logits of the mean predicted probability over ``outputs`` (each ``(B, K)`` logits).

    Several classes: the log of the mean softmax (softmax gives back the mean, argmax the
    averaged prediction). One logit (sigmoid): the logit of the mean probability.
    """
    if outputs[0].shape[1] == 1:
        p = torch.stack([torch.sigmoid(z) for z in outputs]).mean(0).clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)
    p = torch.stack([torch.softmax(z, dim=1) for z in outputs]).mean(0)
    return torch.log(p.clamp_min(1e-12))


class TestTimeAugmented(nn.Module):
    """``model`` scored on six views of each image (see :data:`VIEWS`); image batches only.

    Returns :func:`mean_probability_logits` over the views.
    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x, x.flip(3)] + [
            _shift(x, dy, dx) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))
        ]
        return mean_probability_logits([self.model(v) for v in views])


class Ensemble(nn.Module):
    """The mean predicted probability of ``members`` (returned as :func:`mean_probability_logits`)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mean_probability_logits([m(x) for m in self.members])


__all__ = ["VIEWS", "Ensemble", "TestTimeAugmented", "mean_probability_logits"]
