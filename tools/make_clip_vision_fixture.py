#!/usr/bin/python3
"""Writes reference fixtures for the CLIP vision encoder and its image preprocessing, in the conventions of
tests/golden/README.md:

  clip_vision_encoder.safetensors         CLIPVisionModelWithProjection (OpenCLIP ViT-H style: gelu), batch 2
  clip_vision_encoder_openai.safetensors  CLIPVisionModel (OpenAI style: quick_gelu; the config's projection_dim
                                          is there, as in transformers, but this class has no projection), batch 1
  clip_image_processor.safetensors        CLIPImageProcessor as WanImageToVideoPipeline uses it

This machine has neither transformers nor PIL, so both are written here in plain PyTorch 1.13 / NumPy from
reading transformers' modeling_clip.py and image_transforms.py and Pillow's libImaging/Resample.c:

* Model: patch embedding = Conv2d(3, C, patch, stride patch, no bias); tokens = [class_embedding, patches
  row-major] + position_embedding; pre_layrnorm; N pre-norm layers (layer_norm1 -> self-attention with biased
  q/k/v/out_proj, full (non-causal) softmax(QK^T / sqrt(d)) V in float32 -> residual; layer_norm2 -> fc1 ->
  act -> fc2 -> residual); last_hidden_state = last layer's output (no norm); hidden_states[-2] = input of the
  last layer; pooler_output = post_layernorm(last_hidden_state[:, 0]); image_embeds = visual_projection(pooled)
  (no bias). Random weights follow the golden rule (>=2-D: N(0,1)/sqrt(fan_in); biases 0.1 N(0,1); norm
  scales 1 + 0.1 N(0,1)); class_embedding N(0,1).
* Processor: RGB conversion (grey replicated, alpha dropped); resize the shortest side to
  size.shortest_edge (other side int(size * long / short)) with PIL's 8-bit bicubic resample (a = -0.5,
  support 2 scaled by the shrink factor, weights normalised then rounded to 22-bit fixed point, horizontal
  pass then vertical, each rounded and clamped to 0..255, a pass skipped when its size is unchanged);
  center crop at ((H - h) // 2, (W - w) // 2); float32(float64(v) * (1/255)); (x - mean) / std in float32
  with OpenAI's CLIP mean/std.

Run: /usr/bin/python3 tools/make_clip_vision_fixture.py OUT_DIR  (byte-identical on every run)
"""
import json
import os
import sys

import numpy as np
import torch

from golden_io import randomise, write

F = torch.nn.functional

# 24 wide with 257 tokens: the image_dim and token count of tests/golden/wan_transformer_i2v.safetensors.
VIT_H_LIKE = {"hidden_size": 24, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 3,
              "num_channels": 3, "image_size": 32, "patch_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
              "projection_dim": 20, "attention_dropout": 0.0, "model_type": "clip_vision_model"}
OPENAI_LIKE = dict(VIT_H_LIKE, hidden_size=16, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
                   image_size=28, patch_size=7, hidden_act="quick_gelu", projection_dim=512)
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
PROCESSOR = {"do_convert_rgb": True, "do_resize": True, "size": {"shortest_edge": 224}, "resample": 3,
             "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, "do_rescale": True,
             "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": OPENAI_MEAN, "image_std": OPENAI_STD,
             "image_processor_type": "CLIPImageProcessor"}


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.layer_norm1 = torch.nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.self_attn = torch.nn.ModuleDict({n: torch.nn.Linear(d, d) for n in ("k_proj", "v_proj", "q_proj", "out_proj")})
        self.layer_norm2 = torch.nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = torch.nn.ModuleDict({"fc1": torch.nn.Linear(d, c["intermediate_size"]),
                                        "fc2": torch.nn.Linear(c["intermediate_size"], d)})
        self.heads = c["num_attention_heads"]
        self.act = c["hidden_act"]

    def attention(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        split = lambda t: t.reshape(b, n, self.heads, hd).transpose(1, 2)  # [b, heads, n, hd]
        q, k, v = (split(self.self_attn[p](x)) for p in ("q_proj", "k_proj", "v_proj"))
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * hd ** -0.5, dim=-1)
        return self.self_attn["out_proj"](torch.matmul(w, v).transpose(1, 2).reshape(b, n, d))

    def forward(self, x):
        x = x + self.attention(self.layer_norm1(x))
        h = self.mlp["fc1"](self.layer_norm2(x))
        h = F.gelu(h) if self.act == "gelu" else h * torch.sigmoid(1.702 * h)
        return x + self.mlp["fc2"](h)


