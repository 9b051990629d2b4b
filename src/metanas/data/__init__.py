"""Offline data sets and user data as in-memory tensors."""
