#!/usr/bin/python3
"""FLUX transformer forward in plain PyTorch (CPU), the baseline for bench/flux_dit_bench.cpp.

A straightforward re-implementation of diffusers' FluxTransformer2DModel forward (v0.33) on the state-dict
keys, checked first against the golden fixture tests/golden/flux_transformer.safetensors (same weights,
same inputs) so that the timing below is of a model that computes the right thing.

usage: bench/torch/flux_dit.py WEIGHTS.safetensors [--threads N] [--repeats R]
  WEIGHTS is written by `lattice-bench --benchmark_filter=flux` (bench/flux_dit_bench.cpp) with its config
  and inputs in the metadata / `input.*` tensors; prints the median forward time in ms.
"""
import argparse, json, math, struct, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def load_safetensors(path):
    data = Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[s:e]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = t.float() if t.is_floating_point() else t
    return tensors, meta


def rope_tables(ids, axes, theta=10000.0):
    cos, sin = [], []
    pos = ids.double()
    for i, d in enumerate(axes):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.outer(pos[:, i], freqs)
        cos.append(ang.cos().repeat_interleave(2, dim=1).float())
        sin.append(ang.sin().repeat_interleave(2, dim=1).float())
    return torch.cat(cos, -1), torch.cat(sin, -1)


def apply_rope(x, cos, sin):  # x [B, H, L, D]
    x2 = x.unflatten(-1, (-1, 2))
    rot = torch.stack([-x2[..., 1], x2[..., 0]], dim=-1).flatten(-2)
    return x * cos + rot * sin


def timestep_proj(t, dim=256):
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / half
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([emb.sin(), emb.cos()], -1)
    return torch.cat([emb[:, half:], emb[:, :half]], -1)


class Flux:
    def __init__(self, w, cfg):
        self.w, self.cfg = w, cfg
        self.H = cfg["num_attention_heads"]
        self.D = cfg["attention_head_dim"]

    def lin(self, x, p):
        return F.linear(x, self.w[p + ".weight"], self.w.get(p + ".bias"))

    def mlp2(self, x, p):
        return self.lin(F.silu(self.lin(x, p + ".linear_1")), p + ".linear_2")

    def ln(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=1e-6)

    def heads(self, x):
        B, L, _ = x.shape
        return x.view(B, L, self.H, self.D).transpose(1, 2)

    def rms(self, x, p):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w[p]

    def attn(self, q, k, v):
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
        o = s.softmax(-1) @ v
        B, H, L, D = o.shape
        return o.transpose(1, 2).reshape(B, L, H * D)

    def forward(self, x, ctx, pooled, t, guidance, cos, sin):
        temb = self.mlp2(timestep_proj(t * 1000), "time_text_embed.timestep_embedder")
        if self.cfg.get("guidance_embeds", True):
            temb = temb + self.mlp2(timestep_proj(guidance * 1000), "time_text_embed.guidance_embedder")
        temb = temb + self.mlp2(pooled, "time_text_embed.text_embedder")
        act = F.silu(temb)
        x = self.lin(x, "x_embedder")
        ctx = self.lin(ctx, "context_embedder")
        St = ctx.shape[1]
        for i in range(self.cfg["num_layers"]):
            p = f"transformer_blocks.{i}."
            e = self.lin(act, p + "norm1.linear").chunk(6, -1)
            c = self.lin(act, p + "norm1_context.linear").chunk(6, -1)
            nx = self.ln(x) * (1 + e[1][:, None]) + e[0][:, None]
            nc = self.ln(ctx) * (1 + c[1][:, None]) + c[0][:, None]
            q = torch.cat([self.rms(self.heads(self.lin(nc, p + "attn.add_q_proj")), p + "attn.norm_added_q.weight"),
                           self.rms(self.heads(self.lin(nx, p + "attn.to_q")), p + "attn.norm_q.weight")], 2)
            k = torch.cat([self.rms(self.heads(self.lin(nc, p + "attn.add_k_proj")), p + "attn.norm_added_k.weight"),
                           self.rms(self.heads(self.lin(nx, p + "attn.to_k")), p + "attn.norm_k.weight")], 2)
            v = torch.cat([self.heads(self.lin(nc, p + "attn.add_v_proj")), self.heads(self.lin(nx, p + "attn.to_v"))], 2)
            o = self.attn(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v)
            x = x + e[2][:, None] * self.lin(o[:, St:], p + "attn.to_out.0")
            nx = self.ln(x) * (1 + e[4][:, None]) + e[3][:, None]
            x = x + e[5][:, None] * self.lin(F.gelu(self.lin(nx, p + "ff.net.0.proj"), approximate="tanh"), p + "ff.net.2")
            ctx = ctx + c[2][:, None] * self.lin(o[:, :St], p + "attn.to_add_out")
            nc = self.ln(ctx) * (1 + c[4][:, None]) + c[3][:, None]
            ctx = ctx + c[5][:, None] * self.lin(F.gelu(self.lin(nc, p + "ff_context.net.0.proj"), approximate="tanh"),
                                                 p + "ff_context.net.2")
        h = torch.cat([ctx, x], 1)
        for i in range(self.cfg["num_single_layers"]):
            p = f"single_transformer_blocks.{i}."
            e = self.lin(act, p + "norm.linear").chunk(3, -1)
            n = self.ln(h) * (1 + e[1][:, None]) + e[0][:, None]
            q = self.rms(self.heads(self.lin(n, p + "attn.to_q")), p + "attn.norm_q.weight")
            k = self.rms(self.heads(self.lin(n, p + "attn.to_k")), p + "attn.norm_k.weight")
            v = self.heads(self.lin(n, p + "attn.to_v"))
            o = self.attn(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v)
            m = F.gelu(self.lin(n, p + "proj_mlp"), approximate="tanh")
            h = h + e[2][:, None] * self.lin(torch.cat([o, m], -1), p + "proj_out")
        x = h[:, St:]
        scale, shift = self.lin(act, "norm_out.linear").chunk(2, -1)
        x = self.ln(x) * (1 + scale[:, None]) + shift[:, None]
        return self.lin(x, "proj_out")


