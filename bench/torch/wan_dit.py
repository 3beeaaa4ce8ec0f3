#!/usr/bin/python3
"""Wan 2.1 transformer forward in plain PyTorch (CPU), the baseline for bench/wan_dit_bench.cpp.

A straightforward re-implementation of diffusers' WanTransformer3DModel forward (v0.33) on the state-dict
keys, checked first against the golden fixtures tests/golden/wan_transformer{,_i2v}.safetensors (same
weights, same inputs) so that the timing below is of a model that computes the right thing.

usage: bench/torch/wan_dit.py WEIGHTS.safetensors [--threads N] [--repeats R]
  WEIGHTS is written by `lattice-bench --benchmark_filter=wan` (bench/wan_dit_bench.cpp) with its config
  and inputs in the metadata / `input.*` tensors; prints the median forward time in ms.
"""
import json, math, sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flux_dit import bench_args, load_safetensors, report, timestep_proj  # noqa: E402  (same file format, sinusoids, timing)


def rope_tables(f, h, w, head_dim, theta=10000.0):
    """cos/sin [f*h*w, head_dim], pairs interleaved; the head dim split (t, h, w) as Wan does, float64 angles."""
    hw = 2 * (head_dim // 6)
    dims = [head_dim - 2 * hw, hw, hw]
    grid = torch.stack(torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij"), -1).reshape(-1, 3)
    cos, sin = [], []
    for i, d in enumerate(dims):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.outer(grid[:, i].double(), freqs)
        cos.append(ang.cos().repeat_interleave(2, dim=1).float())
        sin.append(ang.sin().repeat_interleave(2, dim=1).float())
    return torch.cat(cos, -1), torch.cat(sin, -1)


class Wan:
    def __init__(self, w, cfg):
        self.w, self.cfg = w, cfg
        self.H, self.D = cfg["num_attention_heads"], cfg["attention_head_dim"]
        self.eps = cfg.get("eps", 1e-6)

    def lin(self, x, p):
        return F.linear(x, self.w[p + ".weight"], self.w.get(p + ".bias"))

    def ln(self, x, p=None, eps=None):
        eps = self.eps if eps is None else eps
        if p is None:
            return F.layer_norm(x, x.shape[-1:], eps=eps)
        return F.layer_norm(x, x.shape[-1:], self.w[p + ".weight"], self.w[p + ".bias"], eps=eps)

    def rms(self, x, p):  # across all heads
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[p + ".weight"]

    def heads(self, x):
        B, L, _ = x.shape
        return x.view(B, L, self.H, self.D).transpose(1, 2)

    def attn(self, q, k, v):  # packed [B, L, H*D]
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        o = ((q @ k.transpose(-1, -2)) / math.sqrt(self.D)).softmax(-1) @ v
        B, H, L, D = o.shape
        return o.transpose(1, 2).reshape(B, L, H * D)

    def rope(self, x, cos, sin):  # x [B, L, H*D]
        B, L, C = x.shape
        x4 = x.view(B, L, self.H, self.D)
        x2 = x4.unflatten(-1, (-1, 2))
        rot = torch.stack([-x2[..., 1], x2[..., 0]], -1).flatten(-2)
        return (x4 * cos[:, None] + rot * sin[:, None]).reshape(B, L, C)

    def forward(self, hidden, t, ctx, image=None):
        B, C, Fr, Hh, Ww = hidden.shape
        pt, ph, pw = self.cfg["patch_size"]
        f, h, w = Fr // pt, Hh // ph, Ww // pw
        cos, sin = rope_tables(f, h, w, self.D)
        x = F.conv3d(hidden, self.w["patch_embedding.weight"], self.w["patch_embedding.bias"], stride=(pt, ph, pw))
        x = x.flatten(2).transpose(1, 2)
        p = "condition_embedder."
        temb = self.lin(F.silu(self.lin(timestep_proj(t, self.cfg["freq_dim"]), p + "time_embedder.linear_1")),
                        p + "time_embedder.linear_2")
        mods = self.lin(F.silu(temb), p + "time_proj").unflatten(1, (6, -1))
        text = self.lin(F.gelu(self.lin(ctx, p + "text_embedder.linear_1"), approximate="tanh"), p + "text_embedder.linear_2")
        img = None
        if image is not None:
            e = p + "image_embedder."
            img = self.ln(self.lin(F.gelu(self.lin(self.ln(image, e + "norm1", 1e-5), e + "ff.net.0.proj")), e + "ff.net.2"),
                          e + "norm2", 1e-5)
        for i in range(self.cfg["num_layers"]):
            b = f"blocks.{i}."
            sh, sc, g, csh, csc, cg = (self.w[b + "scale_shift_table"] + mods).unbind(1)
            n = self.ln(x) * (1 + sc[:, None]) + sh[:, None]
            q = self.rope(self.rms(self.lin(n, b + "attn1.to_q"), b + "attn1.norm_q"), cos, sin)
            k = self.rope(self.rms(self.lin(n, b + "attn1.to_k"), b + "attn1.norm_k"), cos, sin)
            x = x + g[:, None] * self.lin(self.attn(q, k, self.lin(n, b + "attn1.to_v")), b + "attn1.to_out.0")
            n = self.ln(x, b + "norm2") if self.cfg.get("cross_attn_norm", True) else x
            q = self.rms(self.lin(n, b + "attn2.to_q"), b + "attn2.norm_q")
            o = self.attn(q, self.rms(self.lin(text, b + "attn2.to_k"), b + "attn2.norm_k"), self.lin(text, b + "attn2.to_v"))
            if img is not None:
                o = o + self.attn(q, self.rms(self.lin(img, b + "attn2.add_k_proj"), b + "attn2.norm_added_k"),
                                  self.lin(img, b + "attn2.add_v_proj"))
            x = x + self.lin(o, b + "attn2.to_out.0")
            n = self.ln(x) * (1 + csc[:, None]) + csh[:, None]
            x = x + cg[:, None] * self.lin(F.gelu(self.lin(n, b + "ffn.net.0.proj"), approximate="tanh"), b + "ffn.net.2")
        shift, scale = (self.w["scale_shift_table"] + temb[:, None]).unbind(1)
        x = self.lin(self.ln(x) * (1 + scale[:, None]) + shift[:, None], "proj_out")
        out = x.reshape(B, f, h, w, pt, ph, pw, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return out.reshape(B, -1, Fr, Hh, Ww)


def run(path):
    t, meta = load_safetensors(path)
    cfg = json.loads(meta["config"])
    w = {k[len("weights."):]: v for k, v in t.items() if k.startswith("weights.")}
    args = (t["input.hidden_states"], t["input.timestep"], t["input.encoder_hidden_states"],
            t.get("input.encoder_hidden_states_image"))
    return Wan(w, cfg), args, t


def main():
    a = bench_args()
    with torch.no_grad():
        err = 0.0
        for name in ("wan_transformer", "wan_transformer_i2v"):
            model, args, t = run(Path(__file__).resolve().parents[2] / f"tests/golden/{name}.safetensors")
            e = (model.forward(*args) - t["output.sample"]).abs().max().item()
            if e > 1e-4 * max(1.0, t["output.sample"].abs().max().item()):
                sys.exit(f"wan_dit.py: the PyTorch model does not match the {name} fixture (max error {e})")
            err = max(err, e)
        model, args, _ = run(a.weights)
        report(lambda: model.forward(*args), a, err)

if __name__ == "__main__":
    main()
