"""Writing golden fixtures (tests/golden/README.md, "File convention"): F32 tensors and string metadata as safetensors.
Shared by the fixture scripts in tools/, which import it from beside themselves."""
import json
import struct

import torch


def write(path, tensors, meta):
    """tensors: {name: torch tensor} in file order; meta: {key: string}."""
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
