"""A NAS-Bench-201 supernet: every cell edge holds all five ops, weighted by shared logits.

The skeleton is :class:`~metanas.nn.nb201.NB201Network`'s (stem, three stages of ``N`` cells,
residual reductions, classifier); only the cells differ. One ``(6, 5)`` tensor of architecture
logits is shared by every cell, as in NAS-Bench-201's own DARTS and GDAS runs. Two ways to mix:

- ``"darts"`` (Liu et al. 2019): each edge outputs the softmax-weighted sum of all five ops.
- ``"gdas"`` (Dong & Yang 2019): each edge draws one op from a Gumbel-softmax at temperature
  ``tau`` and runs only that op; a straight-through one-hot carries the gradient to the logits.

Search-time batch norms have no affine parameters in the cells (the DARTS convention: a learnable
scale would let an op's weight in the mix drift without changing its output), and no batch norm
keeps running statistics (NAS-Bench-201's setting): the ops a GDAS net runs change every step, so
averaged statistics fit none of them; evaluation normalises each batch by its own.
"""

from __future__ import annotations

import torch
from torch import nn

from metanas.nn.nb201 import NB201_EDGES, NB201_OPS, make_op, nb201_skeleton

MIXES = ("darts", "gdas")


class SearchCell(nn.Module):
    """Four nodes; node i sums its mixed edges from every earlier node; the cell outputs node 3."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, c, affine=False) for op in NB201_OPS) for _ in NB201_EDGES
        )

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, chosen: list[int] | None
    ) -> torch.Tensor:
        """``weights``: ``(6, 5)`` mixing weights; ``chosen``: one op per edge (GDAS) or ``None``."""
        nodes = [x]
        for to in (1, 2, 3):
            terms: list[torch.Tensor] = []
            for e, (_, dst, src) in enumerate(NB201_EDGES):
                if dst != to:
                    continue
                ops: nn.ModuleList = self.edges[e]  # type: ignore[assignment]
                w, h = weights[e], nodes[src]
                if chosen is None:
                    terms.extend(w[k] * op(h) for k, op in enumerate(ops))
                else:  # the chosen op times its straight-through weight (1 in value)
                    terms.append(w[chosen[e]] * ops[chosen[e]](h))
            nodes.append(torch.stack(terms).sum(0) if len(terms) > 1 else terms[0])
        return nodes[3]


class NB201Supernet(nn.Module):
    """All NAS-Bench-201 cells at once; ``arch_logits`` (``(6, 5)``) are the architecture.

    ``forward`` mixes by ``mix`` in training; in eval mode a GDAS net runs each edge's most likely
    op (the architecture it would derive), a DARTS net keeps its softmax mixture.
    """

    def __init__(
        self, in_channels: int, n_classes: int, C: int = 16, N: int = 5, mix: str = "gdas"
    ) -> None:
        super().__init__()
        self.mix, self.tau = mix, 10.0
        #: warm-up: ignore the logits (DARTS: equal weights; GDAS: ops drawn uniformly)
        self.uniform = False
        #: mixing weights and chosen ops to use instead of the logits' (see ``edited``)
        self.forced: tuple[torch.Tensor, list[int] | None] | None = None
        self.arch_logits = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(NB201_OPS)))
        self.stem, layers, c_prev = nb201_skeleton(in_channels, C, N, SearchCell)
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c_prev, n_classes)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "arch_logits"]

    def _mixing(self) -> tuple[torch.Tensor, list[int] | None]:
        logits = self.arch_logits
        if self.forced is not None:
            return self.forced
        if self.uniform:
            ones = torch.ones_like(logits.detach())
            if self.mix == "darts":
                return ones / logits.shape[1], None
            return ones, torch.randint(logits.shape[1], (logits.shape[0],)).tolist()
        if self.mix == "darts":
            return torch.softmax(logits, dim=-1), None
        if not self.training:
            idx = logits.argmax(-1)
            return nn.functional.one_hot(idx, logits.shape[1]).to(logits.dtype), idx.tolist()
        # Gumbel-softmax, hard: a one-hot in value, the soft sample's gradient (redrawn when a
        # numerical corner makes the soft sample non-finite, as GDAS does)
        while True:
            gumbel = -torch.empty_like(logits).exponential_().log()
            soft = torch.softmax((logits.log_softmax(-1) + gumbel) / self.tau, dim=-1)
            if torch.isfinite(soft).all():
                break
        idx = soft.argmax(-1)
        hard = nn.functional.one_hot(idx, logits.shape[1]).to(soft.dtype)
        return hard - soft.detach() + soft, idx.tolist()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, chosen = self._mixing()
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, chosen) if isinstance(layer, SearchCell) else layer(x)
        x = self.lastact(x)
        return self.classifier(x.mean((2, 3)))

    def edited(self, edge: int, op: int) -> tuple[torch.Tensor, list[int] | None]:
        """Mixing with one edge edited. DARTS: ``op`` removed from the edge's mixture (the others
        keep their weights); GDAS: the derived cell with the edge set to ``op``."""
        p = self.probabilities()
        if self.mix == "darts":
            p[edge, op] = 0.0
            return p, None
        chosen = p.argmax(-1).tolist()
        chosen[edge] = op
        return nn.functional.one_hot(torch.tensor(chosen, device=p.device), p.shape[1]).to(
            p.dtype
        ), chosen

    def probabilities(self) -> torch.Tensor:
        """Softmax of the architecture logits, ``(6, 5)``, detached."""
        return torch.softmax(self.arch_logits.detach(), dim=-1)

    def derive(self) -> dict[str, str]:
        """The NB201 architecture of each edge's most likely op."""
        idx = self.arch_logits.detach().argmax(-1).tolist()
        return {key: NB201_OPS[i] for (key, _, _), i in zip(NB201_EDGES, idx)}
