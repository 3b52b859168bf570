"""The IDX file format: read any IDX file into a NumPy array, and write one.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then the elements in C order, big-endian.
Files may be gzip-compressed; compression is recognised from the content, not
the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._atomic import atomic_output
from .._checks import PathLike
from .errors import DatasetError

__all__ = ["IDX_DTYPES", "load_idx", "save_idx", "idx_bytes"]

#: IDX type code -> element type as stored (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES: dict[np.dtype, int] = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20


def load_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array.

    The array's shape is the header's dimensions and its dtype the header's
    type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64. The array is writable and holds its own copy of the data.

    Raises :class:`DatasetError` naming the file when the magic number is wrong,
    the data is shorter or longer than the header says, or the gzip stream is
    corrupt or truncated; ``FileNotFoundError`` and other ``OSError`` when the
    file cannot be opened.
    """
    array, _ = read_idx(path)
    return array


def read_idx(path: PathLike, *, sha256: bool = False) -> tuple[np.ndarray, str | None]:
    """Like :func:`load_idx`, and also the SHA256 hex digest of the uncompressed
    IDX bytes (header included) when ``sha256`` is true, else ``None``."""
    path = _checked_path(path, "path")
    hasher = hashlib.sha256() if sha256 else None
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        try:
            array = _parse(stream, path, hasher)
        except EOFError as error:
            raise DatasetError(path, f"truncated gzip stream ({error})") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise DatasetError(path, f"corrupt gzip stream ({error})") from None
    return array, (hasher.hexdigest() if hasher else None)


def _parse(stream: BinaryIO, path: Path, hasher) -> np.ndarray:
    magic = _read_up_to(stream, 4, hasher)
    if len(magic) < 4:
        raise DatasetError(path, "empty file, expected an IDX header" if not magic
                           else f"truncated IDX header: {len(magic)} bytes, the magic number alone is 4")
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(path, f"not an IDX file: magic bytes {magic.hex(' ')}, "
                                 "expected 00 00 <type code> <number of dimensions>")
    type_code, ndim = magic[2], magic[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X} {dtype.name}" for code, dtype in IDX_DTYPES.items())
        raise DatasetError(path, f"unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(path, "IDX header declares 0 dimensions, expected at least 1")

    dims_bytes = _read_up_to(stream, 4 * ndim, hasher)
    if len(dims_bytes) < 4 * ndim:
        raise DatasetError(path, f"truncated IDX header: {ndim} dimensions declared "
                                 f"but only {len(dims_bytes)} of their {4 * ndim} bytes present")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize

    # Read in bounded chunks rather than allocating what the header claims, so a
    # corrupt header promising terabytes fails as "truncated", not MemoryError.
    payload = bytearray()
    while len(payload) < expected:
        chunk = stream.read(min(_CHUNK_BYTES, expected - len(payload)))
        if not chunk:
            raise DatasetError(path, f"truncated: header says shape {shape} of {dtype.name}, "
                                     f"{expected:,} data bytes, but only {len(payload):,} follow")
        payload += chunk
        if hasher is not None:
            hasher.update(chunk)
    surplus = _count_remaining(stream)
    if surplus:
        raise DatasetError(path, f"{surplus:,} bytes more than the header's shape {shape} "
                                 f"of {dtype.name} ({expected:,} data bytes) accounts for")

    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array


def _read_up_to(stream: BinaryIO, size: int, hasher) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    if hasher is not None:
        hasher.update(data)
    return data


def _count_remaining(stream: BinaryIO) -> int:
    # Reading to the end also makes gzip verify its CRC and length trailer.
    surplus = 0
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk:
            return surplus
        surplus += len(chunk)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise ``array`` to uncompressed IDX bytes (header, then big-endian
    data in C order). Its dtype must be one IDX can hold: uint8, int8, int16,
    int32, float32 or float64."""
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"array: IDX holds uint8, int8, int16, int32, float32 or float64, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array: IDX holds 1 to 255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"array: IDX dimension sizes must be below 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = np.ascontiguousarray(array, dtype=IDX_DTYPES[code])
    return header + big_endian.tobytes()


def save_idx(path: PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file at ``path``, atomically (a reader never
    sees half a file). ``compress=None`` gzips when the name ends in ``.gz``.
    Returns the path written."""
    path = _checked_path(path, "path")
    if compress is None:
        compress = path.suffix == ".gz"
    data = idx_bytes(array)
    with atomic_output(path) as output:
        if compress:
            # mtime=0 and no embedded name keep the .gz bytes reproducible.
            with gzip.GzipFile(filename="", mode="wb", fileobj=output.stream, mtime=0) as packed:
                packed.write(data)
        else:
            output.stream.write(data)
    return path


def _checked_path(path: PathLike, argument: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a file path (str or os.PathLike), got {type(path).__name__}")
    if isinstance(path, str) and not path:
        raise ValueError(f"{argument}: expected a file path, got an empty string")
    return Path(path)

