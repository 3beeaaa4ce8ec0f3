#!/usr/bin/python3
"""Writes reference fixtures for diffusers' AutoencoderKLLTXVideo in its two pre-0.9.5 layouts and with a mixed encoder, in
the conventions of tests/golden/README.md:
  0.9.0 (--version 0.9.0): LTXVideoDownBlock3D encoder (stride-2 conv downsamplers, a conv_out resnet where the
        width grows), a decoder without timestep conditioning (conv_in resnets, plain depth-to-space upsamplers);
  0.9.1 (--version 0.9.1): the same encoder; a timestep-conditioned decoder with residual upsamplers (factor 2)
        and noise injection (resnets with per_channel_scale1/2);
  mixed (--version mixed): an encoder mixing LTXVideoDownBlock3D and LTXVideo095DownBlock3D blocks (diffusers builds
        each down block by its down_block_types entry), with the 0.9.5+ decoder.

diffusers is not installed here, so the model is written in plain PyTorch from diffusers v0.33's
autoencoder_kl_ltx.py (the version of the other fixtures): causal/non-causal replicate-padded convs, RMSNorm over
channels (eps 1e-8), resnets with a LayerNorm + 1x1x1 shortcut when the width changes, per-resnet
scale_shift_table (shift1, scale1, shift2, scale2) added to the block's time embedding, injected noise
`per_channel_scale[c] * n[y, x]` after each conv (one standard-normal field per injection, shared by frames,
channels and videos), depth-to-space upsamplers dropping the first frame. It also implements the 0.9.5+ layout
(LTXVideo095DownBlock3D) so that `--check tests/golden/ltx_vae.safetensors` can verify this reimplementation
against the outputs diffusers itself computed.

The 0.9.1 decoder draws its noise with torch.randn; the fixture stores each field it drew, in draw order, as
input.inject_noise.K ([H_k, W_k] of the whole decoded latent), so a runner feeds them instead of its own noise.
Random weights follow the golden rule (>=2-D: N(0,1)/sqrt(fan_in); biases 0.1 N(0,1); norm scales 1 + 0.1 N(0,1);
the 0-D timestep_scale_multiplier keeps 1000; decoder.conv_out scaled by 0.3).
Run: /usr/bin/python3 tools/ltx_vae_fixture.py OUT.safetensors --version 0.9.0|0.9.1|mixed
     /usr/bin/python3 tools/ltx_vae_fixture.py --check tests/golden/ltx_vae.safetensors
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from golden_io import randomise, read, write

LEGACY = ["LTXVideoDownBlock3D"] * 4
CONFIGS = {
    "0.9.0": {"in_channels": 3, "out_channels": 3, "latent_channels": 16, "block_out_channels": [8, 16, 32, 32],
              "down_block_types": LEGACY, "decoder_block_out_channels": [8, 16, 32, 32],
              "layers_per_block": [1, 1, 1, 1, 1], "decoder_layers_per_block": [1, 1, 1, 1, 1],
              "spatio_temporal_scaling": [True, True, True, False],
              "decoder_spatio_temporal_scaling": [True, True, True, False],
              "decoder_inject_noise": [False] * 5, "downsample_type": ["conv"] * 4,
              "upsample_residual": [False] * 4, "upsample_factor": [1] * 4, "timestep_conditioning": False,
              "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6, "scaling_factor": 1.0,
              "encoder_causal": True, "decoder_causal": False},
    "0.9.1": {"in_channels": 3, "out_channels": 3, "latent_channels": 16, "block_out_channels": [8, 16, 32, 32],
              "down_block_types": LEGACY, "decoder_block_out_channels": [8, 16, 32],
              "layers_per_block": [1, 1, 1, 1, 1], "decoder_layers_per_block": [1, 1, 2, 1],
              "spatio_temporal_scaling": [True, True, True, False],
              "decoder_spatio_temporal_scaling": [True, True, True],
              "decoder_inject_noise": [True, True, True, False], "downsample_type": ["conv"] * 4,
              "upsample_residual": [True, True, True], "upsample_factor": [2, 2, 2], "timestep_conditioning": True,
              "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6, "scaling_factor": 1.0,
              "encoder_causal": True, "decoder_causal": False},
    # An encoder mixing both down block types, as diffusers' LTXVideoEncoder3d builds per down_block_types[i]
    # (the last type decides how block_out_channels counts): an LTXVideoDownBlock3D widening through conv_out,
    # a spatial LTXVideo095DownBlock3D, another LTXVideoDownBlock3D, a temporal LTXVideo095DownBlock3D; the
    # 0.9.5+ decoder (timestep-conditioned, residual upsamplers, no noise).
    "mixed": {"in_channels": 3, "out_channels": 3, "latent_channels": 16, "block_out_channels": [8, 16, 16, 32, 32],
              "down_block_types": ["LTXVideoDownBlock3D", "LTXVideo095DownBlock3D", "LTXVideoDownBlock3D",
                                   "LTXVideo095DownBlock3D"],
              "decoder_block_out_channels": [8, 16, 32],
              "layers_per_block": [1, 1, 1, 1, 1], "decoder_layers_per_block": [1, 1, 1, 1],
              "spatio_temporal_scaling": [True, True, True, True],
              "decoder_spatio_temporal_scaling": [True, True, True],
              "decoder_inject_noise": [False] * 4, "downsample_type": ["conv", "spatial", "conv", "temporal"],
              "upsample_residual": [True, True, True], "upsample_factor": [2, 2, 2], "timestep_conditioning": True,
              "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6, "scaling_factor": 1.0,
              "encoder_causal": True, "decoder_causal": False},
}


def rms(x):  # over channels (dim 1), eps 1e-8, no affine
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class CausalConv(torch.nn.Module):
    def __init__(self, cin, cout, k=3, stride=1, causal=True):
        super().__init__()
        self.k, self.causal = k, causal
        self.conv = torch.nn.Conv3d(cin, cout, k, stride=stride, padding=(0, k // 2, k // 2))

    def forward(self, x):
        if self.causal:
            x = torch.cat([x[:, :, :1]] * (self.k - 1) + [x], dim=2)
        else:
            n = (self.k - 1) // 2
            x = torch.cat([x[:, :, :1]] * n + [x] + [x[:, :, -1:]] * n, dim=2)
        return self.conv(x)


class Resnet(torch.nn.Module):
    def __init__(self, cin, cout, eps, causal, noise=False, cond=False):
        super().__init__()
        self.conv1, self.conv2 = CausalConv(cin, cout, causal=causal), CausalConv(cout, cout, causal=causal)
        if cin != cout:
            self.norm3 = torch.nn.LayerNorm(cin, eps=eps)
            self.conv_shortcut = CausalConv(cin, cout, k=1, causal=causal)
        if noise:
            self.per_channel_scale1 = torch.nn.Parameter(torch.zeros(cin, 1, 1))
            self.per_channel_scale2 = torch.nn.Parameter(torch.zeros(cin, 1, 1))
        if cond:
            self.scale_shift_table = torch.nn.Parameter(torch.zeros(4, cin))

    def inject(self, x, scale, draw):
        field = draw(x.shape[-2], x.shape[-1])  # [H, W]
        return x + (field[None] * scale)[None, :, None]

    def forward(self, x, temb, draw):
        h = rms(x)
        if hasattr(self, "scale_shift_table"):
            ada = temb.unflatten(1, (4, -1)) + self.scale_shift_table[None, ..., None, None, None]
            shift1, scale1, shift2, scale2 = ada.unbind(dim=1)
            h = h * (1 + scale1) + shift1
        h = self.conv1(F.silu(h))
        if hasattr(self, "per_channel_scale1"):
            h = self.inject(h, self.per_channel_scale1, draw)
        h = rms(h)
        if hasattr(self, "scale_shift_table"):
            h = h * (1 + scale2) + shift2
        h = self.conv2(F.silu(h))
        if hasattr(self, "per_channel_scale2"):
            h = self.inject(h, self.per_channel_scale2, draw)
        if hasattr(self, "conv_shortcut"):
            x = self.conv_shortcut(self.norm3(x.movedim(1, -1)).movedim(-1, 1))
        return h + x


class TimestepEmbedder(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear_1, self.linear_2 = torch.nn.Linear(256, dim), torch.nn.Linear(dim, dim)


class TimeEmbedder(torch.nn.Module):  # PixArtAlphaCombinedTimestepSizeEmbeddings(dim, 0): the timestep part only
    def __init__(self, dim):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)

    def forward(self, t):
        # Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0): [cos, sin] of t * exp(-ln(1e4) i / 128)
        freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32) / 128)
        arg = t.flatten()[:, None].float() * freqs[None]
        emb = torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)
        e = self.timestep_embedder
        return e.linear_2(F.silu(e.linear_1(emb)))


def space_to_depth(x, st, sh, sw):  # channel order (c, t, h, w offsets)
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // st, st, h // sh, sh, w // sw, sw).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * st * sh * sw, t // st, h // sh, w // sw)


def depth_to_space(x, st, sh, sw):
    b, c, t, h, w = x.shape
    x = x.reshape(b, c // (st * sh * sw), st, sh, sw, t, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c // (st * sh * sw), t * st, h * sh, w * sw)


class Downsampler095(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.group = cin * stride[0] * stride[1] * stride[2] // cout
        self.conv = CausalConv(cin, cout // (stride[0] * stride[1] * stride[2]))

    def forward(self, x):
        x = torch.cat([x[:, :, : self.stride[0] - 1], x], dim=2)
        r = space_to_depth(x, *self.stride)
        r = r.unflatten(1, (-1, self.group)).mean(dim=2)
        return space_to_depth(self.conv(x), *self.stride) + r


class Upsampler(torch.nn.Module):
    def __init__(self, cin, residual, factor):
        super().__init__()
        self.residual, self.factor = residual, factor
        self.conv = CausalConv(cin, cin * 8 // factor, causal=False)

    def forward(self, x):
        h = depth_to_space(self.conv(x), 2, 2, 2)[:, :, 1:]
        if self.residual:
            r = depth_to_space(x, 2, 2, 2).repeat(1, 8 // self.factor, 1, 1, 1)[:, :, 1:]
            h = h + r
        return h


class DownBlock(torch.nn.Module):
    def __init__(self, kind, cin, cout, layers, scaling, dtype, eps):
        super().__init__()
        self.resnets = torch.nn.ModuleList([Resnet(cin, cin, eps, True) for _ in range(layers)])
        if kind == "LTXVideoDownBlock3D":
            if scaling:
                self.downsamplers = torch.nn.ModuleList([CausalConv(cin, cin, stride=2)])
            if cin != cout:
                self.conv_out = Resnet(cin, cout, eps, True)
        elif scaling and dtype == "conv":  # LTXVideo095DownBlock3D's stride-2 conv, keeping the width
            self.downsamplers = torch.nn.ModuleList([CausalConv(cin, cin, stride=2)])
        elif scaling:
            stride = {"spatial": (1, 2, 2), "temporal": (2, 1, 1), "spatiotemporal": (2, 2, 2)}[dtype]
            self.downsamplers = torch.nn.ModuleList([Downsampler095(cin, cout, stride)])

    def forward(self, x):
        for r in self.resnets:
            x = r(x, None, None)
        if hasattr(self, "downsamplers"):
            x = self.downsamplers[0](x)
        if hasattr(self, "conv_out"):
            x = self.conv_out(x, None, None)
        return x


class MidBlock(torch.nn.Module):
    def __init__(self, ch, layers, eps, causal, noise=False, cond=False):
        super().__init__()
        if cond:
            self.time_embedder = TimeEmbedder(4 * ch)
        self.resnets = torch.nn.ModuleList([Resnet(ch, ch, eps, causal, noise, cond) for _ in range(layers)])

    def forward(self, x, t, draw):
        temb = self.time_embedder(t).view(x.shape[0], -1, 1, 1, 1) if hasattr(self, "time_embedder") else None
        for r in self.resnets:
            x = r(x, temb, draw)
        return x


class UpBlock(torch.nn.Module):
    def __init__(self, cin, cout, layers, scaling, eps, noise, cond, residual, factor):
        super().__init__()
        if cond:
            self.time_embedder = TimeEmbedder(4 * cin)
        if cin != cout:
            self.conv_in = Resnet(cin, cout, eps, False, noise, cond)
        if scaling:
            self.upsamplers = torch.nn.ModuleList([Upsampler(cout * factor, residual, factor)])
        self.resnets = torch.nn.ModuleList([Resnet(cout, cout, eps, False, noise, cond) for _ in range(layers)])

    def forward(self, x, t, draw):
        if hasattr(self, "conv_in"):
            x = self.conv_in(x, t, draw)  # as diffusers: the raw timestep (no released model conditions a conv_in)
        temb = self.time_embedder(t).view(x.shape[0], -1, 1, 1, 1) if hasattr(self, "time_embedder") else None
        if hasattr(self, "upsamplers"):
            x = self.upsamplers[0](x)
        for r in self.resnets:
            x = r(x, temb, draw)
        return x


class Encoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.p = c["patch_size"]
        bo, types, eps = c["block_out_channels"], c["down_block_types"], c["resnet_norm_eps"]
        self.conv_in = CausalConv(c["in_channels"] * self.p ** 2, bo[0])
        legacy = types[-1] == "LTXVideoDownBlock3D"
        n = len(bo) - (0 if legacy else 1)
        blocks, out = [], bo[0]
        for i in range(n):
            cin = out
            out = (bo[i + 1] if i + 1 < n else bo[i]) if legacy else bo[i + 1]
            blocks.append(DownBlock(types[i], cin, out, c["layers_per_block"][i], c["spatio_temporal_scaling"][i],
                                    c["downsample_type"][i], eps))
        self.down_blocks = torch.nn.ModuleList(blocks)
        self.mid_block = MidBlock(out, c["layers_per_block"][-1], eps, True)
        self.conv_out = CausalConv(out, c["latent_channels"] + 1)

    def forward(self, x):
        b, ch, t, h, w = x.shape
        p = self.p
        x = x.reshape(b, ch, t, 1, h // p, p, w // p, p).permute(0, 1, 3, 7, 5, 2, 4, 6).flatten(1, 4)
        x = self.conv_in(x)
        for blk in self.down_blocks:
            x = blk(x)
        x = self.mid_block(x, None, None)
        x = self.conv_out(F.silu(rms(x)))
        return torch.cat([x, x[:, -1:].repeat(1, x.shape[1] - 2, 1, 1, 1)], dim=1)


class Decoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.p, eps, cond = c["patch_size"], c["resnet_norm_eps"], c["timestep_conditioning"]
        bo = list(reversed(c["decoder_block_out_channels"]))
        scaling = list(reversed(c["decoder_spatio_temporal_scaling"]))
        layers = list(reversed(c["decoder_layers_per_block"]))
        noise = list(reversed(c["decoder_inject_noise"]))
        residual = list(reversed(c["upsample_residual"]))
        factor = list(reversed(c["upsample_factor"]))
        out = bo[0]
        self.conv_in = CausalConv(c["latent_channels"], out, causal=False)
        self.mid_block = MidBlock(out, layers[0], eps, False, noise[0], cond)
        blocks = []
        for i in range(len(bo)):
            cin, out = out // factor[i], bo[i] // factor[i]
            blocks.append(UpBlock(cin, out, layers[i + 1], scaling[i], eps, noise[i + 1], cond, residual[i], factor[i]))
        self.up_blocks = torch.nn.ModuleList(blocks)
        self.conv_out = CausalConv(out, c["out_channels"] * self.p ** 2, causal=False)
        if cond:
            self.timestep_scale_multiplier = torch.nn.Parameter(torch.tensor(1000.0))
            self.time_embedder = TimeEmbedder(2 * out)
            self.scale_shift_table = torch.nn.Parameter(torch.zeros(2, out))

    def forward(self, z, t, draw):
        x = self.conv_in(z)
        if hasattr(self, "timestep_scale_multiplier"):
            t = t * self.timestep_scale_multiplier
        x = self.mid_block(x, t, draw)
        for blk in self.up_blocks:
            x = blk(x, t, draw)
        x = rms(x)
        if hasattr(self, "time_embedder"):
            e = self.time_embedder(t).view(x.shape[0], -1, 1, 1, 1).unflatten(1, (2, -1))
            shift, scale = (e + self.scale_shift_table[None, ..., None, None, None]).unbind(dim=1)
            x = x * (1 + scale) + shift
        x = self.conv_out(F.silu(x))
        b, _, f, h, w = x.shape
        p = self.p
        x = x.reshape(b, -1, 1, p, p, f, h, w).permute(0, 1, 5, 2, 6, 4, 7, 3)
        return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)


class Vae(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder, self.decoder = Encoder(c), Decoder(c)
        self.register_buffer("latents_mean", torch.zeros(c["latent_channels"]))
        self.register_buffer("latents_std", torch.ones(c["latent_channels"]))

    def encode(self, video):
        h = self.encoder(video)
        mean, logvar = h.chunk(2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)


def check(path):
    """Runs this reimplementation on a diffusers-made fixture and prints the largest difference per output."""
    t, meta = read(path)
    vae = Vae(json.loads(meta["config"]))
    vae.load_state_dict({k[8:]: v for k, v in t.items() if k.startswith("weights.")}, strict=True)
    with torch.no_grad():
        got = {"output.decoded": vae.decoder(t["input.latent"], t.get("input.decode_timestep"), None)}
        got["output.encoded_mean"], got["output.encoded_logvar"] = vae.encode(t["input.video"])
    worst = 0.0
    for k, v in got.items():
        d = (v - t[k]).abs().max().item()
        worst = max(worst, d / max(1.0, t[k].abs().max().item()))
        print(f"{k}: max |diff| {d:.3g} (max |ref| {t[k].abs().max().item():.3g})")
    sys.exit(0 if worst <= 1e-5 else 1)


def main():
    if sys.argv[1] == "--check":
        return check(sys.argv[2])
    version = sys.argv[sys.argv.index("--version") + 1]
    config = CONFIGS[version]
    seed = {"0.9.0": 2090, "0.9.1": 2091, "mixed": 2092}[version]
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    vae = Vae(config)
    randomise(vae, special=lambda name, p: name.endswith("timestep_scale_multiplier"))
    with torch.no_grad():
        vae.decoder.conv_out.conv.weight.mul_(0.3)
    latent_thw = [2, 2, 2]
    latent = torch.randn(1, config["latent_channels"], *latent_thw)
    video = torch.rand(1, 3, 1 + 8 * (latent_thw[0] - 1), 32 * latent_thw[1], 32 * latent_thw[2]) * 2 - 1
    decode_timestep = torch.tensor([0.05])
    fields = []

    def draw(h, w):
        fields.append(torch.randn(h, w))
        return fields[-1]

    with torch.no_grad():
        decoded = vae.decoder(latent, decode_timestep, draw)
        mean, logvar = vae.encode(video)
    tensors = {"weights." + k: v for k, v in vae.state_dict().items()}
    tensors["input.latent"] = latent
    tensors["input.video"] = video
    run = {"batch": 1, "latent_thw": latent_thw}
    if config["timestep_conditioning"]:
        tensors["input.decode_timestep"] = decode_timestep
        run["decode_timestep"] = [0.05]
    for k, f in enumerate(fields):
        tensors[f"input.inject_noise.{k}"] = f
    run["inject_noise_fields"] = len(fields)
    tensors["output.decoded"] = decoded
    tensors["output.encoded_mean"] = mean
    tensors["output.encoded_logvar"] = logvar
    meta = {"class": "AutoencoderKLLTXVideo", "component": "ltx_vae_" + version.replace(".", ""),
            "config": json.dumps(config), "run": json.dumps(run),
            "reference": "tools/ltx_vae_fixture.py (plain PyTorch after diffusers v0.33 autoencoder_kl_ltx.py; "
                         "checked against tests/golden/ltx_vae.safetensors with --check)",
            "note": "input.inject_noise.K = the K-th noise field the decoder drew (torch.randn(H, W)), in draw order",
            "torch": torch.__version__, "seed": str(seed)}
    write(sys.argv[1], tensors, meta)


if __name__ == "__main__":
    main()
