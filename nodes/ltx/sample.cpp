// ltx.sample: LTX-Video latents for a video of the given size: seeded noise, then LTXPipeline's
// flow-matching Euler steps with classifier-free guidance (both passes in one batched forward). With an
// `image` latent (ltx.encode_image), latent frame image_index (0 by default, as LTXImageToVideoPipeline does)
// is that image. With condition_1..3 inputs (image or clip latents) it conditions as LTXConditionPipeline does:
// each at a video frame (condition_k_frame, in frames of the output video) with a strength; frame 0 replaces the
// first latent frames, a later frame adds keyframe tokens at that frame's position (nodes/models/ltx/conditions.h).
// With a `latent` input and strength < 1, the last steps refine those latents (the second pass after ltx.upsample).
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/eval_context.h"
#include "gpu/ops/noise.h"
#include "nodes/block_stream_report.h"
#include "nodes/gpu_service.h"
#include "nodes/models/latent_preview.h"
#include "nodes/models/ltx/sampler.h"
#include "nodes/models/torch_generator.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

constexpr int64_t kSpatial = 32, kTemporal = 8;  // the LTX-Video VAE's compression
constexpr int kConditions = 3;                     // condition_1 .. condition_3

std::string condition_port(int k) { return "condition_" + std::to_string(k + 1); }

struct Grid {
  int64_t frames, h, w;
};

// The latent grid for the requested video; clear messages for sizes the VAE cannot produce.
Grid grid(const ParamReader& ctx) {
  const int64_t W = ctx.integer("width"), H = ctx.integer("height"), N = ctx.integer("num_frames");
  if (W % kSpatial || H % kSpatial) {
    // The nearest sizes that are: each side rounded down (at least 32) and up.
    const auto down = [](int64_t x) { return std::max(kSpatial, x / kSpatial * kSpatial); };
    const auto up = [](int64_t x) { return (x + kSpatial - 1) / kSpatial * kSpatial; };
    const auto size = [](int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); };
    throw_invalid(ctx.who() + ": width and height must be multiples of 32 (got " + size(W, H) + "; e.g. " + size(down(W), down(H)) +
                      " or " + size(up(W), up(H)) + ")",
                  {ctx.node_id()});
  }
  if ((N - 1) % kTemporal)
    throw_invalid(ctx.who() + ": num_frames must be 8k + 1 (got " + std::to_string(N) + "; e.g. " +
                      std::to_string((N - 1) / kTemporal * kTemporal + 1) + " or " +
                      std::to_string(((N - 1) / kTemporal + 1) * kTemporal + 1) + ")",
                  {ctx.node_id()});
  return {(N - 1) / kTemporal + 1, H / kSpatial, W / kSpatial};
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t;
  for (int64_t x : shape) t += (t.empty() ? "" : ", ") + std::to_string(x);
  return "[" + t + "]";
}

// A latent input's shape [1, C, F, h, w] as its plan says (meta "f": the LTX nodes, "t": latent.from_tensor, else
// one frame; C the plan's, else `channels`); empty where the plan does not say.
std::vector<int64_t> planned_latent(const PlanInfo* p, int64_t channels) {
  if (!p || !p->meta.contains("h")) return {};
  const int64_t f = p->meta.contains("f") ? p->meta["f"].get<int64_t>() : p->meta.value("t", int64_t{1});
  return {1, p->meta.value("c", channels), f, p->meta["h"].get<int64_t>(), p->meta["w"].get<int64_t>()};
}

// The `image` input's fit, in the run and the plan (InvalidInput naming the node): a one-frame latent of the
// video's latent size and the transformer's `channels` (`shape`: [1, C, F, h, w]; empty where the plan does not
// know it), at a latent frame the video has.
void check_image(const ParamReader& ctx, const Grid& g, int64_t channels, const std::vector<int64_t>& shape) {
  if (ctx.integer("image_index") >= g.frames)
    throw_invalid(ctx.who() + ": image_index " + std::to_string(ctx.integer("image_index")) + " is past the video's last latent frame (" +
                      std::to_string(g.frames - 1) + " for " + std::to_string(ctx.integer("num_frames")) + " frames)",
                  {ctx.node_id()});
  const std::vector<int64_t> want{1, channels, 1, g.h, g.w};
  if (!shape.empty() && shape != want)
    throw_invalid(ctx.who() + ": image latent " + shape_text(shape) + " does not fit a " + std::to_string(ctx.integer("width")) +
                      "x" + std::to_string(ctx.integer("height")) + " video (expected " + shape_text(want) +
                      "); encode the image at the sampler's width and height",
                  {ctx.node_id()});
}

