#!/usr/bin/python3
"""Writes tests/golden/ltx_condition_sampler.safetensors: LTXConditionPipeline's conditioning and denoising loop
(diffusers v0.33+, pipelines/ltx/pipeline_ltx_condition.py: prepare_latents, the loop of __call__, and
FlowMatchEulerDiscreteScheduler.step with per_token_timesteps) on the tiny transformer of
tests/golden/ltx_transformer.safetensors, for tests/nodes/models/ltx/conditions_test.cpp.

This machine has no diffusers, so the pipeline's math is written again here in plain PyTorch, step for step
(the transformer forward is bench/torch/ltx_dit.py, checked there against the golden forward). What is not the
reference pipeline, on purpose, to match what Lattice implements: conditions are given as normalised latents
(no VAE encode), the noise of appended conditions is given, the schedule is LTXPipeline's (dynamic shift, shift
terminal 0.1; the condition pipeline's default is linear-quadratic) and image_cond_noise_scale is 0.

Case: latent video [1, 16, 4, 2, 3] (25 frames), 3 steps, guidance 3 (negative: the same states, every text
token attended), frame rate 25, conditions (frame_index in video frames):
  0: an image at frame 0, strength 0.8 (replaces latent frame 0, blended, held until sigma < 0.2)
  1: an image at frame 24, strength 1 (appended: 6 tokens at frame 24)
  2: a 3-latent-frame clip at frame 8, strength 0.6 (its third frame blends into latent frame 3, its first two
     are appended, blended with noise)
Stored: input.* (noise, condition latents and noise, negative mask), the schedule (input.sigmas), the prepared
tokens (output.prepared.latents [1, 42, 16], .mask [1, 42], .coords [1, 3, 42] after the frame-rate scaling),
the packed state after each step (output.step.K, K = 1..3) and the final latents (output.latents); and the
pipeline's default schedule (linear_quadratic_schedule through set_timesteps with shift_terminal 0.1) for 2, 3, 8,
30 and 50 steps (output.linear_quadratic.N, with the terminal 0).
Case b (input.b.*, output.b.*, run.b): refining input.b.start with denoise_strength 0.5 of 4 steps on that schedule
(the last 2 steps, from sigma·noise + (1 - sigma)·start), no CFG, an image at frame 0 (strength 1) and a keyframe
at frame 16 (strength 0.7).
The fixture is self-contained for `lattice --run-fixture`: the transformer's config and weights
(config.transformer, weights.transformer.*), the scheduler config that ltx_schedule below implements
(config.scheduler) and the text states and mask (input.encoder_hidden_states, input.encoder_attention_mask) are
copied from tests/golden/ltx_transformer.safetensors.
Run: /usr/bin/python3 tools/ltx_condition_fixture.py tests/golden/ltx_condition_sampler.safetensors
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from golden_io import read, write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench/torch"))
from ltx_dit import Ltx, rope_at  # noqa: E402

TEMPORAL, SPATIAL, PREFIX = 8, 32, 2
STEPS, GUIDANCE, FRAME_RATE = 3, 3.0, 25
F, H, W, C = 4, 2, 3, 16
CONDITIONS = [(1, 0, 0.8), (1, 24, 1.0), (3, 8, 0.6)]  # (latent frames, frame_index, strength)
LINEAR_QUADRATIC_STEPS = [2, 3, 8, 30, 50]
STEPS_B, DENOISE_STRENGTH_B = 4, 0.5
CONDITIONS_B = [(1, 0, 1.0), (1, 16, 0.7)]


def ltx_schedule(steps, seq_len):
    """LTXPipeline: sigmas linspace(1, 1/n, n) -> FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas, mu)."""
    sigmas = np.linspace(1.0, 1 / steps, steps)
    m = (2.05 - 0.95) / (4096 - 1024)
    mu = seq_len * m + (0.95 - m * 1024)
    sigmas = np.array(sigmas).astype(np.float32)
    sigmas = math.exp(mu) / (math.exp(mu) + (1 / sigmas - 1) ** 1.0)  # time_shift exponential
    one_minus_z = 1 - sigmas  # stretch_shift_to_terminal(0.1)
    scale_factor = one_minus_z[-1] / (1 - 0.1)
    sigmas = 1 - (one_minus_z / scale_factor)
    sigmas = torch.from_numpy(sigmas).to(dtype=torch.float32)
    timesteps = sigmas * 1000
    return torch.cat([sigmas, torch.zeros(1)]), timesteps


def linear_quadratic_schedule(num_steps, threshold_noise=0.025):
    """ltx_video/schedulers/rf.py as LTXConditionPipeline has it (linear_steps = num_steps // 2)."""
    linear_steps = num_steps // 2
    if num_steps < 2:
        return torch.tensor([1.0])
    linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
    step_diff = linear_steps - threshold_noise * num_steps
    quadratic_steps = num_steps - linear_steps
    quadratic_coef = step_diff / (linear_steps * quadratic_steps**2)
    linear_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps**2)
    const = quadratic_coef * (linear_steps**2)
    quadratic = [quadratic_coef * (i**2) + linear_coef * i + const for i in range(linear_steps, num_steps)]
    schedule = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.tensor(schedule[:-1])


