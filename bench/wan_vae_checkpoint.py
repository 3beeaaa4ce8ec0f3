#!/usr/bin/env python3
"""Writes a random-weight Wan 2.1 VAE decoder at the real widths (base_dim 96, dim_mult [1, 2, 4, 4]) as a
diffusers vae/ folder, and a latent, for timing wan.vae_decode where the real checkpoint is not at hand.

usage: /usr/bin/python3 bench/wan_vae_checkpoint.py OUT_DIR [T H W]   (latent frames and size; default 3 16 24)
writes OUT_DIR/wan/vae/{config.json, diffusion_pytorch_model.safetensors}, OUT_DIR/latent.safetensors and
OUT_DIR/decode.lattice; then: build/lattice --render OUT_DIR/decode.lattice --target decode --report r.json
"""
import json
import os
import struct
import sys

import torch

MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922,
        -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253,
       2.8251, 1.916]


def decoder_shapes(base=96, z=16, mult=(1, 2, 4, 4), nrb=2, temporal=(False, True, True)):
    shapes = {}

    def conv(p, o, i, k):
        shapes[p + "weight"] = [o, i] + k
        shapes[p + "bias"] = [o]

    def res(p, i, o):
        shapes[p + "norm1.gamma"] = [i, 1, 1, 1]
        conv(p + "conv1.", o, i, [3, 3, 3])
        shapes[p + "norm2.gamma"] = [o, 1, 1, 1]
        conv(p + "conv2.", o, o, [3, 3, 3])
        if i != o:
            conv(p + "conv_shortcut.", o, i, [1, 1, 1])

    levels = len(mult)
    dims = [base * mult[-1]] + [base * m for m in reversed(mult)]
    conv("post_quant_conv.", z, z, [1, 1, 1])
    conv("decoder.conv_in.", dims[0], z, [3, 3, 3])
    res("decoder.mid_block.resnets.0.", dims[0], dims[0])
    shapes["decoder.mid_block.attentions.0.norm.gamma"] = [dims[0], 1, 1]
    conv("decoder.mid_block.attentions.0.to_qkv.", 3 * dims[0], dims[0], [1, 1])
    conv("decoder.mid_block.attentions.0.proj.", dims[0], dims[0], [1, 1])
    res("decoder.mid_block.resnets.1.", dims[0], dims[0])
    for i in range(levels):
        inp, out = (dims[i] // 2 if i > 0 else dims[i]), dims[i + 1]
        for r in range(nrb + 1):
            res(f"decoder.up_blocks.{i}.resnets.{r}.", inp if r == 0 else out, out)
        if i < levels - 1:
            p = f"decoder.up_blocks.{i}.upsamplers.0."
            conv(p + "resample.1.", out // 2, out, [3, 3])
            if temporal[levels - 2 - i]:
                conv(p + "time_conv.", 2 * out, out, [3, 1, 1])
    shapes["decoder.norm_out.gamma"] = [dims[-1], 1, 1, 1]
    conv("decoder.conv_out.", 3, dims[-1], [3, 3, 3])
    return shapes


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.float().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    t, h, w = (int(v) for v in sys.argv[2:5]) if len(sys.argv) >= 5 else (3, 16, 24)
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for name, shape in decoder_shapes().items():
        if name.endswith("gamma"):
            tensors[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            tensors[name] = 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            tensors[name] = torch.randn(shape, generator=g) / fan_in ** 0.5
    tensors["decoder.conv_out.weight"] *= 0.3
    os.makedirs(os.path.join(out, "wan", "vae"), exist_ok=True)
    write(os.path.join(out, "wan", "vae", "diffusion_pytorch_model.safetensors"), tensors)
    config = {"_class_name": "AutoencoderKLWan", "base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
              "attn_scales": [], "temperal_downsample": [False, True, True], "dropout": 0.0, "latents_mean": MEAN,
              "latents_std": STD}
    with open(os.path.join(out, "wan", "vae", "config.json"), "w") as f:
        json.dump(config, f)
    write(os.path.join(out, "latent.safetensors"), {"latent": torch.randn([1, 16, t, h, w], generator=g)})
    graph = {"lattice": 1, "nodes": [
        {"id": "t", "type": "tensor.load", "params": {"path": "latent.safetensors", "name": "latent"}},
        {"id": "latent", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "t", "output": "tensor"}}},
        {"id": "vae", "type": "wan.load_vae", "params": {"path": "wan"}},
        {"id": "decode", "type": "wan.vae_decode",
         "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "latent", "output": "latent"}}}]}
    with open(os.path.join(out, "decode.lattice"), "w") as f:
        json.dump(graph, f, indent=1)


if __name__ == "__main__":
    main()
