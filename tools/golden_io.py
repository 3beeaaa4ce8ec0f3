"""Shared by the fixture scripts in tools/: the random-weight rule of tests/golden/README.md and a safetensors
writer (every torch tensor as F32; NumPy uint8 arrays as U8, other arrays as F32; header padded to 8 bytes) and
the reader of what it writes."""
import json
import struct

import numpy as np
import torch


def randomise(model, special=None):
    """>=2-D parameters N(0,1)/sqrt(fan_in); 1-D biases 0.1 N(0,1); other 1-D parameters 1 + 0.1 N(0,1).
    `special(name, p)` may fill a parameter itself and return True (e.g. CLIP's class_embedding)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if special and special(name, p):
                continue
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape) / (p[0].numel() ** 0.5))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            else:
                p.copy_(1 + 0.1 * torch.randn(p.shape))


def write(path, tensors, meta):
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        if isinstance(t, np.ndarray):
            dtype, data = ("U8", t.astype(np.uint8)) if t.dtype == np.uint8 else ("F32", t.astype(np.float32))
            shape, data = list(t.shape), np.ascontiguousarray(data).tobytes()
        else:
            dtype, shape, data = "F32", list(t.shape), t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read(path):
    """A file as write() makes it: ({name: torch tensor (F32 as float32, U8 as uint8)}, metadata dict)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "U8": np.uint8}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, not one of {sorted(dtypes)}")
        a, b = info["data_offsets"]
        data = np.frombuffer(blob[a:b], dtype=dtypes[info["dtype"]]).copy()
        tensors[name] = torch.from_numpy(data).reshape(info["shape"])
    return tensors, meta
