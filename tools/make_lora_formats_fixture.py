"""Writes tests/golden/lora_formats.safetensors: a small model with diffusers-style Wan names, a LoRA file mixing
LyCORIS LoHa and LoKr modules, full differences (.diff, .diff_b), a PEFT bias (.lora_B.bias) and a convolution
LoRA, and the merged tensors W + strength * dW computed with torch from the formats' definitions (as ComfyUI's
comfy/weight_adapter and LyCORIS merge them):
  LoRA   dW = up.flatten(1) @ down.flatten(1) * alpha/rank             (rank = down.shape[0])
  LoHa   dW = (w1_a @ w1_b) * (w2_a @ w2_b) * alpha/rank                (rank = w1_b.shape[0])
  LoKr   dW = kron(w1, w2) * alpha/rank, w1 = w1_a @ w1_b or lokr_w1, w2 likewise
         (rank = w2_b.shape[0] if w2 is a product, else w1_b.shape[0] if w1 is; 1 = alpha/rank when both are full)
  diff   dW = diff; diff_b: db = diff_b; PEFT lora_B.bias: db = bias * alpha/rank
Tucker factors of convolutions [12, 4, 3, 3] (LyCORIS use_tucker; the einsums of ComfyUI's lora/loha/lokr adapters):
  LoCon  dW[o,i,k,l] = sum up[o,m] mid[m,n,k,l] down[n,i] * alpha/rank     (rank = down.shape[0])
  LoHa   w = einsum("ijkl,jr,ip->prkl", t, w_b, w_a) for each product, rank = w1_b.shape[0]
  LoKr   w2 = the same from lokr_t2, lokr_w2_b, lokr_w2_a; dW = kron(w1[:, :, None, None], w2), rank = w2_b.shape[0]
DoRA (dora_scale / PEFT lora_magnitude_vector), ComfyUI's weight_decompose with strength s on the change:
  V = W + dW, W' = W + s * (m * V / (||V|| + eps) - W), eps = float32 eps, the norm of each row when m has one value
  per output row, else over all rows of each input channel (ComfyUI divides the per-row case by ||W||; LyCORIS and
  PEFT, which train these files, by ||V||, which this follows)
Tensors: weights.<name> (the model), input.<key> (the LoRA file), output.<name> (merged, for every changed tensor).
Run with /usr/bin/python3 (torch 1.13) from the repository root."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import golden_io  # noqa: E402

torch.manual_seed(0)
STRENGTH = 0.75


def r(*shape):
    return torch.randn(*shape)


model = {
    "blocks.0.attn1.to_q.weight": r(12, 20), "blocks.0.attn1.to_q.bias": r(12),
    "blocks.0.attn1.to_k.weight": r(12, 20), "blocks.0.attn1.to_k.bias": r(12),
    "blocks.0.attn1.to_v.weight": r(12, 20), "blocks.0.attn1.to_v.bias": r(12),
    "blocks.0.attn2.to_v.weight": r(12, 12),
    "blocks.0.ffn.net.0.proj.weight": r(24, 12), "blocks.0.ffn.net.0.proj.bias": r(24),
    "blocks.0.norm2.weight": r(12),
    "patch_embedding.weight": r(12, 4, 1, 2, 2),
}
lora, delta = {}, {}


def alpha(stem, a):
    lora[stem + ".alpha"] = torch.tensor(a)
    return a


# LoHa on to_q: ranks 2 and 3, alpha 3.
s = "diffusion_model.blocks.0.self_attn.q"
w1a, w1b, w2a, w2b = r(12, 2), r(2, 20), r(12, 3), r(3, 20)
lora.update({s + ".hada_w1_a": w1a, s + ".hada_w1_b": w1b, s + ".hada_w2_a": w2a, s + ".hada_w2_b": w2b})
delta["blocks.0.attn1.to_q.weight"] = (w1a @ w1b) * (w2a @ w2b) * alpha(s, 3.0) / w1b.shape[0]

# LoKr on to_k: w1 a rank-2 product [3, 4], w2 full [4, 5]; alpha 4 over w1's rank.
s = "diffusion_model.blocks.0.self_attn.k"
k1a, k1b, k2 = r(3, 2), r(2, 4), r(4, 5)
lora.update({s + ".lokr_w1_a": k1a, s + ".lokr_w1_b": k1b, s + ".lokr_w2": k2})
delta["blocks.0.attn1.to_k.weight"] = torch.kron(k1a @ k1b, k2) * alpha(s, 4.0) / k1b.shape[0]

# LoKr on the FFN: w1 full [2, 3], w2 a rank-3 product [12, 4]; alpha 1.5 over w2's rank; and a bias difference.
s = "lora_unet_blocks_0_ffn_0"
k1, k2a, k2b = r(2, 3), r(12, 3), r(3, 4)
lora.update({s + ".lokr_w1": k1, s + ".lokr_w2_a": k2a, s + ".lokr_w2_b": k2b, s + ".diff_b": r(24)})
delta["blocks.0.ffn.net.0.proj.weight"] = torch.kron(k1, k2a @ k2b) * alpha(s, 1.5) / k2b.shape[0]
delta["blocks.0.ffn.net.0.proj.bias"] = lora[s + ".diff_b"]

# LoKr on cross-attention v with both factors full: alpha is not applied.
s = "transformer.blocks.0.attn2.to_v"
k1, k2 = r(4, 2), r(3, 6)
lora.update({s + ".lokr_w1": k1, s + ".lokr_w2": k2})
alpha(s, 7.0)
delta["blocks.0.attn2.to_v.weight"] = torch.kron(k1, k2)

# LoRA with a PEFT bias on to_v (rank 4, alpha 2): the bias is scaled like the matrix.
s = "base_model.model.blocks.0.attn1.to_v"
down, up, b = r(4, 20), r(12, 4), r(12)
lora.update({s + ".lora_A.weight": down, s + ".lora_B.weight": up, s + ".lora_B.bias": b})
a = alpha(s, 2.0)
delta["blocks.0.attn1.to_v.weight"] = up @ down * a / 4
delta["blocks.0.attn1.to_v.bias"] = b * a / 4

# Full difference of a norm (original name norm3) and a convolution LoRA of the patch embedding.
lora["diffusion_model.blocks.0.norm3.diff"] = r(12)
delta["blocks.0.norm2.weight"] = lora["diffusion_model.blocks.0.norm3.diff"]
s = "diffusion_model.patch_embedding"
down, up = r(2, 4, 1, 2, 2), r(12, 2, 1, 1, 1)
lora.update({s + ".lora_down.weight": down, s + ".lora_up.weight": up})
delta["patch_embedding.weight"] = (up.flatten(1) @ down.flatten(1)).reshape(12, 4, 1, 2, 2) * alpha(s, 1.0) / 2

# Tucker factors on three 3x3 convolutions (model tensors added after the others so their draws stay the same).
for name in ("conv_a", "conv_b", "conv_c"):
    model["blocks.0." + name + ".weight"] = r(12, 4, 3, 3)

s = "diffusion_model.blocks.0.conv_a"  # LoCon with a core: up, down 1x1, rank 2, alpha 3
up, mid, down = r(12, 2, 1, 1), r(2, 2, 3, 3), r(2, 4, 1, 1)
lora.update({s + ".lora_up.weight": up, s + ".lora_mid.weight": mid, s + ".lora_down.weight": down})
delta["blocks.0.conv_a.weight"] = torch.einsum("om,mnkl,ni->oikl", up.flatten(1), mid, down.flatten(1)) * alpha(s, 3.0) / 2

s = "lora_unet_blocks_0_conv_b"  # LoHa with cores, ranks 2 and 3, alpha 1
w1a, w1b, t1 = r(2, 12), r(2, 4), r(2, 2, 3, 3)
w2a, w2b, t2 = r(3, 12), r(3, 4), r(3, 3, 3, 3)
lora.update({s + ".hada_w1_a": w1a, s + ".hada_w1_b": w1b, s + ".hada_t1": t1,
             s + ".hada_w2_a": w2a, s + ".hada_w2_b": w2b, s + ".hada_t2": t2})
m1 = torch.einsum("ijkl,jr,ip->prkl", t1, w1b, w1a)
m2 = torch.einsum("ijkl,jr,ip->prkl", t2, w2b, w2a)
delta["blocks.0.conv_b.weight"] = m1 * m2 * alpha(s, 1.0) / 2

s = "transformer.blocks.0.conv_c"  # LoKr, w1 full [2, 2], w2 from a core (rank 2), alpha 5
k1, k2a, k2b, kt = r(2, 2), r(2, 6), r(2, 2), r(2, 2, 3, 3)
lora.update({s + ".lokr_w1": k1, s + ".lokr_w2_a": k2a, s + ".lokr_w2_b": k2b, s + ".lokr_t2": kt})
w2 = torch.einsum("ijkl,jr,ip->prkl", kt, k2b, k2a)
delta["blocks.0.conv_c.weight"] = torch.kron(k1.reshape(2, 2, 1, 1), w2.contiguous()) * alpha(s, 5.0) / 2

tensors = {"weights." + k: v for k, v in model.items()}
tensors.update({"input." + k: v for k, v in lora.items()})
tensors.update({"output." + k: model[k] + STRENGTH * d.reshape(model[k].shape) for k, d in delta.items()})


def weight_decompose(w, dw, m, strength):
    v = w + dw
    if m.shape[0] == w.shape[0]:  # one magnitude per output row
        norm = v.reshape(v.shape[0], -1).norm(dim=1).reshape(-1, *[1] * (v.dim() - 1))
    else:  # per input channel: over the output rows (and kernel) of each
        norm = v.transpose(0, 1).reshape(v.shape[1], -1).norm(dim=1).reshape(1, -1, *[1] * (v.dim() - 2))
    norm = norm + torch.finfo(torch.float32).eps
    return w + strength * (m.reshape(norm.shape) * v / norm - w)


# DoRA: LoRA with a per-channel magnitude [1, 12] (LyCORIS' default), LoHa with a per-row one [12, 1], a PEFT LoRA
# with lora_magnitude_vector [12] (per row), and a LoKr with a per-channel magnitude on a convolution [1, 4, 1, 1].
for name, shape in (("attn2.to_k", (12, 12)), ("attn2.to_q", (12, 12)), ("ffn.net.2", (12, 24)), ("conv_d", (12, 4, 3, 3))):
    model["blocks.0." + name + ".weight"] = r(*shape)
    tensors["weights.blocks.0." + name + ".weight"] = model["blocks.0." + name + ".weight"]


def positive(*shape):
    return torch.rand(*shape) * 1.5 + 0.5


s = "diffusion_model.blocks.0.cross_attn.k"
down, up, m = r(2, 12), r(12, 2), positive(1, 12)
lora.update({s + ".lora_down.weight": down, s + ".lora_up.weight": up, s + ".dora_scale": m})
dw = up @ down * alpha(s, 4.0) / 2
tensors["output.blocks.0.attn2.to_k.weight"] = weight_decompose(model["blocks.0.attn2.to_k.weight"], dw, m, STRENGTH)

s = "lora_unet_blocks_0_cross_attn_q"
w1a, w1b, w2a, w2b, m = r(12, 2), r(2, 12), r(12, 2), r(2, 12), positive(12, 1)
lora.update({s + ".hada_w1_a": w1a, s + ".hada_w1_b": w1b, s + ".hada_w2_a": w2a, s + ".hada_w2_b": w2b, s + ".dora_scale": m})
dw = (w1a @ w1b) * (w2a @ w2b) * alpha(s, 2.0) / 2
tensors["output.blocks.0.attn2.to_q.weight"] = weight_decompose(model["blocks.0.attn2.to_q.weight"], dw, m, STRENGTH)

s = "base_model.model.blocks.0.ffn.net.2"
down, up, m = r(3, 24), r(12, 3), positive(12)
lora.update({s + ".lora_A.weight": down, s + ".lora_B.weight": up, s + ".lora_magnitude_vector": m})
dw = up @ down  # no alpha: alpha/rank = 1
tensors["output.blocks.0.ffn.net.2.weight"] = weight_decompose(model["blocks.0.ffn.net.2.weight"], dw, m, STRENGTH)

s = "diffusion_model.blocks.0.conv_d"
k1, k2, m = r(3, 2), r(4, 2, 3, 3), positive(1, 4, 1, 1)
lora.update({s + ".lokr_w1": k1, s + ".lokr_w2": k2, s + ".dora_scale": m})
dw = torch.kron(k1.reshape(3, 2, 1, 1), k2)
tensors["output.blocks.0.conv_d.weight"] = weight_decompose(model["blocks.0.conv_d.weight"], dw, m, STRENGTH)

tensors.update({"input." + k: v for k, v in lora.items()})
meta = {"class": "LoraMerge", "config": json.dumps({}), "run": json.dumps({"strength": STRENGTH}),
        "generator": "tools/make_lora_formats_fixture.py, torch " + torch.__version__}
golden_io.write("tests/golden/lora_formats.safetensors", tensors, meta)
print("wrote tests/golden/lora_formats.safetensors:", len(tensors), "tensors")
