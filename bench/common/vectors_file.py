"""An index's vectors.bin read with numpy, for the benches that hand our
vectors to another library (hnswlib)."""

import os
import struct
import sys

import numpy as np


def vectors_map(index_dir):
    """The index's vectors as a read-only (count, dim) memory map of their
    stored dtype (f32 or f16)."""
    path = os.path.join(index_dir, "vectors.bin")
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:8] != b"HYPVEC\x00\x01":
        sys.exit(f"{path}: not a vectors file")
    dtype_code, = struct.unpack_from("<I", head, 8)
    count, dim = struct.unpack_from("<QQ", head, 16)
    dt = {0: np.float32, 1: np.float16}.get(dtype_code)
    if dt is None:
        sys.exit(f"{path}: dtype code {dtype_code} is not f32 or f16")
    return np.memmap(path, dtype=dt, mode="r", offset=64, shape=(count, dim))


def load_vectors(index_dir):
    """The index's vectors as an f32 array in memory."""
    return np.ascontiguousarray(vectors_map(index_dir), dtype=np.float32)
