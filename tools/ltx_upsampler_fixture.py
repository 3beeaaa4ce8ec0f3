#!/usr/bin/python3
"""Writes reference fixtures for diffusers' LTXLatentUpsamplerModel in the conventions of tests/golden/README.md:
tests/golden/ltx_latent_upsampler.safetensors (the 0.9.7 spatial upscaler) and, with --temporal,
tests/golden/ltx_latent_upsampler_temporal.safetensors (the 0.9.7 temporal upscaler).

diffusers v0.33 (the version of the other fixtures) has no latent upsampler, and this machine has no diffusers,
so the model is written here in plain PyTorch after diffusers' modeling_latent_upsampler.py (v0.34+):
Conv3d(3, pad 1) -> GroupNorm(32) -> SiLU, N residual blocks (conv-GN-SiLU-conv-GN, SiLU after the sum),
a frame-wise Conv2d to 4x channels + 2-D pixel shuffle (spatial) or a Conv3d to 2x channels + a shuffle of
channel pairs into frames, first frame dropped (temporal), N more blocks, a final Conv3d. Random weights follow
the golden rule (>=2-D: N(0,1)/sqrt(fan_in); biases 0.1 N(0,1); norm scales 1 + 0.1 N(0,1)).
Run: /usr/bin/python3 tools/ltx_upsampler_fixture.py OUT.safetensors [--temporal]
"""
import json
import sys

import torch

from golden_io import randomise, write

CONFIG = {"in_channels": 16, "mid_channels": 32, "num_blocks_per_stage": 1, "dims": 3,
          "spatial_upsample": True, "temporal_upsample": False}
TEMPORAL = dict(CONFIG, spatial_upsample=False, temporal_upsample=True)


def res_block(ch):
    return torch.nn.ModuleDict({
        "conv1": torch.nn.Conv3d(ch, ch, 3, padding=1), "norm1": torch.nn.GroupNorm(32, ch),
        "conv2": torch.nn.Conv3d(ch, ch, 3, padding=1), "norm2": torch.nn.GroupNorm(32, ch)})


def run_block(b, x):
    h = torch.nn.functional.silu(b["norm1"](b["conv1"](x)))
    h = b["norm2"](b["conv2"](h))
    return torch.nn.functional.silu(h + x)


class Upsampler(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        mid = c["mid_channels"]
        self.initial_conv = torch.nn.Conv3d(c["in_channels"], mid, 3, padding=1)
        self.initial_norm = torch.nn.GroupNorm(32, mid)
        self.res_blocks = torch.nn.ModuleList([res_block(mid) for _ in range(c["num_blocks_per_stage"])])
        self.temporal = c["temporal_upsample"]
        conv = torch.nn.Conv3d(mid, 2 * mid, 3, padding=1) if self.temporal else torch.nn.Conv2d(mid, 4 * mid, 3, padding=1)
        self.upsampler = torch.nn.Sequential(conv)
        self.post_upsample_res_blocks = torch.nn.ModuleList([res_block(mid) for _ in range(c["num_blocks_per_stage"])])
        self.final_conv = torch.nn.Conv3d(mid, c["in_channels"], 3, padding=1)

    def forward(self, x):
        b, _, f, _, _ = x.shape
        x = torch.nn.functional.silu(self.initial_norm(self.initial_conv(x)))
        for blk in self.res_blocks:
            x = run_block(blk, x)
        if self.temporal:
            u = self.upsampler[0](x)  # channel c*2 + dt -> frame 2f + dt
            x = u.reshape(b, -1, 2, f, u.shape[3], u.shape[4]).permute(0, 1, 3, 2, 4, 5).reshape(b, -1, 2 * f, u.shape[3], u.shape[4])
            x = x[:, :, 1:]
        else:
            y = x.permute(0, 2, 1, 3, 4).reshape(b * f, x.shape[1], x.shape[3], x.shape[4])
            y = torch.nn.functional.pixel_shuffle(self.upsampler[0](y), 2)  # channel c*4 + dy*2 + dx
            x = y.reshape(b, f, y.shape[1], y.shape[2], y.shape[3]).permute(0, 2, 1, 3, 4)
        for blk in self.post_upsample_res_blocks:
            x = run_block(blk, x)
        return self.final_conv(x)


def main():
    temporal = "--temporal" in sys.argv[2:]
    config = TEMPORAL if temporal else CONFIG
    torch.manual_seed(2027 if temporal else 2026)
    torch.set_num_threads(2)
    model = Upsampler(config)
    randomise(model)
    with torch.no_grad():
        latent = torch.randn(1, config["in_channels"], 3, 4, 5)
        out = model(latent)
    tensors = {"weights." + k: v for k, v in model.state_dict().items()}
    tensors["input.latent"] = latent
    tensors["output.upsampled"] = out
    meta = {"class": "LTXLatentUpsamplerModel", "component": "ltx_latent_upsampler" + ("_temporal" if temporal else ""),
            "config": json.dumps(config),
            "run": json.dumps({"batch": 1, "latent_fhw": [3, 4, 5]}),
            "reference": "tools/ltx_upsampler_fixture.py (plain PyTorch after diffusers modeling_latent_upsampler.py)",
            "torch": torch.__version__, "seed": "2027" if temporal else "2026"}
    write(sys.argv[1], tensors, meta)


if __name__ == "__main__":
    main()
