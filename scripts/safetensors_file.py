"""Writing safetensors files from the fixture scripts (8-byte little-endian header length, a JSON
header {name: {dtype, shape, data_offsets}} padded with spaces to 8 bytes, then the raw data)."""
import json
import struct

import numpy as np


def save_safetensors(path, tensors, metadata=None, f16=()):
    """`tensors`: name → torch tensor, written as little-endian float32, or float16 for the names in
    `f16` (which must then be exact in float16)."""
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for k, v in tensors.items():
        dtype, np_dtype = ("F16", "<f2") if k in f16 else ("F32", "<f4")
        a = v.detach().contiguous().numpy()
        b = a.astype(np_dtype).tobytes()
        if dtype == "F16":
            assert np.array_equal(a.astype(np_dtype).astype(np.float64), a), f"{k} must be exact in F16"
        header[k] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_safetensors(path):
    """name → float32 numpy array (F32 and F16 files, as save_safetensors writes them)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"F32": "<f4", "F16": "<f2"}[v["dtype"]]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).astype(np.float32).reshape(v["shape"])
    return out
