// flux.sample: the FLUX flow-matching sampler (FluxPipeline's schedule and Euler steps) with distilled
// guidance, optional true CFG (interval, time-varying curve), dynamic thresholding and image-to-image, and
// structural control (FLUX.1-Canny/Depth-dev or a control LoRA): the control image's latents (vae.encode of a
// Canny or depth map) packed and concatenated after the noisy latents on channels at every step
// (FluxControlPipeline).
#include <algorithm>
#include <cstdio>
#include <optional>

#include "core/error.h"
#include "core/eval_context.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/patchify.h"
#include "nodes/block_stream_report.h"
#include "nodes/gpu_service.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/latent_preview.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

FluxConditioning upload(gpu::Context& gc, const ConditioningData& c) {
  return {gpu::Tensor::from_floats(gc, c.prompt_embeds.to_f32(), c.prompt_embeds.shape),
          gpu::Tensor::from_floats(gc, c.pooled.to_f32(), c.pooled.shape)};
}

// The node's options for transformer `c`: schedule 'auto' takes the scheduler of the pipeline folder it came
// from (FluxConfig::scheduler), else that of the release it belongs to (flux_scheduler_for).
FluxSamplerOptions options(const ParamReader& ctx, const FluxConfig& c) {
  FluxSamplerOptions o;
  o.steps = static_cast<int>(ctx.integer("steps"));
  o.guidance = static_cast<float>(ctx.number("guidance"));
  o.true_cfg = static_cast<float>(ctx.number("true_cfg"));
  o.cfg_start = static_cast<float>(ctx.number("cfg_start"));
  o.cfg_end = static_cast<float>(ctx.number("cfg_end"));
  o.cfg_curve = ctx.flag("cfg_curve");
  o.threshold_percentile = static_cast<float>(ctx.number("threshold"));
  o.strength = ctx.number("strength");
  o.cache_threshold = static_cast<float>(ctx.number("cache_threshold"));
  const std::string schedule = ctx.string("schedule");
  if (schedule == "schnell") o.schedule = flux_schnell_scheduler();
  if (schedule == "auto") o.schedule = c.scheduler ? *c.scheduler : flux_scheduler_for(c);
  return o;
}

// What the plan and the run report about the schedule and guidance: the schedule taken (dev's or schnell's, or
// the pipeline folder's), and that a transformer without a guidance embedding ignores 'guidance' (as diffusers'
// FluxPipeline passes none to it).
std::string schedule_note(const ParamReader& ctx, const FluxSamplerOptions& o, const FluxConfig& c) {
  std::string note;
  if (ctx.string("schedule") == "auto" && c.scheduler) {
    char shift[32];
    std::snprintf(shift, sizeof shift, "%g", o.schedule.shift);
    note = std::string("the pipeline's scheduler_config.json schedule (") +
           (o.schedule.use_dynamic_shifting ? "dynamic shift" : "shift " + std::string(shift)) + ")";
  } else {
    note = o.schedule.use_dynamic_shifting ? "dev schedule" : "schnell schedule";
  }
  if (!c.guidance_embeds) note += ", no guidance embedding: 'guidance' unused";
  return note;
}

/// Step previews for an observer that wants them: the latents after each step, projected to RGB through a
/// fit from the VAE when one is connected (nodes/models/latent_preview.h), else false colour.
class StepPreview {
 public:
  StepPreview(EvalContext& ctx, gpu::Context& gc, int64_t h, int64_t w) : ctx_(ctx), gc_(gc), h_(h), w_(w) {
    if (!ctx.wants_preview() || !ctx.has_input("preview_vae")) return;
    const auto& handle = ctx.input_as<VaeHandle>("preview_vae");
    projection_ = handle.preview_projection([&] {
      AutoencoderKL& vae = handle.model(gc);
      return fit_latent_rgb_from_encoder(
          vae.config().downscale(), vae.config().latent_channels, [&](const std::vector<float>& x, int H, int W) {
            gpu::CommandStream s(gc);
            const gpu::Tensor z = vae.to_dit_latent(s, vae.encode(s, gpu::Tensor::from_floats(gc, x, {1, 3, H, W})).first);
            s.finish();
            return z.to_floats();
          });
    });
  }
  void operator()(int step, int total, const gpu::Tensor& packed) const {
    if (!ctx_.wants_preview()) return;
    gpu::CommandStream s(gc_);
    const gpu::Tensor latent = gpu::unpack_latents(s, packed, h_, w_);
    s.finish();
    const std::vector<float> v = latent.to_floats();
    const int c = static_cast<int>(latent.dim(1)), h = static_cast<int>(h_), w = static_cast<int>(w_);
    ctx_.preview(step, total, projection_ && projection_->channels == c ? project_latent_rgb(*projection_, v, h, w)
                                                                         : preview_channels(v, c, h, w));
  }

 private:
  EvalContext& ctx_;
  gpu::Context& gc_;
  int64_t h_, w_;
  std::optional<LatentRgbProjection> projection_;
};

