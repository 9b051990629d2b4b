"""Read single image files into ``(C, H, W)`` float32 in [0, 1], and resize a list of them.

Netpbm (.pgm/.ppm/.pbm) and .npy are read here; other formats use Pillow when installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metanas.types import UserInputError

NETPBM_SUFFIXES = {".pgm", ".ppm", ".pbm", ".pnm"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
IMAGE_SUFFIXES = NETPBM_SUFFIXES | PIL_SUFFIXES | {".npy"}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L" mode


def _netpbm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    need = 3 if data[:2] in (b"P1", b"P4") else 4  # magic, width, height (, maxval)
    while len(tokens) < need:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":  # comment to end of line
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise UserInputError(f"{path} has a truncated Netpbm header; re-save the image.")
        tokens.append(data[start:pos])
    magic = tokens[0].decode("ascii", "replace")
    try:
        w, h = int(tokens[1]), int(tokens[2])
        maxval = int(tokens[3]) if need == 4 else 1
    except ValueError:
        raise UserInputError(f"{path} has a malformed Netpbm header; re-save the image.") from None
    ch = 3 if magic in ("P3", "P6") else 1
    count = w * h * ch
    if magic in ("P2", "P3", "P1"):
        body = data[pos:].split()
        if magic == "P1":  # plain bitmap digits may be written without spaces
            body = [bytes([c]) for c in b"".join(body)]
        values = np.array([int(v) for v in body[:count]], dtype=np.float32)
    elif magic in ("P5", "P6"):
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        if len(data) - pos - 1 < count * dtype.itemsize:
            raise UserInputError(f"{path} is truncated; re-save the image.")
        values = np.frombuffer(data, dtype=dtype, count=count, offset=pos + 1).astype(np.float32)
    elif magic == "P4":
        if len(data) - pos - 1 < h * ((w + 7) // 8):
            raise UserInputError(f"{path} is truncated; re-save the image.")
        rows = np.frombuffer(data, np.uint8, count=h * ((w + 7) // 8), offset=pos + 1)
        values = np.unpackbits(rows.reshape(h, -1), axis=1)[:, :w].astype(np.float32).ravel()
    else:
        raise UserInputError(f"{path} is not a Netpbm image (magic {magic!r}).")
    if values.size != count:
        raise UserInputError(f"{path} is truncated; re-save the image.")
    if magic in ("P1", "P4"):  # 1 = black in bitmaps
        return (1.0 - values).reshape(1, h, w)
    return (values / maxval).reshape(h, w, ch).transpose(2, 0, 1)


def _npy(path: Path) -> np.ndarray:
    a = np.load(path, allow_pickle=False)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3, 4):
        a = a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
    if a.ndim != 3 or a.shape[0] not in (1, 3, 4):
        raise UserInputError(f"{path} holds shape {a.shape}; save (H, W), (H, W, C) or (C, H, W).")
    if a.dtype in (np.uint8, np.uint16):
        return a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max)
    if a.dtype.kind in "ui":  # np.save of plain integers gives int64: scale by the values' range
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise UserInputError(
                f"{path} holds {a.dtype} pixels from {lo} to {hi}; save 0-255 or 0-65535 "
                "integers, or floats in [0, 1]."
            )
        return a.astype(np.float32) / np.float32(255 if hi <= 255 else 65535)
    if a.dtype.kind == "b":
        return a.astype(np.float32)
    if a.dtype.kind == "f":  # floats are taken as already in [0, 1]
        flo, fhi = (float(np.nanmin(a)), float(np.nanmax(a))) if a.size else (0.0, 0.0)
        if flo < -1e-6 or fhi > 1 + 1e-6:  # 0-255 as floats would be cut to [0, 1] on resizing
            raise UserInputError(
                f"{path} holds float pixels from {flo:g} to {fhi:g}; save floats in [0, 1] (e.g. "
                "pixels / 255) or integers 0-255."
            )
        return a.astype(np.float32)
    raise UserInputError(f"{path} holds dtype {a.dtype}; save numeric pixels.")


def _pillow(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise UserInputError(
            f"reading {path.suffix} images needs Pillow: pip install pillow "
            "(or convert them to .npy / .pgm / .ppm)."
        ) from None
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode in ("L", "1"):
            return np.asarray(im.convert("L"), dtype=np.float32)[None] / np.float32(255.0)
        if mode == "I" or mode.startswith("I;16"):  # 16-bit grey
            return np.asarray(im, dtype=np.float32)[None] / np.float32(65535.0)
        if mode == "F":  # float pixels are taken as already in [0, 1]
            return np.asarray(im, dtype=np.float32)[None]
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    return rgb.transpose(2, 0, 1) / np.float32(255.0)


def read_image(path: str | Path) -> np.ndarray:
    """One image as ``(C, H, W)`` float32 in [0, 1]; C is 1, 3 or 4."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in NETPBM_SUFFIXES:
            return _netpbm(path)
        if suffix == ".npy":
            return _npy(path)
        if suffix in PIL_SUFFIXES:
            return _pillow(path)
    except UserInputError:
        raise
    except Exception as e:  # a corrupt file: name it rather than fail deep inside a decoder
        raise UserInputError(f"cannot read image {path} ({e}); fix or remove the file.") from e
    raise UserInputError(f"{path} has unsupported type {suffix}; use {sorted(IMAGE_SUFFIXES)}.")


def _to_channels(im: np.ndarray, channels: int) -> np.ndarray:
    im = im[:3]  # drop alpha
    if im.shape[0] == channels:
        return im
    if channels == 3:
        return np.repeat(im, 3, axis=0)
    return np.tensordot(_LUMA, im, axes=1)[None]


def resize_stack(images: list[np.ndarray], size: tuple[int, int], channels: int) -> np.ndarray:
    """``(N, channels, *size)`` float32: each image converted and resized (bilinear, antialiased)."""
    import torch
    import torch.nn.functional as F

    out = np.empty((len(images), channels, *size), dtype=np.float32)
    for i, im in enumerate(images):
        im = _to_channels(im, channels)
        if im.shape[1:] == tuple(size):
            out[i] = im
            continue
        t = torch.from_numpy(np.ascontiguousarray(im))[None]
        r = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
        out[i] = r[0].clamp_(0.0, 1.0).numpy()
    return out
