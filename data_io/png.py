"""PNG files without an imaging library: a writer, a reader of common 8-bit PNGs, and contact sheets.

Written: 8-bit grey (H, W), grey + alpha (H, W, 2), RGB (H, W, 3) or RGBA (H, W, 4), non-interlaced, filter 0.
Read: the same four colour types at 8 bits per channel, non-interlaced, all five scanline filters.
Not read (a ``DataError`` says so): palette images, 1/2/4/16-bit depths, interlaced (Adam7) files, and
images over ``TF3DGAN_MAX_IMAGE_PIXELS`` (default 4096^2; see ``data_io.limits``), refused from the header
before any image data is decompressed.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import DataError
from .limits import refuse_if_too_large

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_CHANNELS = {v: k for k, v in _COLOUR_TYPES.items()}
_SUPPORTED = "8-bit grey, grey+alpha, RGB or RGBA, non-interlaced"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image) -> bytes:
    """The bytes of a PNG holding ``image``: uint8 (H, W) grey or (H, W, C) with C in 2, 3, 4 (bool: 0/255)."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        raise DataError(f"PNG: expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in _COLOUR_TYPES or min(image.shape[:2]) < 1:
        raise DataError(f"PNG: expected an image (H, W) or (H, W, 2|3|4), got shape {image.shape}")
    height, width, channels = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * channels)], axis=1)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def write_png(path, image) -> Path:
    """Write ``image`` (see ``encode_png``) to ``path`` atomically; returns the path."""
    from .atomic import atomic_write_bytes

    data = encode_png(image)
    return atomic_write_bytes(path, lambda f: f.write(data))


def _unfilter(raw: bytes, height: int, width: int, channels: int, name: str) -> np.ndarray:
    """Undo the per-scanline filters (None, Sub, Up, Average, Paeth) of 8-bit samples."""
    stride = width * channels
    if len(raw) < height * (stride + 1):
        raise DataError(f"{name}: truncated PNG (image data ends early)")
    data = np.frombuffer(raw, dtype=np.uint8, count=height * (stride + 1)).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    bpp = channels
    for y in range(height):
        kind, line = data[y, 0], data[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: a running sum per channel, modulo 256
            row = (np.cumsum(line.reshape(width, channels), axis=0, dtype=np.int64) % 256).astype(np.uint8)
            row = row.reshape(stride)
        elif kind == 2:  # Up
            row = line + prior  # uint8 arithmetic wraps modulo 256
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one decoded to its left
            cur = bytearray(line.tobytes())
            up = prior.tobytes()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                if kind == 3:
                    cur[i] = (cur[i] + ((left + up[i]) >> 1)) & 0xFF
                else:
                    upleft = up[i - bpp] if i >= bpp else 0
                    p = left + up[i] - upleft
                    pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upleft)
                    pred = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else upleft)
                    cur[i] = (cur[i] + pred) & 0xFF
            row = np.frombuffer(bytes(cur), dtype=np.uint8)
        else:
            raise DataError(f"{name}: corrupt PNG (unknown scanline filter {kind} in row {y})")
        out[y] = row
        prior = out[y]
    return out.reshape(height, width, channels)