def condition_pipeline_sigmas(steps):
    """The pipeline passes timesteps = sigmas·1000 to set_timesteps (no mu): back to sigmas in float32, the
    static shift (1: none) and the stretch to shift_terminal 0.1, then the terminal 0."""
    timesteps = np.array(linear_quadratic_schedule(steps) * 1000).astype(np.float32)
    sigmas = timesteps / 1000
    shift = 1.0
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    one_minus_z = 1 - sigmas
    scale_factor = one_minus_z[-1] / (1 - 0.1)
    sigmas = 1 - (one_minus_z / scale_factor)
    return torch.cat([torch.from_numpy(sigmas).to(dtype=torch.float32), torch.zeros(1)])


def prepare_video_ids(batch, frames, height, width):
    c = torch.meshgrid(torch.arange(0, frames, 1), torch.arange(0, height, 1), torch.arange(0, width, 1), indexing="ij")
    c = torch.stack(c, dim=0)
    return c.unsqueeze(0).repeat(batch, 1, 1, 1, 1).reshape(batch, -1, frames * height * width)


def scale_video_ids(ids, frame_index=0):
    s = ids * torch.tensor([TEMPORAL, SPATIAL, SPATIAL])[None, :, None]
    s[:, 0] = (s[:, 0] + 1 - TEMPORAL).clamp(min=0)
    s[:, 0] += frame_index
    return s


def pack(latents):  # patch 1: [B, C, F, H, W] -> [B, F*H*W, C]
    return latents.permute(0, 2, 3, 4, 1).flatten(1, 3)


def prepare_latents(latents, conditions):
    """LTXConditionPipeline.prepare_latents after the VAE encode; conditions: (latent, strength, frame_index, noise)."""
    frames_mask = torch.zeros((1, F), dtype=torch.float32)
    extra_latents, extra_ids, extra_mask, extra_num = [], [], [], 0
    for cond, strength, frame_index, noise in conditions:
        num_cond_frames = cond.size(2)
        if frame_index == 0:
            latents[:, :, :num_cond_frames] = torch.lerp(latents[:, :, :num_cond_frames], cond, strength)
            frames_mask[:, :num_cond_frames] = strength
        else:
            if num_cond_frames > 1:  # num_data_frames > 1: a clip
                if num_cond_frames > PREFIX:
                    start = frame_index // TEMPORAL + PREFIX
                    end = start + num_cond_frames - PREFIX
                    latents[:, :, start:end] = torch.lerp(latents[:, :, start:end], cond[:, :, PREFIX:], strength)
                    frames_mask[:, start:end] = strength
                    cond = cond[:, :, :PREFIX]
            cond = torch.lerp(noise, cond, strength)
            ids = scale_video_ids(prepare_video_ids(1, cond.size(2), H, W), frame_index)
            cond = pack(cond)
            extra_latents.append(cond)
            extra_ids.append(ids)
            extra_mask.append(torch.full(cond.shape[:2], strength, dtype=torch.float32))
            extra_num += cond.size(1)
    video_ids = prepare_video_ids(1, F, H, W)
    mask = frames_mask.gather(1, video_ids[:, 0])
    video_ids = scale_video_ids(video_ids, 0)
    latents = pack(latents)
    latents = torch.cat([*extra_latents, latents], dim=1)
    video_ids = torch.cat([*extra_ids, video_ids], dim=2)
    mask = torch.cat([*extra_mask, mask], dim=1)
    return latents, mask, video_ids, extra_num