// The 'control' input on the device, checked against the transformer and the noise before the model loads
// (check_flux_control: InvalidInput naming what disagrees, here prefixed with this node like its other errors).
std::optional<gpu::Tensor> control_latents(EvalContext& ctx, gpu::Context& gc, const FluxConfig& c, const gpu::Tensor& noise) {
  std::optional<gpu::Tensor> t;
  if (ctx.has_input("control")) t = ctx.input_as<TensorValue>("control").device(gc);
  try {
    check_flux_control(c, noise.shape(), t ? &t->shape() : nullptr);
  } catch (const Error& e) {
    throw Error(e.kind(), ctx.who() + ": " + e.what(), {ctx.node_id()});
  }
  return t;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "flux.sample";
  d.category = "FLUX";
  d.description = "Sample FLUX latents: flow-matching Euler steps from noise (or a noised image) toward the prompt";
  d.version = 3;  // 2: dynamic thresholding per sample at the interpolated percentile; img2img start step in
                  // doubles as diffusers computes it (25 steps at 0.6 start at 10, was 9). Cached results of 1 are stale.
                  // 3: schedule 'auto' (the default from format 3, core/document.cpp) follows the transformer.
  d.inputs = {{"dit", PortType::DiT, "the FLUX transformer"},
              {"conditioning", PortType::Conditioning, "the encoded prompt"},
              {"noise", PortType::Latent, "starting noise [1, 16, h, w] (latent.noise)"},
              {"negative", PortType::Conditioning, "negative prompt, used when true_cfg > 1", true},
              {"image", PortType::Latent, "latents of an image for image-to-image (vae.encode)", true},
              {"control", PortType::Latent,
               "control image latents for FLUX.1-Canny/Depth-dev or a control LoRA (vae.encode of an edge or depth map, "
               "the noise's size)", true},
              {"preview_vae", PortType::VAE, "the VAE, for true-colour step previews in the editor (optional)", true}};
  d.outputs = {{"latent", PortType::Latent, "denoised latents [1, 16, h, w]"}};
  d.params = {
      {"steps", ParamType::Int, 28, "sampling steps (28 for dev, 4 for schnell)", 1, 1000},
      {"guidance", ParamType::Float, 3.5,
       "distilled guidance scale, fed to FLUX-dev's guidance embedding; a transformer without one (schnell) ignores it, "
       "as diffusers does (true_cfg is the separate, real classifier-free guidance)", 0.0, 100.0},
      {"schedule", ParamType::Choice, "auto",
       "auto: the transformer's (its diffusers folder's scheduler_config.json, else schnell's without a guidance "
       "embedding, dev's with one); dev: shift from the image size; schnell: no shift", -INFINITY, INFINITY, {"auto", "dev", "schnell"}},
      {"true_cfg", ParamType::Float, 1.0, "classifier-free guidance with the negative prompt (1 = off)", 1.0, 30.0},
      {"cfg_start", ParamType::Float, 0.0, "fraction of the steps where true CFG starts", 0.0, 1.0},
      {"cfg_end", ParamType::Float, 1.0, "fraction of the steps where true CFG ends", 0.0, 1.0},
      {"cfg_curve", ParamType::Bool, false, "vary true CFG over time: low at both ends, full mid-way"},
      {"threshold", ParamType::Float, 0.0, "dynamic thresholding percentile (0 = off, e.g. 99.5)", 0.0, 100.0},
      {"strength", ParamType::Float, 1.0, "image-to-image strength: 1 = ignore the image", 0.0, 1.0},
      {"cache_threshold", ParamType::Float, 0.0,
       "step caching: skip the transformer while its input changed less than this in total (0 = off, e.g. 0.25)", 0.0, 10.0},
  };
  d.evaluate = [](EvalContext& ctx) {
    const auto& dit = ctx.input_as<FluxTransformerHandle>("dit");
    const auto& cond = ctx.input_as<ConditioningData>("conditioning");
    const auto& noise = ctx.input_as<TensorValue>("noise");
    const FluxSamplerOptions o = options(ctx, dit.config());
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = noise.device(gc);
    if (z.rank() != 4 || z.dim(1) * 4 != dit.config().out_channels)
      ctx.fail("noise " + z.describe() + " does not fit a transformer with " + std::to_string(dit.config().out_channels) +
               " packed channels");
    const int64_t h = z.dim(2), w = z.dim(3);
    const std::optional<gpu::Tensor> control = control_latents(ctx, gc, dit.config(), z);
    gpu::Tensor packed, packed_control;
    {
      gpu::CommandStream s(gc);
      gpu::Tensor start = z;
      if (ctx.has_input("image") && o.strength < 1.0) {
        // FlowMatchEulerDiscreteScheduler.scale_noise at the first step taken: sigma*noise + (1-sigma)*image.
        const gpu::Tensor img = ctx.input_as<TensorValue>("image").device(gc);
        if (img.shape() != z.shape()) ctx.fail("image latents " + img.describe() + " and noise " + z.describe() + " differ in shape");
        const FlowMatchSchedule sched = flux_schedule(o, h, w);
        start = flow_match_noised(s, z, img, sched.sigmas[static_cast<size_t>(flux_start_step(o))]);
      }
      packed = gpu::pack_latents(s, start);
      if (control) packed_control = gpu::pack_latents(s, *control);
      s.finish();
    }
    std::unique_ptr<FluxConditioning> negative;
    if (ctx.has_input("negative")) negative = std::make_unique<FluxConditioning>(upload(gc, ctx.input_as<ConditioningData>("negative")));
    std::vector<FluxStepRecord> records;
    const StepPreview preview(ctx, gc, h, w);
    FluxTransformer& model = dit.model(gc);
    const BlockStreamReport report_streaming(model.stream_stats());
    const gpu::Tensor out = flux_sample(model, gc, packed, h, w, upload(gc, cond), negative.get(), o,
                                        [&](int step, int total, const gpu::Tensor& latents) {
                                          ctx.step(step, total);
                                          preview(step, total, latents);
                                          ctx.check_cancel();
                                        },
                                        &records, {}, control ? &packed_control : nullptr);
    int skipped = 0;
    for (const auto& r : records) skipped += r.cached ? 1 : 0;
    ctx.report("steps", static_cast<int>(records.size()));
    ctx.report("skipped_steps", skipped);
    ctx.report("schedule", schedule_note(ctx, o, dit.config()));
    report_streaming(ctx, gc);
    gpu::CommandStream s(gc);
    gpu::Tensor latent = gpu::unpack_latents(s, out, h, w);
    s.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, latent));
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* dit = ctx.input("dit");
    const PlanInfo* noise = ctx.input("noise");
    if (!dit || !noise || !noise->meta.contains("h") || !dit->meta.contains("inner")) return;
    const int64_t h = noise->meta["h"].get<int64_t>(), w = noise->meta["w"].get<int64_t>();
    // Text tokens as the prompt's encoder plans them (flux.text_encode's max_length), else FLUX-dev's 512.
    auto tokens = [&](const char* port) {
      const PlanInfo* in = ctx.input(port);
      return in && in->meta.contains("tokens") ? in->meta["tokens"].get<int64_t>() : int64_t{512};
    };
    const int64_t img_tokens = (h / 2) * (w / 2), txt = tokens("conditioning"), neg_txt = tokens("negative");
    FluxConfig c;
    c.num_layers = dit->meta["double"].get<int>();
    c.num_single_layers = dit->meta["single"].get<int>();
    c.attention_head_dim = dit->meta.value("head_dim", c.attention_head_dim);
    c.num_attention_heads = dit->meta["inner"].get<int>() / c.attention_head_dim;
    c.in_channels = dit->meta["in_channels"].get<int>();
    c.joint_attention_dim = dit->meta["joint"].get<int>();
    c.pooled_projection_dim = dit->meta.value("pooled", c.pooled_projection_dim);
    c.guidance_embeds = dit->meta.value("guidance_embeds", c.guidance_embeds);
    if (dit->meta.contains("scheduler")) c.scheduler = flow_match_config_from_json(dit->meta["scheduler"]);
    const FluxSamplerOptions o = options(ctx, c);
    const int start = flux_start_step(o), steps = o.steps - start;
    const bool negative = ctx.input("negative") != nullptr, cfg = negative && o.true_cfg > 1.0f;
    // True CFG runs a second forward (the negative prompt's) only on the steps of its interval.
    int guided = 0;
    for (int i = start; cfg && i < o.steps; ++i) guided += flux_cfg_at_step(o, i, o.steps) ? 1 : 0;
    PlanInfo p;
    p.shape = "latent [1, " + std::to_string(noise->meta["c"].get<int64_t>()) + ", " + std::to_string(h) + ", " +
              std::to_string(w) + "], " + std::to_string(steps) + " steps" +
              (guided ? " (" + std::to_string(guided) + " with true CFG)" : "") + ", " + std::to_string(txt) +
              " text tokens, " + schedule_note(ctx, o, c);
    p.flops = c.forward_flops(img_tokens, txt) * steps + c.forward_flops(img_tokens, neg_txt) * guided;
    // Activations of one forward as the run reserves them (one block's temporaries at a time), and what the
    // sampler holds on the device when the transformer plans (latents, text states, RoPE tables).
    p.activation_bytes = flux_activation_bytes(c, 1, img_tokens, std::max(txt, cfg ? neg_txt : txt)) +
                         flux_sampler_device_bytes(c, h, w, txt, negative ? neg_txt : 0, cfg, ctx.input("image") && o.strength < 1.0,
                                                   ctx.input("control") != nullptr);
    p.meta = noise->meta;
    // One step without true CFG: its FLOPs, and the bytes it moves in device memory: every weight read once
    // (plus what streams in, which the memory plan adds per budget) and the activations its products and
    // attention read and write (FluxConfig::forward_activation_traffic_bytes, a lower bound).
    p.meta["per_step"] = {{"flops", c.forward_flops(img_tokens, txt)}, {"weight_bytes", dit->weight_bytes},
                          {"activation_traffic_bytes", c.forward_activation_traffic_bytes(img_tokens, txt)}};
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
