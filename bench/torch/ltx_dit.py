#!/usr/bin/python3
"""LTX-Video transformer forward in plain PyTorch (CPU), the baseline for bench/ltx_dit_bench.cpp.

A straightforward re-implementation of diffusers' LTXVideoTransformer3DModel forward (v0.33) on the
state-dict keys, checked first against the golden fixture tests/golden/ltx_transformer.safetensors (same
weights, same inputs) so that the timing below is of a model that computes the right thing.

usage: bench/torch/ltx_dit.py WEIGHTS.safetensors [--threads N] [--repeats R]
  WEIGHTS is written by `lattice-bench --benchmark_filter=ltx` with its config, run and inputs; prints JSON
  with the median forward time in ms.
"""
import argparse, json, math, statistics, struct, time
from pathlib import Path

import torch
import torch.nn.functional as F


def load_safetensors(path):
    data = Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[s:e]), dtype=torch.float32).reshape(info["shape"])
    return out, meta


def rope(frames, height, width, scale, dim):
    grid = torch.stack(torch.meshgrid(torch.arange(frames, dtype=torch.float32), torch.arange(height, dtype=torch.float32),
                                      torch.arange(width, dtype=torch.float32), indexing="ij"), 0).flatten(1).t()  # [S, 3]
    return rope_at(grid * torch.tensor(scale), dim)


def rope_at(coords, dim):
    """cos, sin [S, dim] for token positions coords [S, 3] (frame in seconds, y and x in pixels)."""
    n, pad = dim // 6, dim % 6
    freqs = 10000.0 ** torch.linspace(0.0, 1.0, n) * math.pi / 2.0
    pos = coords / torch.tensor([20.0, 2048.0, 2048.0])
    ang = (freqs[None, None, :] * (pos[:, :, None] * 2 - 1)).transpose(1, 2).flatten(1)  # [S, n*3], axis minor
    cos, sin = ang.cos().repeat_interleave(2, -1), ang.sin().repeat_interleave(2, -1)
    return torch.cat([torch.ones(cos.shape[0], pad), cos], -1), torch.cat([torch.zeros(sin.shape[0], pad), sin], -1)


def rms(x, eps, w=None):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * w if w is not None else y


def rotate(x, cos, sin):
    x2 = x.unflatten(-1, (-1, 2))
    return x * cos + torch.stack([-x2[..., 1], x2[..., 0]], -1).flatten(-2) * sin


def timestep_proj(t, dim=256):
    half = dim // 2
    emb = t[:, None].float() * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)[None]
    return torch.cat([emb.cos(), emb.sin()], -1)


class Ltx:
    def __init__(self, w, config):
        self.w, self.heads = w, config["num_attention_heads"]
        self.layers = config["num_layers"]

    def lin(self, p, x):
        return F.linear(x, self.w[p + ".weight"], self.w.get(p + ".bias"))

    def attention(self, p, x, kv, cos, sin, bias):
        q = rms(self.lin(p + "to_q", x), 1e-5, self.w[p + "norm_q.weight"])
        k = rms(self.lin(p + "to_k", kv), 1e-5, self.w[p + "norm_k.weight"])
        v = self.lin(p + "to_v", kv)
        if cos is not None:
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        b, lq, d = q.shape
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if bias is not None:
            s = s + bias[:, None, None, :]
        o = (s.softmax(-1) @ v).transpose(1, 2).flatten(2)
        return self.lin(p + "to_out.0", o)

    def forward(self, x, ctx, mask, t, cos, sin):
        """t: [B] (one timestep per video) or [B, S] (one per token)."""
        b = x.shape[0]
        bias = (1 - mask) * -10000.0
        x = self.lin("proj_in", x)
        emb = self.lin("time_embed.emb.timestep_embedder.linear_2",
                       F.silu(self.lin("time_embed.emb.timestep_embedder.linear_1", timestep_proj(t.flatten()))))
        temb = self.lin("time_embed.linear", F.silu(emb)).view(b, -1, 6, emb.shape[-1])
        ctx = self.lin("caption_projection.linear_2", F.gelu(self.lin("caption_projection.linear_1", ctx), approximate="tanh"))
        for i in range(self.layers):
            p = f"transformer_blocks.{i}."
            a = self.w[p + "scale_shift_table"][None, None] + temb
            sh, sc, g, sh2, sc2, g2 = a.unbind(2)
            n = rms(x, 1e-6) * (1 + sc) + sh
            x = x + self.attention(p + "attn1.", n, n, cos, sin, None) * g
            x = x + self.attention(p + "attn2.", x, ctx, None, None, bias)
            n = rms(x, 1e-6) * (1 + sc2) + sh2
            x = x + self.lin(p + "ff.net.2", F.gelu(self.lin(p + "ff.net.0.proj", n), approximate="tanh")) * g2
        ss = self.w["scale_shift_table"][None, None] + emb.view(b, -1, 1, emb.shape[-1])
        x = F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + ss[:, :, 1]) + ss[:, :, 0]
        return self.lin("proj_out", x)


def build(path):
    t, meta = load_safetensors(path)
    config, run = json.loads(meta["config"]), json.loads(meta["run"])
    w = {k[len("weights."):]: v for k, v in t.items() if k.startswith("weights.")}
    model = Ltx(w, config)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    cos, sin = rope(*run["latent_fhw"], run["rope_interpolation_scale"], dim)
    args = (t["input.hidden_states"], t["input.encoder_hidden_states"], t["input.encoder_attention_mask"], t["input.timestep"], cos, sin)
    return model, args, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fixture = Path(__file__).resolve().parents[2] / "tests/golden/ltx_transformer.safetensors"
    with torch.no_grad():
        model, args, t = build(fixture)
        err = (model.forward(*args) - t["output.sample"]).abs().max().item()
        model, args, _ = build(a.weights)
        model.forward(*args)
        times = []
        cpu0 = time.process_time()  # CPU-seconds of the process, as flux_dit.report gives
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            model.forward(*args)
            times.append((time.perf_counter() - t0) * 1000)
        cpu_s = (time.process_time() - cpu0) / a.repeats
    print(json.dumps({"torch_ms": statistics.median(times), "torch_cpu_s": cpu_s, "torch": torch.__version__,
                      "threads": a.threads, "fixture_max_error": err}))


if __name__ == "__main__":
    main()