def scheduler_step(model_output, sample, per_token_timesteps, sigmas):
    """FlowMatchEulerDiscreteScheduler.step with per_token_timesteps (no stochastic sampling)."""
    per_token_sigmas = per_token_timesteps / 1000
    s = sigmas[:, None, None]
    lower_mask = s < per_token_sigmas[None] - 1e-6
    lower_sigmas, _ = (lower_mask * s).max(dim=0)
    dt = per_token_sigmas[..., None] - lower_sigmas[..., None]
    return sample + dt * model_output


def draw_conditions(tensors, prefix, spec):
    conditions = []
    for i, (f, frame_index, strength) in enumerate(spec):
        latent = torch.randn(1, C, f, H, W)
        tensors[f"input.{prefix}condition.{i}.latent"] = latent
        noise = None
        if frame_index > 0:
            noise = torch.randn(1, C, min(f, PREFIX), H, W)
            tensors[f"input.{prefix}condition.{i}.noise"] = noise
        conditions.append((latent, strength, frame_index, noise))
    return conditions


def run_case(model, dim, tensors, prefix, latents, conditions, sigmas, timesteps, guidance, embeds, cond_mask, neg_mask):
    """prepare_latents, the video coordinates, then the denoising loop of __call__; stores output.<prefix>*."""
    cfg = guidance > 1.0
    latents, mask, coords, extra = prepare_latents(latents, conditions)
    coords = coords.float()
    coords[:, 0] = coords[:, 0] * (1.0 / FRAME_RATE)
    tensors[f"output.{prefix}prepared.latents"] = latents.clone()
    tensors[f"output.{prefix}prepared.mask"] = mask.clone()
    tensors[f"output.{prefix}prepared.coords"] = coords.clone()
    cos, sin = rope_at(coords[0].t(), dim)  # the transformer's rope from video_coords
    context = torch.cat([embeds, embeds], 0) if cfg else embeds
    text_mask = torch.cat([neg_mask, cond_mask], 0) if cfg else cond_mask
    for i, ts in enumerate(timesteps):
        latent_model_input = torch.cat([latents] * 2) if cfg else latents
        mask_model_input = torch.cat([mask, mask]) if cfg else mask
        timestep = ts.expand(latent_model_input.shape[0]).unsqueeze(-1).float()
        timestep = torch.min(timestep, (1 - mask_model_input) * 1000.0)
        noise_pred = model.forward(latent_model_input, context, text_mask, timestep, cos, sin)
        if cfg:
            uncond, text = noise_pred.chunk(2)
            noise_pred = uncond + guidance * (text - uncond)
            timestep, _ = timestep.chunk(2)
        denoised = scheduler_step(-noise_pred, latents, timestep, sigmas)
        to_denoise = (ts / 1000 - 1e-6 < (1.0 - mask)).unsqueeze(-1)
        latents = torch.where(to_denoise, denoised, latents)
        tensors[f"output.{prefix}step.{i + 1}"] = latents.clone()
    latents = latents[:, extra:]
    tensors[f"output.{prefix}latents"] = latents.reshape(1, F, H, W, C).permute(0, 4, 1, 2, 3)  # _unpack_latents
    return extra


