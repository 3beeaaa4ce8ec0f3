// wan.sample: Wan 2.1 video sampling: seeded noise for the video size (or a given noise latent), flow-matching
// Euler or UniPC (WanPipeline's) steps with a static shift, and classifier-free guidance batched into one forward
// (or run in turn).
// Image-to-video models also take the CLIP image embedding and the image condition latent as tensors. With a
// `latent` input (wan.vae_encode of a video) and strength < 1, the last steps refine it: video-to-video.
#include "core/eval_context.h"
#include "core/types/tensor.h"
#include "gpu/ops/noise.h"
#include "nodes/block_stream_report.h"
#include "nodes/gpu_service.h"
#include "nodes/models/torch_generator.h"
#include "nodes/models/wan/sampler.h"
#include "nodes/types/tensor_value.h"
#include "nodes/types/wan_handles.h"

namespace lattice {
namespace {

WanSamplerOptions options(const ParamReader& ctx) {
  WanSamplerOptions o;
  o.steps = static_cast<int>(ctx.integer("steps"));
  o.guidance = static_cast<float>(ctx.number("guidance"));
  o.shift = ctx.number("shift");
  o.batch_cfg = ctx.flag("batch_cfg");
  o.scheduler = ctx.string("scheduler") == "unipc" ? WanScheduler::UniPc : WanScheduler::Euler;
  o.solver_order = static_cast<int>(ctx.integer("solver_order"));
  o.strength = static_cast<float>(ctx.number("strength"));
  return o;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t = "[";
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + "]";
}

// The size the sampler makes, for messages: "832x480, 81 frames".
std::string video_size(const ParamReader& ctx) {
  return std::to_string(ctx.integer("width")) + "x" + std::to_string(ctx.integer("height")) + ", " +
         std::to_string(ctx.integer("num_frames")) + " frames";
}

gpu::Tensor upload(gpu::Context& gc, const ConditioningData& c) {
  return gpu::Tensor::from_floats(gc, c.prompt_embeds.to_f32(), c.prompt_embeds.shape);
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.sample";
  d.category = "Wan";
  d.description = "Sample Wan 2.1 video latents from a prompt: flow-matching Euler or UniPC steps (shift) with batched CFG";
  d.inputs = {{"dit", PortType::DiT, "the Wan transformer (wan.load_transformer)"},
              {"conditioning", PortType::Conditioning, "the encoded prompt (wan.text_encode)"},
              {"negative", PortType::Conditioning, "the encoded negative prompt; needed when guidance > 1", true},
              {"noise", PortType::Latent, "starting noise [1, 16, T, h, w]; default: seeded noise for the size", true},
              {"image_embeds", PortType::Tensor, "I2V: CLIP ViT-H/14 penultimate hidden states [1, 257, 1280]", true},
              {"image_condition", PortType::Tensor, "I2V: mask + first-frame latent [1, 20, T, h, w]", true},
              {"latent", PortType::Latent, "video-to-video: latents to refine (wan.vae_encode), used when strength < 1", true}};
  d.outputs = {{"latent", PortType::Latent, "denoised latents [1, 16, (frames-1)/4+1, height/8, width/8]"}};
  d.params = {
      {"width", ParamType::Int, 832, "video width in pixels (multiple of 16; 832 or 1280)", 16, 8192},
      {"height", ParamType::Int, 480, "video height in pixels (multiple of 16; 480 or 720)", 16, 8192},
      {"num_frames", ParamType::Int, 81, "frames, 4k + 1 (81 = 5 s at 16 fps)", 1, 1025},
      {"steps", ParamType::Int, 50, "sampling steps", 1, 1000},
      {"guidance", ParamType::Float, 5.0, "classifier-free guidance scale (1 = off)", 1.0, 30.0},
      {"shift", ParamType::Float, 3.0, "flow shift: 3.0 for 480p, 5.0 for 720p", 0.1, 100.0},
      {"scheduler", ParamType::Choice, "euler",
       "euler: first-order flow-match Euler; unipc: UniPC multistep, WanPipeline's default (fewer steps for the same quality)",
       -INFINITY, INFINITY, {"euler", "unipc"}},
      {"solver_order", ParamType::Int, 2, "UniPC order (2 for guided sampling; unused by euler)", 1, 3},
      {"seed", ParamType::Seed, 0, "noise seed (unused when a noise latent is connected)"},
      noise_generator_param("WanPipeline"),
      {"strength", ParamType::Float, 1.0,
       "with a 'latent' input: the share of the steps run on it (e.g. 0.7; lower keeps more of the video); 1 = text-to-video",
       0.01, 1.0},
      {"batch_cfg", ParamType::Bool, true,
       "run the conditional and unconditional passes as one batch-2 forward (off: one after the other, half the activations)"},
  };
  d.evaluate = [](EvalContext& ctx) {
    const auto& dit = ctx.input_as<WanTransformerHandle>("dit");
    const auto& cond = ctx.input_as<ConditioningData>("conditioning");
    const WanSamplerOptions o = options(ctx);
    const auto shape = wan_latent_shape(ctx.integer("num_frames"), ctx.integer("height"), ctx.integer("width"),
                                        dit.config().out_channels);
    gpu::Context& gc = gpu_context(ctx);
    gpu::Tensor noise;
    if (ctx.has_input("noise")) {
      noise = ctx.input_as<TensorValue>("noise").device(gc);
      if (noise.shape() != gpu::Shape(shape.begin(), shape.end()))
        throw_invalid(ctx.who() + ": noise " + noise.describe() + " does not fit the " + video_size(ctx) +
                          " this sampler makes (expected " + shape_text(shape) + ")",
                      {ctx.node_id()});
    } else {
      gpu::CommandStream s(gc);
      noise = starting_noise(s, parse_noise_generator(ctx.string("generator")), ctx.seed("seed"),
                             gpu::Shape(shape.begin(), shape.end()));
      s.finish();
    }
    gpu::Tensor start;
    if (o.strength < 1.0f) {
      if (!ctx.has_input("latent"))
        throw_invalid(ctx.who() + ": strength < 1 needs the 'latent' input (wan.vae_encode of the video to start from), or set strength to 1",
                      {ctx.node_id()});
      start = ctx.input_as<TensorValue>("latent").device(gc);
      if (start.shape() != gpu::Shape(shape.begin(), shape.end()))
        throw_invalid(ctx.who() + ": latent " + start.describe() + " does not fit the " + video_size(ctx) +
                          " this sampler makes (expected " + shape_text(shape) +
                          "); encode the video at the sampler's width, height and num_frames",
                      {ctx.node_id()});
    }
    gpu::Tensor negative;
    if (ctx.has_input("negative")) negative = upload(gc, ctx.input_as<ConditioningData>("negative"));
    std::unique_ptr<WanImageCondition> image;
    if (ctx.has_input("image_embeds") || ctx.has_input("image_condition")) {
      if (!ctx.has_input("image_embeds") || !ctx.has_input("image_condition"))
        throw_invalid(ctx.who() + ": image-to-video needs both 'image_embeds' and 'image_condition'", {ctx.node_id()});
      auto device = [&](const char* port) {
        const HostTensor& t = ctx.input_as<TensorData>(port).tensor;
        return gpu::Tensor::from_floats(gc, t.to_f32(), t.shape);
      };
      image = std::make_unique<WanImageCondition>(WanImageCondition{device("image_embeds"), device("image_condition")});
    }
    WanTransformer& model = dit.model(gc);
    const BlockStreamReport report_streaming(model.stream_stats());
    WanSampleReport sampled;
    const gpu::Tensor out = wan_sample(
        model, gc, noise, upload(gc, cond), negative, o,
        [&](int step, int total) {
          ctx.step(step, total);
          ctx.check_cancel();
        },
        image.get(), start, &sampled);
    ctx.report("steps", o.steps - (start.defined() ? wan_start_step(o) : 0));
    if (sampled.cfg_in_turn_to_fit) ctx.report("cfg", "in turn: the batched forward does not fit the device budget");
    report_streaming(ctx, gc);
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, out));
  };
  d.plan = [](PlanContext& ctx) {
    // The latent channels as the transformer's config says (wan.load_transformer's plan), else Wan 2.1's 16.
    const PlanInfo* dit_plan = ctx.input("dit");
    const int64_t channels = dit_plan && dit_plan->meta.contains("config") ? dit_plan->meta["config"].value("out", int64_t{16}) : 16;
    const auto shape = wan_latent_shape(ctx.integer("num_frames"), ctx.integer("height"), ctx.integer("width"), channels);
    const WanSamplerOptions o = options(ctx);
    // The text length as the prompt's plan says (wan.text_encode's max_length), else WanPipeline's 512.
    const PlanInfo* prompt = ctx.input("conditioning");
    const int64_t tokens = shape[2] * (shape[3] / 2) * (shape[4] / 2),
                  text = prompt ? prompt->meta.value("tokens", int64_t{kWanTextTokens}) : kWanTextTokens;
    const bool cfg = o.guidance > 1.0f;
    // What the run refuses (here or in wan_sample) that the plan can see.
    if (cfg && !ctx.input("negative"))
      throw_invalid(ctx.who() + ": guidance > 1 needs the 'negative' input (wan.text_encode of the negative prompt, which "
                                "may be empty), or set guidance to 1",
                    {ctx.node_id()});
    if (!ctx.input("image_embeds") != !ctx.input("image_condition"))
      throw_invalid(ctx.who() + ": image-to-video needs both 'image_embeds' and 'image_condition'", {ctx.node_id()});
    if (const PlanInfo* negative = ctx.input("negative"); cfg && negative && negative->meta.value("tokens", text) != text)
      throw_invalid(ctx.who() + ": the negative prompt's " + std::to_string(negative->meta["tokens"].get<int64_t>()) +
                        " tokens differ from the prompt's " + std::to_string(text) + "; encode both with the same max_length",
                    {ctx.node_id()});
    const int64_t batch = cfg && o.batch_cfg ? 2 : 1;
    const bool refine = o.strength < 1.0f;
    if (refine) {
      const PlanInfo* latent = ctx.input("latent");
      if (!latent)
        throw_invalid(ctx.who() + ": strength < 1 needs the 'latent' input (wan.vae_encode of the video to start from)",
                      {ctx.node_id()});
      if (latent->meta.contains("t") &&
          (latent->meta["t"].get<int64_t>() != shape[2] || latent->meta["h"].get<int64_t>() != shape[3] ||
           latent->meta["w"].get<int64_t>() != shape[4]))
        throw_invalid(ctx.who() + ": latent " + latent->shape + " does not fit the " + video_size(ctx) +
                          " this sampler makes (expected " + shape_text(shape) + ")",
                      {ctx.node_id()});
    }
    if (const PlanInfo* noise = ctx.input("noise"); noise && noise->meta.contains("t") &&
        (noise->meta["t"].get<int64_t>() != shape[2] || noise->meta["h"].get<int64_t>() != shape[3] ||
         noise->meta["w"].get<int64_t>() != shape[4]))
      throw_invalid(ctx.who() + ": noise " + noise->shape + " does not fit the " + video_size(ctx) +
                        " this sampler makes (expected " + shape_text(shape) + ")",
                    {ctx.node_id()});
    const int steps = o.steps - (refine ? wan_start_step(o) : 0);
    PlanInfo p;
    p.meta = {{"c", shape[1]}, {"t", shape[2]}, {"h", shape[3]}, {"w", shape[4]}};
    p.shape = "latent [1, " + std::to_string(shape[1]) + ", " + std::to_string(shape[2]) + ", " + std::to_string(shape[3]) + ", " + std::to_string(shape[4]) +
              "], " + std::to_string(tokens) + " tokens, " + std::to_string(steps) + (o.scheduler == WanScheduler::UniPc ? " UniPC" : " Euler") + " steps" +
              (cfg ? (batch == 2 ? ", CFG batch 2" : ", CFG in turn") : "");
    if (const PlanInfo* dit = ctx.input("dit"); dit && dit->meta.contains("config")) {
      const auto& j = dit->meta["config"];
      WanConfig c;
      c.num_attention_heads = j["heads"].get<int>();
      c.attention_head_dim = j["head_dim"].get<int>();
      c.ffn_dim = j["ffn"].get<int>();
      c.num_layers = j["layers"].get<int>();
      c.in_channels = j["in"].get<int>();
      c.out_channels = j.value("out", c.out_channels);
      c.text_dim = j["text"].get<int>();
      c.image_dim = j["image"].get<int>();
      c.added_kv_proj_dim = c.image_dim ? c.inner_dim() : 0;
      const int64_t image = c.image_dim ? kWanImageTokens : 0;
      p.flops = c.forward_flops(tokens, text, image) * static_cast<double>((cfg ? 2 : 1) * steps);
      // The forward's activations and what the sampler holds on the device when the transformer plans.
      const auto need = [&](int64_t b) {
        return wan_activation_bytes(c, tokens, text + image, b) +
               wan_sampler_device_bytes(c, shape[2] * shape[3] * shape[4], text, image, ctx.input("negative") != nullptr,
                                        b == 2, refine);
      };
      p.activation_bytes = need(batch);
      // Where the batch-2 forward cannot be planned under a budget, the run falls back to CFG in turn (wan_sample);
      // the dry run's memory plan (app/render_command.cpp) reads this.
      if (batch == 2) p.meta["low_memory"] = {{"activation_bytes", need(1)}, {"how", "CFG in turn"}};
    }
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