// The `latent` input that strength < 1 refines, in the run and the plan (InvalidInput naming the node): connected,
// and of the video's latent shape (`shape` [1, C, F, h, w]; empty where the plan does not know it).
void check_start(const ParamReader& ctx, const Grid& g, int64_t channels, bool connected, const std::vector<int64_t>& shape) {
  if (static_cast<float>(ctx.number("strength")) >= 1.0f) return;  // in f32, as LtxSamplerOptions holds it
  if (!connected) throw_invalid(ctx.who() + ": strength < 1 needs the 'latent' input (the latents to refine)", {ctx.node_id()});
  const std::vector<int64_t> want{1, channels, g.frames, g.h, g.w};
  if (!shape.empty() && shape != want)
    throw_invalid(ctx.who() + ": latent " + shape_text(shape) + " does not fit a " + std::to_string(ctx.integer("width")) + "x" +
                      std::to_string(ctx.integer("height")) + ", " + std::to_string(ctx.integer("num_frames")) +
                      "-frame video " + shape_text(want) + "; set the sampler's size to the upsampled one",
                  {ctx.node_id()});
}

// What the connected inputs and the parameters must agree on, in the run (before any work) and the plan
// (InvalidInput naming the node): a negative prompt for guidance > 1, not both 'image' and conditions, conditions
// at frames the video has. `connected(port)`: whether that input is connected.
void check_inputs(const ParamReader& ctx, const Grid& g, const std::function<bool(const std::string&)>& connected) {
  const auto refuse = [&](const std::string& why) { throw_invalid(ctx.who() + ": " + why, {ctx.node_id()}); };
  if (static_cast<float>(ctx.number("guidance")) > 1.0f && !connected("negative"))
    refuse("guidance > 1 needs the 'negative' input (ltx.text_encode with an empty prompt), or set guidance to 1");
  const int64_t last = (g.frames - 1) * kTemporal;
  bool conditioned = false;
  for (int k = 0; k < kConditions; ++k) {
    const std::string port = condition_port(k);
    if (!connected(port)) continue;
    conditioned = true;
    if (const int64_t frame = ctx.integer(port + "_frame"); frame > last)
      refuse(port + "_frame " + std::to_string(frame) + " is past the video's last frame (" + std::to_string(last) + " for " +
             std::to_string(ctx.integer("num_frames")) + " frames)");
  }
  if (conditioned && connected("image"))
    refuse("'image' (first-frame conditioning at image_index) and condition inputs (LTXConditionPipeline) condition "
           "differently; connect the image to condition_1 at frame 0 instead");
}

LtxSamplerOptions options(const ParamReader& ctx) {
  LtxSamplerOptions o;
  o.steps = static_cast<int>(ctx.integer("steps"));
  o.guidance = static_cast<float>(ctx.number("guidance"));
  o.frame_rate = static_cast<float>(ctx.number("frame_rate"));
  o.strength = static_cast<float>(ctx.number("strength"));
  o.image_index = static_cast<int>(ctx.integer("image_index"));
  o.cond_noise_scale = static_cast<float>(ctx.number("condition_noise_scale"));
  o.linear_quadratic = ctx.string("schedule") == "linear_quadratic";
  if (o.steps < 2)
    throw_invalid(ctx.who() + ": steps must be at least 2 (LTX's schedule is stretched to end at sigma 0.1; one step gives none)",
                  {ctx.node_id()});
  return o;
}

