# mypy: disable-error-code="union-attr,operator,arg-type"
# (mypy sees ModuleList items as bare Modules; TorchScript forbids "type:" comments in forward)
"""Text classifier over token ids ``(T,)``: embedding, recurrent or attention layers, masked mean pool.

``cell`` "rnn" / "gru" / "lstm" stacks ``layers`` recurrent layers of ``num_units`` (batch first);
"attention" projects the embedding to ``num_units``, adds a learned positional embedding, and
stacks ``layers`` ``nn.TransformerEncoderLayer`` blocks that ignore padding. Token id 0 is padding
(sequences are right-padded); the mean over non-pad positions (``pool="mean"``), their max
(``"max"``) or both concatenated (``"meanmax"``) feeds a linear layer. ``n_classes=1`` gives one
logit per sequence, shape ``(B, 1)``, for a sigmoid / BCE loss. ``embed_dropout`` drops embedding
features while training, the usual regulariser of small-data text models.

Small-data options (fastText-style, no pretrained vectors needed): ``ngrams=n`` adds, at every
position, hashed embeddings of the word 2..n-grams ending there (ids hashed into ``ngram_buckets``
rows, computed from the token ids inside the model, so exports need nothing else); ``bag=True``
also concatenates the mean of those input embeddings to the pooled encoder features (a linear
bag-of-n-grams path beside the encoder). On Rotten Tomatoes (GRU(64), 3 epochs) ``bag`` helped a
little while hashed bi/trigrams overfit (validation 0.791 / 0.782 / 0.741 for bag, ngrams=2,
ngrams=3 + bag, against 0.787 without): n-grams are for larger corpora.

Example:
    >>> import torch
    >>> net = build_text({"cell": "gru", "num_units": 32, "layers": 1}, (12,), 2, vocab_size=100)
    >>> tuple(net(torch.randint(1, 100, (3, 12))).shape)
    (3, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from metanas.nn._common import check_shape, get_choice, get_int
from metanas.nn.registry import register_builder
from metanas.space.models import TEXT_CELLS
from metanas.types import UserInputError

TEXT_POOLS = ("mean", "max", "meanmax")
PAD_ID = 0

# odd multipliers of the n-gram hash (ids < 2**21 keep the trigram product below 2**63)
_HASH = (1000003, 999983)

_RNN: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentEncoder(nn.Module):
    def __init__(self, cell: str, embed_dim: int, units: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.out_dim = units
        self.rnn = _RNN[cell](
            embed_dim,
            units,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]  # (B, T, units); right padding leaves valid steps untouched


class AttentionEncoder(nn.Module):
    """Post-norm self-attention blocks (``nn.TransformerEncoderLayer`` with ReLU) over padded tokens.

    The blocks are ``nn.TransformerEncoderLayer`` modules (same parameters and state dict), but their
    math is run here: the layer's own forward switches to a fused kernel in inference without
    grad, so a trace taken with grad enabled differs from its check and ``torch.jit.trace`` fails.
    """

    def __init__(
        self, embed_dim: int, units: int, layers: int, heads: int, dropout: float, max_len: int
    ) -> None:
        super().__init__()
        self.out_dim = units
        self.heads = heads
        self.dropout = dropout
        self.proj = nn.Linear(embed_dim, units)
        self.pos = nn.Parameter(torch.zeros(1, max_len, units))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                units, heads, dim_feedforward=2 * units, dropout=dropout, batch_first=True
            )
            for _ in range(layers)
        )

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, t = pad.shape
        h = self.proj(x) + self.pos[:, :t]  # (B, T, U)
        u = h.shape[2]
        # a row of padding only would make every attention weight NaN: let it attend to itself
        keep = ~(pad & ~pad.all(dim=1, keepdim=True))
        mask = keep[:, None, None, :]  # (B, 1, 1, T): True = may be attended to
        p = self.dropout if self.training else 0.0
        for block in self.blocks:
            attn = block.self_attn
            w, bias = attn.in_proj_weight, attn.in_proj_bias
            qkv = nn.functional.linear(h, w, bias)  # (B, T, 3U)
            qkv = qkv.view(b, t, 3, self.heads, u // self.heads).permute(2, 0, 3, 1, 4)
            a = nn.functional.scaled_dot_product_attention(
                qkv[0], qkv[1], qkv[2], attn_mask=mask, dropout_p=p
            )  # (B, heads, T, U / heads)
            a = attn.out_proj(a.transpose(1, 2).reshape(b, t, u))
            h = block.norm1(h + block.dropout1(a))
            ff = block.linear2(block.dropout(torch.relu(block.linear1(h))))
            h = block.norm2(h + block.dropout2(ff))
        return h


class TextClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        encoder: nn.Module,
        units: int,
        n_classes: int,
        pool: str = "mean",
        embed_dropout: float = 0.0,
        embed_std: float = 1.0,
        ngrams: int = 1,
        ngram_buckets: int = 2**16,
        bag: bool = False,
    ) -> None:
        super().__init__()
        self.pad_id = PAD_ID  # an attribute: TorchScript cannot read module globals
        self.pool = pool
        self.ngrams = ngrams
        self.buckets = ngram_buckets
        self.bag = bag
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self._init_table(self.embedding, embed_std)
        self.ngram_embedding: nn.Embedding | None = None
        if ngrams > 1:  # created only when used: the default model keeps its random stream
            self.ngram_embedding = nn.Embedding(ngram_buckets, embed_dim, padding_idx=PAD_ID)
            self._init_table(self.ngram_embedding, embed_std)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.encoder = encoder
        width = 2 * units if pool == "meanmax" else units
        self.classifier = nn.Linear(width + (embed_dim if bag else 0), n_classes)

    @staticmethod
    def _init_table(table: nn.Embedding, std: float) -> None:
        if std != 1.0:  # 1.0 is nn.Embedding's own N(0, 1); keep its random stream then
            with torch.no_grad():
                table.weight.normal_(0.0, std)
                table.weight[PAD_ID].zero_()

    def ngram_ids(self, tokens: torch.Tensor, n: int) -> torch.Tensor:
        """``(B, T)`` bucket ids of the ``n``-grams ending at each position (0 where incomplete)."""
        t = tokens.shape[1]
        h = tokens
        valid = tokens != self.pad_id
        for k in range(1, n):
            shifted = torch.cat([torch.zeros_like(tokens[:, :k]), tokens], dim=1)
            prev = shifted[:, :t]  # the token k places back (0 before the start)
            h = h * (1000003 if k == 1 else 999983) + prev
            valid = valid & (prev != self.pad_id)
        ids = torch.remainder(h, self.buckets - 1) + 1  # row 0 stays the zero padding row
        return torch.where(valid, ids, torch.zeros_like(ids))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, embed_dim)``: word vectors plus those of the hashed n-grams ending there."""
        x = self.embedding(tokens)
        table = self.ngram_embedding
        if table is not None:
            for n in range(2, self.ngrams + 1):
                x = x + table(self.ngram_ids(tokens, n))
        return x

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == self.pad_id  # (B, T)
        x = self.embed_dropout(self.embed(tokens))  # (B, T, embed_dim)
        h = self.encoder(x, pad)  # (B, T, units)
        keep = (~pad).unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        count = keep.sum(dim=1).clamp(min=1.0)  # (B, 1)
        mean = (h * keep).sum(dim=1) / count  # (B, units)
        if self.pool == "mean":
            feats = mean
        else:
            # padding never wins the max; a row of padding only pools to zeros
            masked = h.masked_fill(pad.unsqueeze(-1), float("-inf")).amax(dim=1)
            peak = torch.where(torch.isfinite(masked), masked, torch.zeros_like(masked))
            feats = peak if self.pool == "max" else torch.cat([mean, peak], dim=1)
        if self.bag:  # fastText's average of word and n-gram vectors, beside the encoder
            feats = torch.cat([feats, (x * keep).sum(dim=1) / count], dim=1)
        return self.classifier(feats)  # (B, n_classes)