def decode_png(data: bytes, name: str = "PNG") -> np.ndarray:
    """Decode PNG bytes to uint8 (H, W) grey, (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA."""
    if not data.startswith(SIGNATURE):
        if SIGNATURE.startswith(data):
            raise DataError(f"{name}: truncated PNG (the file ends inside its signature)")
        raise DataError(f"{name}: not a PNG file (no PNG signature)")
    pos, header, idat, ended = len(SIGNATURE), None, [], False
    while pos < len(data):
        if pos + 8 > len(data):
            raise DataError(f"{name}: truncated PNG (the file ends inside a chunk header)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) < length or len(crc) < 4:
            raise DataError(f"{name}: truncated PNG (the file ends inside a {kind.decode('latin-1')} chunk)")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise DataError(f"{name}: corrupt PNG (CRC mismatch in a {kind.decode('latin-1')} chunk)")
        pos += 12 + length
        if kind == b"IHDR":
            if length != 13:
                raise DataError(f"{name}: corrupt PNG (IHDR of {length} bytes)")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
    if header is None:
        raise DataError(f"{name}: truncated PNG (no IHDR chunk)")
    width, height, depth, colour, _, _, interlace = header
    if colour == 3:
        raise DataError(f"{name}: palette PNGs are not supported (supported: {_SUPPORTED})")
    if colour not in _CHANNELS:
        raise DataError(f"{name}: corrupt PNG (colour type {colour})")
    if depth != 8:
        raise DataError(f"{name}: {depth}-bit PNGs are not supported (supported: {_SUPPORTED})")
    if interlace:
        raise DataError(f"{name}: interlaced PNGs are not supported (supported: {_SUPPORTED})")
    if width < 1 or height < 1:
        raise DataError(f"{name}: corrupt PNG (size {width}x{height})")
    if not idat or not ended:
        raise DataError(f"{name}: truncated PNG (no {'IEND' if idat else 'IDAT'} chunk)")
    refuse_if_too_large(name, f"a {width}x{height} image", width * height, "pixels")
    expected = height * (width * _CHANNELS[colour] + 1)  # a filter byte and the samples per row
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(b"".join(idat), expected + 1)  # no more than the image can hold
    except zlib.error as err:
        raise DataError(f"{name}: corrupt PNG (image data: {err})") from None
    if len(raw) > expected:
        raise DataError(f"{name}: corrupt PNG (more image data than {width}x{height} pixels)")
    if not decompressor.eof:
        raise DataError(f"{name}: truncated PNG (image data ends early)")
    image = _unfilter(raw, height, width, _CHANNELS[colour], name)
    return image[:, :, 0] if image.shape[2] == 1 else image


def read_png(path) -> np.ndarray:
    """Read a PNG file (see ``decode_png``); a ``DataError`` naming the file says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return decode_png(path.read_bytes(), str(path))


def to_grey(image, background: int = 0) -> np.ndarray:
    """A uint8 (H, W) grey version of a read PNG: RGB by luma (ITU-R 601), alpha over ``background``."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.uint8)
    channels = image.shape[2]
    values = image.astype(np.float64)
    colour = values[..., :3] if channels >= 3 else values[..., :1]
    grey = colour @ np.array([0.299, 0.587, 0.114]) if channels >= 3 else colour[..., 0]
    if channels in (2, 4):
        alpha = values[..., -1] / 255.0
        grey = grey * alpha + background * (1 - alpha)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def contact_sheet(images: Sequence[np.ndarray], columns: Optional[int] = None, pad: int = 2,
                  labels: Optional[Sequence[str]] = None, background: int = 64,
                  border: Optional[int] = 96) -> np.ndarray:
    """Tile images (all the same size, grey or RGB) into one grid image, row by row.

    ``columns``: default ceil(sqrt(n)). The sheet is ``rows * (h + pad) + pad`` by ``columns * (w + pad) +
    pad`` pixels, with ``pad`` pixels of ``background`` between and around the tiles; ``border`` (a grey
    value, None for none) draws a one-pixel frame inside each tile. ``labels``: short texts drawn in a
    small built-in pixel font at each tile's top left (digits, letters, ``_-.:#/+``; others as blanks).
    """
    images = [np.asarray(i) for i in images]
    if not images:
        raise DataError("contact sheet: no images")
    images = [i.astype(np.uint8) * 255 if i.dtype == bool else i for i in images]
    colour = any(i.ndim == 3 for i in images)
    if colour:
        images = [np.repeat(i[:, :, None], 3, axis=2) if i.ndim == 2 else i[:, :, :3] for i in images]
    shapes = {i.shape for i in images}
    if len(shapes) != 1:
        raise DataError(f"contact sheet: images differ in shape ({sorted(shapes)})")
    h, w = images[0].shape[:2]
    columns = columns or math.ceil(math.sqrt(len(images)))
    if columns < 1 or pad < 0:
        raise DataError(f"contact sheet: need columns >= 1 and pad >= 0, got {columns}, {pad}")
    rows = math.ceil(len(images) / columns)
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad) + images[0].shape[2:], background,
                    dtype=np.uint8)
    for n, image in enumerate(images):
        top, left = pad + (n // columns) * (h + pad), pad + (n % columns) * (w + pad)
        tile = image.copy()
        if border is not None and h > 2 and w > 2:
            tile[[0, -1], :] = border
            tile[:, [0, -1]] = border
        if labels is not None and n < len(labels):
            _draw_text(tile, str(labels[n]), 2, 2)
        sheet[top:top + h, left:left + w] = tile
    return sheet


# A 3x5 pixel font: each glyph is five rows of three bits.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "a": "010101111101101", "b": "110101110101110",
    "c": "011100100100011", "d": "110101101101110", "e": "111100110100111", "f": "111100110100100",
    "g": "011100101101011", "h": "101101111101101", "i": "111010010010111", "j": "001001001101010",
    "k": "101101110101101", "l": "100100100100111", "m": "101111111101101", "n": "110101101101101",
    "o": "010101101101010", "p": "110101110100100", "q": "010101101110011", "r": "110101110101101",
    "s": "011100010001110", "t": "111010010010010", "u": "101101101101111", "v": "101101101101010",
    "w": "101101111111101", "x": "101101010101101", "y": "101101010010010", "z": "111001010100111",
    "_": "000000000000111", "-": "000000111000000", ".": "000000000000010", ":": "000010000010000",
    "#": "101111101111101", "/": "001001010100100", "+": "000010111010000", " ": "000000000000000",
}


def _draw_text(tile: np.ndarray, text: str, top: int, left: int) -> None:
    """Draw ``text`` in white on a dark box, clipped to the tile."""
    h, w = tile.shape[:2]
    width = 4 * len(text) + 1
    if top + 6 > h or left + 4 > w:
        return
    tile[top - 1:top + 6, left - 1:min(left + width, w)] = 0
    for n, char in enumerate(text.lower()):
        bits = np.array([int(b) for b in _FONT.get(char, _FONT[" "])], dtype=bool).reshape(5, 3)
        x = left + 4 * n
        if x + 3 > w:
            break
        tile[top:top + 5, x:x + 3][bits] = 255