// ltx.text_encode's conditioning (states and mask), or plain prompt states (conditioning.from_tensors:
// every token attended to).
LtxConditioning upload(const EvalContext& ctx, gpu::Context& gc, const char* port) {
  const Data* in = ctx.input(port).get();
  if (const auto* l = dynamic_cast<const LtxConditioningData*>(in))
    return {gpu::Tensor::from_floats(gc, l->prompt_embeds.to_f32(), l->prompt_embeds.shape), l->mask};
  if (const auto* c = dynamic_cast<const ConditioningData*>(in)) {
    const HostTensor& e = c->prompt_embeds;
    if (e.shape.size() != 3 || e.shape[0] != 1) ctx.fail(std::string("input '") + port + "' should hold [1, L, D] prompt states");
    return {gpu::Tensor::from_floats(gc, e.to_f32(), e.shape), std::vector<float>(static_cast<size_t>(e.shape[1]), 1.0f)};
  }
  ctx.fail(std::string("input '") + port + "' holds " + in->describe() + ", not prompt conditioning");
}

// The connected condition_k inputs as ltx_sample_conditioned() takes them. The noise an appended condition
// blends in (strength < 1) continues the video noise's stream (seed, past its blocks), one condition after another;
// `blocks` ends past the last (where the sampler's re-noising stream starts).
std::vector<LtxCondition> conditions(EvalContext& ctx, gpu::Context& gc, const Grid& g, int64_t channels, uint64_t& blocks) {
  std::vector<LtxCondition> out;
  const int64_t last = (g.frames - 1) * kTemporal;
  blocks = static_cast<uint64_t>((channels * g.frames * g.h * g.w + 3) / 4);
  for (int k = 0; k < kConditions; ++k) {
    const std::string port = condition_port(k);
    if (!ctx.has_input(port)) continue;
    LtxCondition c;
    c.name = port;
    c.latent = ctx.input_as<TensorValue>(port).device(gc);
    c.frame_index = static_cast<int>(ctx.integer(port + "_frame"));
    c.strength = static_cast<float>(ctx.number(port + "_strength"));
    if (c.latent.rank() == 5 && c.strength < 1.0f) {
      if (const int64_t n = ltx_appended_frames(c.latent.dim(2), c.frame_index, last + 1, kTemporal); n > 0) {
        gpu::CommandStream s(gc);
        c.noise = gpu::normal_noise(s, {1, channels, n, g.h, g.w}, ctx.seed("seed"), blocks);
        s.finish();
        blocks += static_cast<uint64_t>((c.noise.numel() + 3) / 4);
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// Step previews for an observer that wants them: the middle latent frame after each step, projected to RGB
/// through a fit from the VAE when one is connected (nodes/models/latent_preview.h), else false colour.
class StepPreview {
 public:
  StepPreview(EvalContext& ctx, gpu::Context& gc, const Grid& g) : ctx_(ctx), g_(g) {
    if (!ctx.wants_preview() || !ctx.has_input("preview_vae")) return;
    const auto& handle = ctx.input_as<LtxVaeHandle>("preview_vae");
    // Known from the weights: a VAE without an encoder is never uploaded here.
    if (!ltx_vae_has_encoder(handle.weights())) return;
    projection_ = handle.preview_projection([&] {
      // The fit needs the VAE on the device once; a VAE uploaded only for it is released again, so that it
      // does not hold device memory beside the transformer while sampling.
      const bool was_resident = handle.resident();
      LtxVae& vae = handle.model(gc);
      LatentRgbProjection fitted = fit_latent_rgb_from_encoder(
          vae.config().spatial_compression(), vae.config().latent_channels, [&](const std::vector<float>& x, int H, int W) {
            gpu::CommandStream s(gc);
            const gpu::Tensor mean = vae.encode(s, gpu::Tensor::from_floats(gc, x, {1, 3, 1, H, W})).first;
            gpu::CommandStream s2(gc);
            const gpu::Tensor z = vae.normalize(s2, mean);
            s2.finish();
            return z.to_floats();
          });
      if (!was_resident) handle.release();
      return fitted;
    });
  }
  void operator()(int step, int total, const gpu::Tensor& packed) const {
    if (!ctx_.wants_preview()) return;
    // Tokens of the middle frame, [h·w, C] -> channel-major [C, h, w].
    const int64_t n = g_.h * g_.w, c = packed.dim(2);
    const std::vector<float> all = packed.to_floats();
    const float* frame = all.data() + (g_.frames / 2) * n * c;
    std::vector<float> v(static_cast<size_t>(n * c));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < c; ++k) v[static_cast<size_t>(k * n + t)] = frame[t * c + k];
    const int ci = static_cast<int>(c), h = static_cast<int>(g_.h), w = static_cast<int>(g_.w);
    ctx_.preview(step, total, projection_ && projection_->channels == ci ? project_latent_rgb(*projection_, v, h, w)
                                                                          : preview_channels(v, ci, h, w));
  }

 private:
  EvalContext& ctx_;
  Grid g_;
  std::optional<LatentRgbProjection> projection_;
};

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.sample";
  d.category = "LTX-Video";
  d.description = "Sample LTX-Video latents: flow-matching Euler steps from seeded noise toward the prompt";
  d.inputs = {{"dit", PortType::DiT, "the LTX-Video transformer (ltx.load_transformer)"},
              {"conditioning", PortType::Conditioning, "the encoded prompt (ltx.text_encode)"},
              {"negative", PortType::Conditioning, "the unconditional prompt (ltx.text_encode, usually empty); needed when guidance > 1", true},
              {"image", PortType::Latent, "image latent [1, 128, 1, h, w] (ltx.encode_image) for the frame image_index: image-to-video", true},
              {"latent", PortType::Latent, "latents to refine (ltx.upsample), used when strength < 1", true},
              {"condition_1", PortType::Latent,
               "image or clip latent (ltx.encode_image, ltx.encode_video) placed at frame condition_1_frame: keyframe conditioning "
               "as LTXConditionPipeline (not with 'image'); a clip running past the video's end is trimmed to the frames that fit", true},
              {"condition_2", PortType::Latent, "a second condition, at condition_2_frame", true},
              {"condition_3", PortType::Latent, "a third condition, at condition_3_frame", true},
              {"preview_vae", PortType::VAE, "the LTX-Video VAE, for true-colour step previews in the editor (optional)", true}};
  d.outputs = {{"latent", PortType::Latent, "denoised latents [1, 128, (frames-1)/8+1, height/32, width/32]"}};
  d.params = {{"width", ParamType::Int, 704, "video width in pixels (multiple of 32)", 32, 8192},
              {"height", ParamType::Int, 480, "video height in pixels (multiple of 32)", 32, 8192},
              {"num_frames", ParamType::Int, 121, "frames (8k + 1)", 1, 2049},
              {"frame_rate", ParamType::Float, 25.0, "frames per second (scales the time axis of the position encoding)", 1.0, 240.0},
              {"steps", ParamType::Int, 50, "sampling steps", 1, 1000},
              {"guidance", ParamType::Float, 3.0, "classifier-free guidance scale (1 = off)", 1.0, 30.0},
              {"strength", ParamType::Float, 1.0, "with a 'latent' input: the share of the steps to run on it (e.g. 0.4)", 0.01, 1.0},
              {"image_index", ParamType::Int, 0,
               "with an 'image' input: the latent frame it conditions (0 = the first frame; k = video frame 8k)", 0, 256},
              {"condition_1_frame", ParamType::Int, 0,
               "the output video frame where condition_1 starts (0 = the first; e.g. num_frames - 1 = the last)", 0, 2048},
              {"condition_1_strength", ParamType::Float, 1.0, "how firmly condition_1 holds (1 = kept as given)", 0.0, 1.0},
              {"condition_2_frame", ParamType::Int, 0, "the output video frame where condition_2 starts", 0, 2048},
              {"condition_2_strength", ParamType::Float, 1.0, "how firmly condition_2 holds", 0.0, 1.0},
              {"condition_3_frame", ParamType::Int, 0, "the output video frame where condition_3 starts", 0, 2048},
              {"condition_3_strength", ParamType::Float, 1.0, "how firmly condition_3 holds", 0.0, 1.0},
              {"condition_noise_scale", ParamType::Float, 0.15,
               "with conditions: noise added each step to fully held conditions, times (t/1000)^2 (LTXConditionPipeline's "
               "image_cond_noise_scale; 0 = kept exactly)", 0.0, 1.0},
              {"schedule", ParamType::Choice, "ltx",
               "ltx: LTXPipeline's sigmas (shifted by the video's size); linear_quadratic: LTXConditionPipeline's default",
               -INFINITY, INFINITY, {"ltx", "linear_quadratic"}},
              {"seed", ParamType::Seed, 0, "noise seed"},
              noise_generator_param("LTXPipeline")};
  d.evaluate = [](EvalContext& ctx) {
    const auto& dit = ctx.input_as<LtxTransformerHandle>("dit");
    const Grid g = grid(ctx);
    const LtxSamplerOptions o = options(ctx);
    check_inputs(ctx, g, [&](const std::string& port) { return ctx.has_input(port); });
    gpu::Context& gc = gpu_context(ctx);
    gpu::Tensor noise;
    {
      gpu::CommandStream s(gc);
      noise = starting_noise(s, parse_noise_generator(ctx.string("generator")), ctx.seed("seed"),
                             {1, dit.config().in_channels, g.frames, g.h, g.w});
      s.finish();
    }
    uint64_t blocks = 0;
    const std::vector<LtxCondition> conds = conditions(ctx, gc, g, dit.config().in_channels, blocks);
    gpu::Tensor first;
    if (ctx.has_input("image")) {
      first = ctx.input_as<TensorValue>("image").device(gc);
      check_image(ctx, g, dit.config().in_channels, first.shape());
    }
    gpu::Tensor start;
    if (ctx.has_input("latent")) start = ctx.input_as<TensorValue>("latent").device(gc);
    check_start(ctx, g, dit.config().in_channels, start.defined(), start.defined() ? start.shape() : gpu::Shape{});
    std::unique_ptr<LtxConditioning> negative;
    if (o.guidance > 1.0f) negative = std::make_unique<LtxConditioning>(upload(ctx, gc, "negative"));
    const StepPreview preview(ctx, gc, g);
    LtxTransformer& model = dit.model(gc);
    const BlockStreamReport report_streaming(model.stream_stats());
    const LtxStepCallback on_step = [&](int step, int total, const gpu::Tensor& packed) {
      ctx.step(step, total);
      preview(step, total, packed);
      ctx.check_cancel();
    };
    const LtxConditioning positive = upload(ctx, gc, "conditioning");
    LtxSamplerOptions oc = o;
    oc.cond_noise_seed = ctx.seed("seed");
    oc.cond_noise_offset = blocks;
    const gpu::Tensor latent = conds.empty()
                                   ? ltx_sample(model, gc, noise, positive, negative.get(), o, first, on_step, start)
                                   : ltx_sample_conditioned(model, gc, noise, positive, negative.get(), oc, conds, on_step, start);
    ctx.report("steps", start.defined() && o.strength < 1.0f ? o.steps - ltx_start_step(o) : o.steps);
    report_streaming(ctx, gc);
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, latent));
  };
  d.plan = [](PlanContext& ctx) {
    const Grid g = grid(ctx);
    const LtxSamplerOptions o = options(ctx);
    // The text length as the prompt's plan says (ltx.text_encode's max_length), else LTXPipeline's 128; the
    // latent channels as the transformer's.
    const PlanInfo* cond = ctx.input("conditioning");
    const int64_t tokens = g.frames * g.h * g.w, txt = cond ? cond->meta.value("tokens", int64_t{128}) : 128;
    check_inputs(ctx, g, [&](const std::string& port) { return ctx.input(port) != nullptr; });
    const PlanInfo* dit_plan = ctx.input("dit");
    const int64_t channels = dit_plan ? dit_plan->meta.value("in_channels", int64_t{128}) : 128;
    if (const PlanInfo* img = ctx.input("image")) check_image(ctx, g, channels, planned_latent(img, channels));
    check_start(ctx, g, channels, ctx.input("latent") != nullptr, planned_latent(ctx.input("latent"), channels));
    const int steps = ctx.input("latent") && o.strength < 1.0f ? o.steps - ltx_start_step(o) : o.steps;
    // What the sampler holds on the device when the transformer plans (its latents, text states, RoPE) and the
    // tokens it runs: conditions at later frames add theirs.
    const bool cfg = o.guidance > 1.0f, image = ctx.input("image") != nullptr;
    if (const PlanInfo* negative = ctx.input("negative"); cfg && negative && negative->meta.value("tokens", txt) != txt)
      throw_invalid(ctx.who() + ": the negative prompt's " + std::to_string(negative->meta["tokens"].get<int64_t>()) +
                        " tokens differ from the prompt's " + std::to_string(txt) + "; encode both with the same max_length",
                    {ctx.node_id()});
    LtxSamplerFootprint fp;
    fp.tokens = tokens;
    fp.text_tokens = txt;
    fp.cfg = cfg;
    fp.image_tokens = image ? g.h * g.w : 0;
    fp.start = ctx.input("latent") != nullptr;
    bool conditioned = false, held = false;  // held: a condition at strength 1 (re-noised each step)
    std::vector<const PlanInfo*> uploaded;    // the condition inputs' upstream values (the same value: the same plan)
    for (int k = 0; k < kConditions; ++k) {
      const std::string port = condition_port(k);
      const PlanInfo* in = ctx.input(port);
      if (!in) continue;
      if (const auto s = planned_latent(in, channels); !s.empty() && (s[1] != channels || s[3] != g.h || s[4] != g.w))
        throw_invalid(ctx.who() + ": " + port + ": latent " + shape_text(s) + " should be [1, " + std::to_string(channels) + ", f, " +
                          std::to_string(g.h) + ", " + std::to_string(g.w) + "] (the video's latent size)",
                      {ctx.node_id()});
      // Latent frames from the input's plan where it says ("f": the LTX nodes, "t": latent.from_tensor), else one.
      const int64_t f = in->meta.contains("f")   ? in->meta["f"].get<int64_t>()
                        : in->meta.contains("t") ? in->meta["t"].get<int64_t>()
                                                 : 1;
      const int64_t appended =
          ltx_appended_frames(f, static_cast<int>(ctx.integer(port + "_frame")), (g.frames - 1) * kTemporal + 1, kTemporal);
      // In f32, as the run compares them (LtxCondition::strength).
      const float strength = static_cast<float>(ctx.number(port + "_strength"));
      const bool noised = appended > 0 && strength < 1.0f;
      fp.appended_tokens += appended * g.h * g.w;
      // One device copy per upstream value, however many conditions take it; noise per condition.
      const bool first_use = std::find(uploaded.begin(), uploaded.end(), in) == uploaded.end();
      if (first_use) uploaded.push_back(in);
      fp.condition_tokens += ((first_use ? f : 0) + (noised ? appended : 0)) * g.h * g.w;
      conditioned = true;
      held = held || strength > 1.0f - 1e-6f;
    }
    fp.renoise = held && o.cond_noise_scale > 0.0f;
    const int64_t run_tokens = tokens + fp.appended_tokens;
    PlanInfo p;
    p.shape = "latent [1, " + std::to_string(channels) + ", " + std::to_string(g.frames) + ", " + std::to_string(g.h) + ", " + std::to_string(g.w) + "], " +
              std::to_string(run_tokens) + " tokens, " + std::to_string(steps) + " steps";
    if (const PlanInfo* dit = ctx.input("dit"); dit && dit->meta.contains("inner")) {
      const double d = dit->meta["inner"].get<double>(), f = dit->meta["ff"].get<double>(), L = static_cast<double>(run_tokens);
      const double block = 2 * L * d * d * 6 + 2 * 2 * L * L * d + 2 * 2 * L * txt * d + 2 * 2 * L * d * f;
      p.flops = block * dit->meta["layers"].get<double>() * steps * (cfg ? 2 : 1);
      LtxTransformerConfig c;
      // Heads as the weights say (attention's scratch depends on the head dim); 1 x inner for plans of old
      // reports without it.
      c.attention_head_dim = dit->meta.value("head_dim", static_cast<int>(d));
      c.num_attention_heads = static_cast<int>(d) / c.attention_head_dim;
      c.ff_inner = static_cast<int>(f);
      c.in_channels = dit->meta["in_channels"].get<int>();
      c.out_channels = dit->meta.value("out_channels", c.in_channels);
      c.caption_channels = dit->meta.value("caption", c.caption_channels);
      // As the run reserves them: one block's temporaries at a time, per-token timesteps with an image or
      // conditions.
      p.activation_bytes = ltx_activation_bytes(c, run_tokens, txt, cfg ? 2 : 1, image || conditioned) + ltx_sampler_device_bytes(c, fp);
    }
    p.meta = {{"c", channels}, {"f", g.frames}, {"h", g.h}, {"w", g.w}};
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