def run(path):
    t, meta = load_safetensors(path)
    cfg = json.loads(meta["config"])
    w = {k[len("weights."):]: v for k, v in t.items() if k.startswith("weights.")}
    model = Flux(w, cfg)
    ids = torch.cat([t["input.txt_ids"], t["input.img_ids"]], 0)
    cos, sin = rope_tables(ids, cfg["axes_dims_rope"])
    args = (t["input.hidden_states"], t["input.encoder_hidden_states"], t["input.pooled_projections"],
            t["input.timestep"], t.get("input.guidance", torch.zeros(1)), cos, sin)
    return model, args, t


def report(forward, a, fixture_error):
    """Times forward() a.repeats times after a warm-up and prints the median with the run's facts as JSON."""
    forward()
    times = []
    cpu0 = time.process_time()  # CPU-seconds of the process (all threads): less moved by other load than wall time
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        forward()
        times.append((time.perf_counter() - t0) * 1000)
    cpu_s = (time.process_time() - cpu0) / a.repeats
    times.sort()
    print(json.dumps({"torch_ms": times[len(times) // 2], "torch_cpu_s": cpu_s, "fixture_max_error": fixture_error,
                      "threads": a.threads, "torch": torch.__version__}))


def bench_args():
    """The command line both baselines take (WEIGHTS [--threads N] [--repeats R]); sets torch's threads."""
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    return a


def main():
    a = bench_args()
    with torch.no_grad():
        golden = Path(__file__).resolve().parents[2] / "tests/golden/flux_transformer.safetensors"
        model, args, t = run(golden)
        err = (model.forward(*args) - t["output.sample"]).abs().max().item()
        if err > 1e-4 * max(1.0, t["output.sample"].abs().max().item()):
            sys.exit(f"flux_dit.py: the PyTorch model does not match the fixture (max error {err})")
        model, args, _ = run(a.weights)
        report(lambda: model.forward(*args), a, err)


if __name__ == "__main__":
    main()
