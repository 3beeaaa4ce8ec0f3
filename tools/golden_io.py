"""Shared by the fixture scripts in tools/: the random-weight rule of tests/golden/README.md and a safetensors
writer (every torch tensor as F32; NumPy uint8 arrays as U8, other arrays as F32; header padded to 8 bytes)."""
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
