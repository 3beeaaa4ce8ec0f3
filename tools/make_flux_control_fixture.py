"""Writes tests/golden/flux_control.safetensors: FLUX.1 structural control (Canny/Depth) on the tiny FLUX transformer of
tests/golden/flux_transformer.safetensors (diffusers FluxTransformer2DModel, v0.33.0), with the reference math of
diffusers' FluxControlPipeline and FluxLoraLoaderMixin (ComfyUI merges these LoRAs the same way):

1. A full control checkpoint and its forward. FluxControlPipeline packs the noisy latents and the control image's latents
   (_pack_latents: [B, C, h, w] -> [B, (h/2)(w/2), 4C], channel-major within each 2x2 patch) and feeds
   torch.cat([latents, control], dim=2) to a transformer whose x_embedder takes 2 x 64 channels. The reference output
   comes from the diffusers golden: the control model's x_embedder is [Wa, Wa @ M] (Wa the golden's [32, 64], M a random
   [64, 64]), the control latents c are random and the noisy latents are chosen as x = x_g - c @ M^T (x_g the golden's
   packed input), so that Wa x + (Wa M) c = Wa x_g: the control forward equals the golden forward (output.sample).
   Stored: control.x_embedder.weight (the rest of the control checkpoint is weights.*), input.latents and input.control
   unpacked [1, 16, 8, 6], output.hidden_states (the packed, concatenated transformer input [1, 12, 128]).

2. A control LoRA on the base (golden) transformer, in BFL names (lora_bfl.<key>, as flux1-canny-dev-lora: img_in with
   128 input columns, lora_B biases, fused qkv / linear1, final_layer.adaLN_modulation.1, bare q/k norm scales) and the same
   LoRA in diffusers names (lora_diffusers.<key>, as diffusers' _convert_bfl_flux_control_lora_to_diffusers writes it,
   prefixed "transformer."). Merged at run.strength (no alpha keys: alpha/rank = 1):
     x_embedder.weight = cat([W, 0], dim=1) + s * B @ A   (_maybe_expand_transformer_param_shape_or_error_: zero columns)
     every other LoRA module: W + s * B @ A (qkv / linear1 rows split over to_q, to_k, to_v[, proj_mlp]; final_layer's
     rows with their halves swapped for norm_out.linear), biases b + s * lora_B.bias
     norm scales: the LoRA's value, whatever the strength (_load_norm_into_transformer loads them as they are)
   output.merged.<diffusers name> for every tensor the LoRA changes.
Run with /usr/bin/python3 (torch 1.13) from the repository root."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import golden_io  # noqa: E402

GOLDEN = "tests/golden/flux_transformer.safetensors"
STRENGTH = 0.8
RANK = 2


def pack(x):  # FluxPipeline._pack_latents
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(x, h, w):  # FluxPipeline._unpack_latents (latent sizes)
    b, s, c = x.shape
    return x.view(b, h // 2, w // 2, c // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c // 4, h, w)


g, gmeta = golden_io.read(GOLDEN)
cfg, run = json.loads(gmeta["config"]), json.loads(gmeta["run"])
h, w = run["latent_h"], run["latent_w"]
W = {k[len("weights."):]: v for k, v in g.items() if k.startswith("weights.")}
inner = W["x_embedder.weight"].shape[0]
head = cfg["attention_head_dim"]
mlp = W["single_transformer_blocks.0.proj_mlp.weight"].shape[0]
torch.manual_seed(0)
tensors = {"weights." + k: v for k, v in W.items()}
for k in ("encoder_hidden_states", "pooled_projections", "timestep", "guidance", "img_ids", "txt_ids"):
    tensors["input." + k] = g["input." + k]

# 1. The control checkpoint's forward, equal to the golden's by construction.
wa = W["x_embedder.weight"]
m = torch.randn(64, 64) / 8
control = torch.randn(1, 16, h, w)
c = pack(control)
x = g["input.hidden_states"] - c @ m.T
latents = unpack(x, h, w)
assert torch.equal(pack(latents), x)
hidden = torch.cat([pack(latents), c], dim=2)  # FluxControlPipeline: torch.cat([latents, control_image], dim=2)
wide = torch.cat([wa, wa @ m], dim=1)
embedded = hidden @ wide.T + W["x_embedder.bias"]
err = (embedded - g["intermediate.x_embedder"]).abs().max().item()
assert err < 1e-5, err
tensors["control.x_embedder.weight"] = wide
tensors["input.latents"] = latents
tensors["input.control"] = control
tensors["output.hidden_states"] = hidden
tensors["output.sample"] = g["output.sample"]


# 2. A control LoRA in BFL names, its diffusers conversion, and the merge.
def r(*shape):
    return torch.randn(*shape) * 0.5


bfl, dif, merged = {}, {}, {}


def lora(bfl_module, targets, in_features, bias=True, swap=False):
    """A rank-2 module over `targets` [(diffusers module, rows)], rows in order (halves swapped with `swap`)."""
    rows = sum(n for _, n in targets)
    a, b = r(RANK, in_features), r(rows, RANK)
    bb = r(rows) if bias else None
    bfl[bfl_module + ".lora_A.weight"], bfl[bfl_module + ".lora_B.weight"] = a, b
    if bias:
        bfl[bfl_module + ".lora_B.bias"] = bb
    if swap:  # BFL (shift, scale) -> diffusers (scale, shift)
        b = torch.cat([b[rows // 2:], b[:rows // 2]])
        bb = torch.cat([bb[rows // 2:], bb[:rows // 2]]) if bias else None
    at = 0
    for name, n in targets:
        dif["transformer." + name + ".lora_A.weight"] = a
        dif["transformer." + name + ".lora_B.weight"] = b[at:at + n]
        base = W[name + ".weight"]
        if base.shape[1] < in_features:  # x_embedder widened with zero columns
            base = torch.cat([base, torch.zeros(base.shape[0], in_features - base.shape[1])], dim=1)
        merged[name + ".weight"] = base + STRENGTH * (b[at:at + n] @ a)
        if bias:
            dif["transformer." + name + ".lora_B.bias"] = bb[at:at + n]
            merged[name + ".bias"] = W[name + ".bias"] + STRENGTH * bb[at:at + n]
        at += n


def norm(bfl_key, name):
    v = 1 + 0.1 * torch.randn(head)
    bfl[bfl_key] = v
    dif["transformer." + name + ".weight"] = v
    merged[name + ".weight"] = v


lora("img_in", [("x_embedder", inner)], 128)
lora("double_blocks.0.img_attn.qkv", [("transformer_blocks.0.attn." + n, inner) for n in ("to_q", "to_k", "to_v")], inner)
lora("double_blocks.0.txt_mlp.0", [("transformer_blocks.0.ff_context.net.0.proj", mlp)], inner)
lora("single_blocks.1.linear1", [("single_transformer_blocks.1.attn." + n, inner) for n in ("to_q", "to_k", "to_v")] +
     [("single_transformer_blocks.1.proj_mlp", mlp)], inner)
lora("final_layer.adaLN_modulation.1", [("norm_out.linear", 2 * inner)], inner, swap=True)
lora("guidance_in.in_layer", [("time_text_embed.guidance_embedder.linear_1", inner)], 256, bias=False)
norm("double_blocks.0.img_attn.norm.query_norm.scale", "transformer_blocks.0.attn.norm_q")
norm("double_blocks.0.img_attn.norm.key_norm.scale", "transformer_blocks.0.attn.norm_k")
norm("double_blocks.0.txt_attn.norm.query_norm.scale", "transformer_blocks.0.attn.norm_added_q")
norm("single_blocks.1.norm.key_norm.scale", "single_transformer_blocks.1.attn.norm_k")

tensors.update({"lora_bfl." + k: v for k, v in bfl.items()})
tensors.update({"lora_diffusers." + k: v for k, v in dif.items()})
tensors.update({"output.merged." + k: v for k, v in merged.items()})
config = dict(cfg, in_channels=128, out_channels=64)
meta = {"class": "FluxControl", "component": "flux_control", "config": json.dumps(config),
        "run": json.dumps(dict(run, strength=STRENGTH)),
        "generator": "tools/make_flux_control_fixture.py from " + GOLDEN + ", torch " + torch.__version__}
golden_io.write("tests/golden/flux_control.safetensors", tensors, meta)
print("wrote tests/golden/flux_control.safetensors:", len(tensors), "tensors; x_embedder check", err)
