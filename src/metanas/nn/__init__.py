"""PyTorch builders that turn a decoded architecture into an nn.Module."""
