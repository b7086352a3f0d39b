"""An index's vectors.bin read with numpy, for the benches that hand our
vectors to another library (hnswlib)."""

import os
import struct
import sys

import numpy as np


def vectors_map(index_dir):
    """The index's vectors as a read-only (count, dim) memory map of their
    stored dtype (f32 or f16); int8 vectors (a scale, then a byte per value,
    per row) come back widened to an f32 array."""
    path = os.path.join(index_dir, "vectors.bin")
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:8] != b"HYPVEC\x00\x01":
        sys.exit(f"{path}: not a vectors file")
    dtype_code, = struct.unpack_from("<I", head, 8)
    count, dim = struct.unpack_from("<QQ", head, 16)
    if dtype_code == 3:
        rows = np.memmap(path, dtype=np.uint8, mode="r", offset=64, shape=(count, 4 + dim))
        scales = np.ascontiguousarray(rows[:, :4]).view("<f4")
        return rows[:, 4:].view(np.int8).astype(np.float32) * scales
    dt = {0: np.float32, 1: np.float16}.get(dtype_code)
    if dt is None:
        sys.exit(f"{path}: dtype code {dtype_code} is not f32, f16 or int8")
    return np.memmap(path, dtype=dt, mode="r", offset=64, shape=(count, dim))


def load_vectors(index_dir):
    """The index's vectors as an f32 array in memory."""
    return np.ascontiguousarray(vectors_map(index_dir), dtype=np.float32)
