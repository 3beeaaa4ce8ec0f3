"""Writes tests/golden/lora_formats.safetensors: a small model with diffusers-style Wan names, a LoRA file mixing
LyCORIS LoHa and LoKr modules, full differences (.diff, .diff_b), a PEFT bias (.lora_B.bias) and a convolution
LoRA, and the merged tensors W + strength * dW computed with torch from the formats' definitions (as ComfyUI's
comfy/weight_adapter and LyCORIS merge them):
  LoRA   dW = up.flatten(1) @ down.flatten(1) * alpha/rank             (rank = down.shape[0])
  LoHa   dW = (w1_a @ w1_b) * (w2_a @ w2_b) * alpha/rank                (rank = w1_b.shape[0])
  LoKr   dW = kron(w1, w2) * alpha/rank, w1 = w1_a @ w1_b or lokr_w1, w2 likewise
         (rank = w2_b.shape[0] if w2 is a product, else w1_b.shape[0] if w1 is; 1 = alpha/rank when both are full)
  diff   dW = diff; diff_b: db = diff_b; PEFT lora_B.bias: db = bias * alpha/rank
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

tensors = {"weights." + k: v for k, v in model.items()}
tensors.update({"input." + k: v for k, v in lora.items()})
tensors.update({"output." + k: model[k] + STRENGTH * d.reshape(model[k].shape) for k, d in delta.items()})
meta = {"class": "LoraMerge", "config": json.dumps({}), "run": json.dumps({"strength": STRENGTH}),
        "generator": "tools/make_lora_formats_fixture.py, torch " + torch.__version__}
golden_io.write("tests/golden/lora_formats.safetensors", tensors, meta)
print("wrote tests/golden/lora_formats.safetensors:", len(tensors), "tensors")