@register_builder("rnn_text")
def build_text(
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    vocab_size: int | None = None,
    embed_dim: int = 64,
    heads: int | None = None,
    dropout: float = 0.0,
    max_len: int | None = None,
    pool: str = "mean",
    embed_dropout: float = 0.0,
    embed_std: float = 1.0,
    ngrams: int = 1,
    ngram_buckets: int = 2**16,
    bag: bool = False,
) -> TextClassifier:
    """Text classifier for token ids of length ``input_shape[0]`` (``max_len`` for longer ones).

    ``pool``: "mean", "max" or "meanmax" over non-pad positions; ``embed_dropout``: dropout
    probability on the embeddings while training; ``embed_std``: standard deviation of the
    embeddings' normal initialisation (PyTorch's 1.0; a small one such as 0.05, near Keras's
    uniform(-0.05, 0.05), lets Adam at lr 1e-3 move rare words' vectors much faster);
    ``ngrams`` (1-3): add hashed embeddings of word 2..n-grams (``ngram_buckets`` rows);
    ``bag``: also feed the mean input embedding to the classifier (see the module docstring).
    """
    check_shape(input_shape, 1, "(sequence length,)", "rnn_text")
    if vocab_size is None or vocab_size < 2:
        raise UserInputError(
            f"rnn_text models need vocab_size >= 2 (ids 0..vocab_size-1, 0 = padding), got {vocab_size}."
        )
    if pool not in TEXT_POOLS:
        raise UserInputError(
            f"unknown pool {pool!r} for rnn_text; use one of {', '.join(TEXT_POOLS)}."
        )
    if not 0.0 <= embed_dropout < 1.0:
        raise UserInputError(f"embed_dropout must be in [0, 1), got {embed_dropout}.")
    if not embed_std > 0:
        raise UserInputError(f"embed_std must be positive, got {embed_std}; use e.g. 0.05.")
    if ngrams not in (1, 2, 3):
        raise UserInputError(f"ngrams must be 1, 2 or 3, got {ngrams!r}.")
    if ngrams > 1 and ngram_buckets < 2:
        raise UserInputError(f"ngram_buckets must be at least 2, got {ngram_buckets}.")
    if vocab_size >= 2**21:  # the trigram hash of larger ids could overflow int64
        raise UserInputError(f"rnn_text supports vocab_size < 2**21, got {vocab_size}.")
    cell = get_choice(arch, "cell", TEXT_CELLS, "rnn_text")
    units = get_int(arch, "num_units", "rnn_text")
    layers = get_int(arch, "layers", "rnn_text")
    encoder: nn.Module
    if cell == "attention":
        if heads is None:  # the most heads up to 4 that divide num_units
            heads = next(h for h in (4, 2, 1) if units % h == 0)
        if heads < 1 or units % heads:
            raise UserInputError(
                f"num_units={units} is not divisible by heads={heads}; pick heads dividing it."
            )
        length = max(max_len or 0, input_shape[0])
        encoder = AttentionEncoder(embed_dim, units, layers, heads, dropout, length)
    else:
        encoder = RecurrentEncoder(cell, embed_dim, units, layers, dropout)
    return TextClassifier(
        vocab_size, embed_dim, encoder, units, n_classes, pool, embed_dropout, embed_std,
        ngrams, ngram_buckets, bool(bag),
    )  # fmt: skip
