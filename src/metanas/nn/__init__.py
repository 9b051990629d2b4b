"""PyTorch builders that turn a decoded architecture into an nn.Module.

``build_model(kind, arch, input_shape, n_classes, **options)`` dispatches on the space kind
(nb201, nb101, macro, rnn_text, mlp, cnn1d); ``register_builder(kind)`` adds a user's own.
Importing this package does not import torch; the first build does.
"""

from metanas.nn.registry import build_model, builder_kinds, get_builder, register_builder

__all__ = ["build_model", "builder_kinds", "get_builder", "register_builder"]
