"""Test-time augmentation: average a classifier's predictions over flipped and shifted views.

A network trained with flip/shift augmentation (``augment: true``) has learnt those views as the
same class; averaging its probabilities over them removes some of the single view's noise.
:class:`TestTimeAugmented` wraps the model so that what is tested is what is exported.

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


class TestTimeAugmented(nn.Module):
    """``model`` scored on six views of each image (see :data:`VIEWS`); image batches only.

    Returns the log of the mean class probability, so the outputs act as logits (softmax gives
    back the mean probability, argmax the averaged prediction). One-logit (sigmoid) models get
    the logit of their mean probability.
    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x, x.flip(3)] + [
            _shift(x, dy, dx) for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1))
        ]
        logits = [self.model(v) for v in views]
        if logits[0].shape[1] == 1:
            p = torch.stack([torch.sigmoid(z) for z in logits]).mean(0).clamp(1e-7, 1 - 1e-7)
            return torch.log(p) - torch.log1p(-p)
        p = torch.stack([torch.softmax(z, dim=1) for z in logits]).mean(0)
        return torch.log(p.clamp_min(1e-12))


__all__ = ["VIEWS", "TestTimeAugmented"]