class VisionTransformer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.embeddings = torch.nn.Module()
        self.embeddings.class_embedding = torch.nn.Parameter(torch.zeros(d))
        self.embeddings.patch_embedding = torch.nn.Conv2d(c["num_channels"], d, p, stride=p, bias=False)
        self.embeddings.position_embedding = torch.nn.Embedding((c["image_size"] // p) ** 2 + 1, d)
        self.pre_layrnorm = torch.nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.encoder = torch.nn.Module()
        self.encoder.layers = torch.nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.post_layernorm = torch.nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, pixels):
        e = self.embeddings
        patches = e.patch_embedding(pixels).flatten(2).transpose(1, 2)  # [b, grid^2, d]
        x = torch.cat([e.class_embedding.expand(pixels.shape[0], 1, -1), patches], dim=1) + e.position_embedding.weight
        x = self.pre_layrnorm(x)
        hidden_states = [x]
        for layer in self.encoder.layers:
            x = layer(x)
            hidden_states.append(x)
        return x, hidden_states, self.post_layernorm(x[:, 0])


class VisionModel(torch.nn.Module):
    def __init__(self, c, with_projection):
        super().__init__()
        self.vision_model = VisionTransformer(c)
        if with_projection:
            self.visual_projection = torch.nn.Linear(c["hidden_size"], c["projection_dim"], bias=False)


def fill_class_embedding(name, p):
    if name.endswith("class_embedding"):
        p.copy_(torch.randn(p.shape))
        return True
    return False


def model_fixture(path, config, with_projection, seed, batch):
    torch.manual_seed(seed)
    model = VisionModel(config, with_projection)
    randomise(model, fill_class_embedding)
    with torch.no_grad():
        pixels = torch.rand(batch, config["num_channels"], config["image_size"], config["image_size"]) * 4 - 2
        last, hidden_states, pooled = model.vision_model(pixels)
        tensors = {"weights." + k: v for k, v in model.state_dict().items()}
        tensors["input.pixel_values"] = pixels
        tensors["output.last_hidden_state"] = last
        tensors["output.hidden_states_penultimate"] = hidden_states[-2]
        tensors["output.pooler_output"] = pooled
        if with_projection:
            tensors["output.image_embeds"] = model.visual_projection(pooled)
    cls = "CLIPVisionModelWithProjection" if with_projection else "CLIPVisionModel"
    meta = {"class": cls, "component": os.path.basename(path)[: -len(".safetensors")], "config": json.dumps(config),
            "run": json.dumps({"batch": batch, "output_hidden_states": True}),
            "reference": "tools/make_clip_vision_fixture.py (plain PyTorch after transformers modeling_clip.py)",
            "torch": torch.__version__, "seed": str(seed)}
    write(path, tensors, meta)


# --- CLIPImageProcessor -------------------------------------------------------------------------------------

def bicubic(x):
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def pil_taps(in_size, out_size):
    """Per output pixel: first input index and 22-bit fixed-point weights (PIL's precompute_coeffs)."""
    scale = float(np.float32(in_size)) / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    ss = 1.0 / filterscale
    taps = []
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [bicubic((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        total = 0.0
        for v in w:
            total += v
        if total != 0.0:
            w = [v / total for v in w]
        fixed = [int(-0.5 + v * (1 << 22)) if v < 0 else int(0.5 + v * (1 << 22)) for v in w]
        taps.append((xmin, np.array(fixed, dtype=np.int64)))
    return taps


def pil_pass(img, out_size, axis):
    """One 8-bit pass along axis 1 (horizontal) or 0 (vertical) of an [H, W, 3] uint8 image."""
    src = np.moveaxis(img.astype(np.int64), axis, 0)  # [in, other, 3]
    out = np.empty((out_size,) + src.shape[1:], dtype=np.uint8)
    for o, (first, k) in enumerate(pil_taps(src.shape[0], out_size)):
        acc = (1 << 21) + np.tensordot(k, src[first:first + len(k)], axes=(0, 0))
        out[o] = np.clip(acc >> 22, 0, 255)
    return np.moveaxis(out, 0, axis)


def pil_resize_bicubic(img, width, height):
    if width != img.shape[1]:
        img = pil_pass(img, width, 1)
    if height != img.shape[0]:
        img = pil_pass(img, height, 0)
    return img


def clip_process(img, shortest_edge, crop):
    if img.shape[2] < 3:
        img = np.repeat(img[:, :, :1], 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    nh, nw = (new_long, new_short) if w <= h else (new_short, new_long)
    img = pil_resize_bicubic(img, nw, nh)
    top, left = (img.shape[0] - crop) // 2, (img.shape[1] - crop) // 2
    img = img[top:top + crop, left:left + crop]
    x = (img.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(OPENAI_MEAN, dtype=np.float32)) / np.array(OPENAI_STD, dtype=np.float32)
    return x.transpose(2, 0, 1)[None]  # [1, 3, crop, crop]


def test_image(rng, h, w, channels):
    """Smooth gradients plus noise and a few hard edges: exercises the filter's overshoot clamping."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 5.0 + c) * np.cos(y / 7.0 - c) for c in range(channels)], axis=2)
    base[(x // 6 + y // 5) % 3 == 0] = 255
    base[(x + 2 * y) % 11 == 0] = 0
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).round().astype(np.uint8)


def check_against_torch():
    """Cross-check of the resample: torch's antialiased bicubic interpolate follows PIL's filter in float (no
    8-bit rounding between passes), so on a smooth image (no clamping) the two differ by at most ~1 level."""
    for h, w, nh, nw in [(60, 80, 32, 42), (13, 20, 32, 49), (180, 260, 224, 324)]:
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([128 + 60 * np.sin(x / 5.0 + c) * np.cos(y / 7.0 - c) for c in range(3)], 2).round().astype(np.uint8)
        t = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]
        ref = F.interpolate(t, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)[0].permute(1, 2, 0).numpy()
        err = np.abs(pil_resize_bicubic(img, nw, nh).astype(np.float64) - ref).max()
        assert err < 1.5, f"resample disagrees with torch's antialiased bicubic by {err}"


def processor_fixture(path, seed):
    check_against_torch()
    rng = np.random.default_rng(seed)
    cases = [  # name, H, W, channels, shortest_edge, crop
        ("down", 60, 80, 4, 32, 32),        # RGBA, shrink 60 -> 32 (alpha dropped)
        ("up", 13, 20, 1, 32, 32),          # grey, enlarge 13 -> 32
        ("crop_only", 41, 32, 3, 32, 32),   # shortest side already 32: no resampling
        ("portrait", 71, 47, 3, 32, 32),    # odd sizes, 47 -> 32, 71 -> 48
        ("wan", 180, 260, 3, 224, 224),     # Wan's real configuration, 180 -> 224
    ]
    tensors, run = {}, []
    for name, h, w, ch, edge, crop in cases:
        img = test_image(rng, h, w, ch)
        tensors["input.image." + name] = img
        tensors["output.pixel_values." + name] = clip_process(img, edge, crop)
        run.append({"name": name, "shortest_edge": edge, "crop": crop})
    meta = {"class": "CLIPImageProcessor", "component": "clip_image_processor", "config": json.dumps(PROCESSOR),
            "run": json.dumps({"cases": run}),
            "reference": "tools/make_clip_vision_fixture.py (NumPy after transformers image_transforms.py and "
                         "Pillow Resample.c)",
            "format": "input.image.NAME: U8 [H, W, channels] as the file holds it; output: [1, 3, crop, crop]",
            "seed": str(seed)}
    write(path, tensors, meta)


def main():
    out = sys.argv[1]
    torch.set_num_threads(2)
    model_fixture(os.path.join(out, "clip_vision_encoder.safetensors"), VIT_H_LIKE, True, 2031, 2)
    model_fixture(os.path.join(out, "clip_vision_encoder_openai.safetensors"), OPENAI_LIKE, False, 2032, 1)
    processor_fixture(os.path.join(out, "clip_image_processor.safetensors"), 2033)


if __name__ == "__main__":
    main()
