"""Reads and writes the weight files exchanged with quadjoint's benchmark.

The format (written by bench/_peer_weights.ts, read back here, and written by
this module for gradients going the other way):

    bytes 0..3   little-endian uint32 N: length of the JSON header in bytes
    bytes 4..4+N UTF-8 JSON: {"format": "quadjoint.weights/1",
                              "tensors": [{"name", "shape", "offset", "count"}]}
                 (padded with spaces so the data starts at a multiple of 8)
    then         float32 little-endian values; a tensor's values start
                 `offset` bytes after the end of the header, row-major.
"""

import json
import struct

import numpy as np
import torch

FORMAT = "quadjoint.weights/1"


def read_weights(path):
    """Returns {name: float32 torch tensor} from a weight file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<I", raw, 0)
    header = json.loads(raw[4 : 4 + n].decode("utf-8"))
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a weight file (format {header.get('format')!r}, expected {FORMAT!r})")
    start = 4 + n
    out = {}
    for t in header["tensors"]:
        # np.frombuffer reads the bytes in place; copy so the tensor owns its memory.
        values = np.frombuffer(raw, dtype="<f4", count=t["count"], offset=start + t["offset"])
        out[t["name"]] = torch.from_numpy(values.astype(np.float32).reshape(t["shape"]))
    return out


def write_weights(path, tensors):
    """Writes {name: tensor} (any float dtype, converted to float32) in the same format."""
    entries, blobs, offset = [], [], 0
    for name, value in tensors.items():
        array = value.detach().cpu().contiguous().numpy().astype("<f4")
        entries.append({"name": name, "shape": list(array.shape), "offset": offset, "count": int(array.size)})
        blobs.append(array.tobytes())
        offset += array.nbytes
    header = json.dumps({"format": FORMAT, "tensors": entries}).encode("utf-8")
    # Pad with spaces (still valid JSON) so the float data starts 8-byte aligned.
    header += b" " * ((-(4 + len(header))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<I", len(header)))
        f.write(header)
        for blob in blobs:
            f.write(blob)