def main():
    out_path = sys.argv[1]
    t, meta = read(ROOT / "tests/golden/ltx_transformer.safetensors")
    config = json.loads(meta["config"])
    model = Ltx({k[len("weights."):]: v for k, v in t.items() if k.startswith("weights.")}, config)
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    embeds, cond_mask = t["input.encoder_hidden_states"], t["input.encoder_attention_mask"]
    neg_mask = torch.ones_like(cond_mask)

    torch.manual_seed(20261124)
    tensors = {"input.noise": torch.randn(1, C, F, H, W), "input.negative_mask": neg_mask}
    conditions = draw_conditions(tensors, "", CONDITIONS)
    sigmas, timesteps = ltx_schedule(STEPS, F * H * W)
    tensors["input.sigmas"] = sigmas
    for n in LINEAR_QUADRATIC_STEPS:
        tensors[f"output.linear_quadratic.{n}"] = condition_pipeline_sigmas(n)
    with torch.no_grad():
        extra = run_case(model, dim, tensors, "", tensors["input.noise"].clone(), conditions, sigmas, timesteps,
                         GUIDANCE, embeds, cond_mask, neg_mask)

    # Case b: refining start latents (denoise_strength) on the pipeline's default schedule, no CFG.
    tensors["input.b.noise"] = torch.randn(1, C, F, H, W)
    tensors["input.b.start"] = torch.randn(1, C, F, H, W)
    conditions_b = draw_conditions(tensors, "b.", CONDITIONS_B)
    sigmas_b = condition_pipeline_sigmas(STEPS_B)
    timesteps_b = sigmas_b[:-1] * 1000
    num_steps = min(int(STEPS_B * DENOISE_STRENGTH_B), STEPS_B)  # get_timesteps
    start_index = max(STEPS_B - num_steps, 0)
    sigma = sigmas_b[start_index:][:1]
    with torch.no_grad():
        latents_b = sigma * tensors["input.b.noise"] + (1 - sigma) * tensors["input.b.start"]  # prepare_latents
        extra_b = run_case(model, dim, tensors, "b.", latents_b, conditions_b, sigmas_b, timesteps_b[start_index:], 1.0,
                           embeds, cond_mask, neg_mask)

    # What the loop ran on, so that the fixture alone rebuilds it (nothing above reads these).
    for k, v in t.items():
        if k.startswith("weights."):
            tensors["weights.transformer." + k[len("weights."):]] = v
    tensors["input.encoder_hidden_states"], tensors["input.encoder_attention_mask"] = embeds, cond_mask
    scheduler = {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": True, "base_shift": 0.95,
                 "max_shift": 2.05, "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1}

    run = {"latent_fhw": [F, H, W], "steps": STEPS, "guidance": GUIDANCE, "frame_rate": FRAME_RATE,
           "conditions": [{"frames": f, "frame_index": i, "strength": s} for f, i, s in CONDITIONS], "appended": extra,
           "b": {"steps": STEPS_B, "guidance": 1.0, "schedule": "linear_quadratic", "denoise_strength": DENOISE_STRENGTH_B,
                 "conditions": [{"frames": f, "frame_index": i, "strength": s} for f, i, s in CONDITIONS_B],
                 "appended": extra_b},
           "linear_quadratic_steps": LINEAR_QUADRATIC_STEPS}
    write(out_path, tensors, {"class": "LTXConditionPipeline", "run": json.dumps(run),
                              "config": json.dumps({"transformer": config, "scheduler": scheduler}), "torch": torch.__version__,
                              "reference": "diffusers LTXConditionPipeline (v0.33+) rewritten in torch"})


if __name__ == "__main__":
    main()
