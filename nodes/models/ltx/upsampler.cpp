#include "nodes/models/ltx/upsampler.h"

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/conv2d.h"
#include "gpu/ops/conv3d.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/pixel_shuffle.h"
#include "gpu/ops/unary.h"
#include "nodes/models/ltx/config.h"

namespace lattice {

using gpu::Tensor;

namespace {

// [B, C, F, H, W] <-> [B·F, C, H, W] (frame-wise 2-D work).
Tensor frames_to_batch(gpu::CommandStream& s, const Tensor& x) {
  return gpu::contiguous(s, gpu::permute(x, {0, 2, 1, 3, 4})).reshape({x.dim(0) * x.dim(2), x.dim(1), x.dim(3), x.dim(4)});
}
Tensor batch_to_frames(gpu::CommandStream& s, const Tensor& x, int64_t batch) {
  const Tensor v = x.reshape({batch, x.dim(0) / batch, x.dim(1), x.dim(2), x.dim(3)});
  return gpu::contiguous(s, gpu::permute(v, {0, 2, 1, 3, 4}));
}

}  // namespace

void LtxUpsamplerConfig::validate() const {
  if (in_channels <= 0 || mid_channels <= 0 || num_blocks_per_stage < 0) throw_invalid("LTX latent upsampler: sizes must be positive");
  if (mid_channels % 32) throw_invalid("LTX latent upsampler: mid_channels must be a multiple of 32 (GroupNorm groups)");
  if (dims != 2 && dims != 3) throw_invalid("LTX latent upsampler: dims must be 2 or 3");
  if (!spatial_upsample && !temporal_upsample) throw_invalid("LTX latent upsampler: spatial or temporal upsampling must be on");
  if (temporal_upsample && dims != 3) throw_invalid("LTX latent upsampler: temporal upsampling needs dims 3");
}

LtxUpsamplerConfig ltx_upsampler_config_from_json(const nlohmann::json& j) {
  LtxUpsamplerConfig c;
  try {
    c.in_channels = j.value("in_channels", c.in_channels);
    c.mid_channels = j.value("mid_channels", c.mid_channels);
    c.num_blocks_per_stage = j.value("num_blocks_per_stage", c.num_blocks_per_stage);
    c.dims = j.value("dims", c.dims);
    c.spatial_upsample = j.value("spatial_upsample", c.spatial_upsample);
    c.temporal_upsample = j.value("temporal_upsample", c.temporal_upsample);
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(std::string("LTX latent upsampler config: ") + e.what());
  }
  c.validate();
  return c;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ltx_upsampler_checkpoint_shapes(const LtxUpsamplerConfig& c) {
  c.validate();
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  const int64_t mid = c.mid_channels;
  auto conv = [&](const std::string& p, int64_t out, int64_t in, int dims) {
    std::vector<int64_t> shape{out, in, 3, 3};
    if (dims == 3) shape.push_back(3);
    t.push_back({p + ".weight", shape});
    t.push_back({p + ".bias", {out}});
  };
  auto norm = [&](const std::string& p) {
    t.push_back({p + ".weight", {mid}});
    t.push_back({p + ".bias", {mid}});
  };
  auto blocks = [&](const std::string& prefix) {
    for (int i = 0; i < c.num_blocks_per_stage; ++i) {
      const std::string p = prefix + std::to_string(i) + ".";
      conv(p + "conv1", mid, mid, c.dims);
      norm(p + "norm1");
      conv(p + "conv2", mid, mid, c.dims);
      norm(p + "norm2");
    }
  };
  conv("initial_conv", mid, c.in_channels, c.dims);
  norm("initial_norm");
  blocks("res_blocks.");
  // A 2-D pixel shuffle (x4 channels) unless time is upsampled: a 3-D depth-to-space (x2 over t, x8 over t, h, w).
  if (c.dims == 3 && c.temporal_upsample)
    conv("upsampler.0", (c.spatial_upsample ? 8 : 2) * mid, mid, 3);
  else
    conv("upsampler.0", 4 * mid, mid, 2);
  blocks("post_upsample_res_blocks.");
  conv("final_conv", c.in_channels, mid, c.dims);
  return t;
}

LtxUpsamplerConfig detect_ltx_upsampler_config(const WeightSource& w) {
  if (!w.has("initial_conv.weight") || !w.has("upsampler.0.weight") || !w.has("final_conv.weight"))
    throw_invalid(w.origin() + ": not an LTX-Video latent upsampler (no initial_conv, upsampler.0 or final_conv weights)");
  LtxUpsamplerConfig c;
  c.mid_channels = ltx_weight_dim(w, "initial_conv.weight", 0);
  c.in_channels = ltx_weight_dim(w, "initial_conv.weight", 1);
  c.dims = static_cast<int>(w.info("initial_conv.weight").shape.size()) - 2;
  c.num_blocks_per_stage = w.count_blocks("res_blocks.");
  const int up = ltx_weight_dim(w, "upsampler.0.weight", 0) / c.mid_channels;
  const bool conv3 = w.info("upsampler.0.weight").shape.size() == 5;
  c.spatial_upsample = up == 4 || up == 8;
  c.temporal_upsample = up == 2 || up == 8;
  if (up == 4 && conv3) throw_invalid(w.origin() + ": LTX latent upsampler: a 3-D conv with 4x channels is no known upsampler");
  c.validate();
  return c;
}

LtxLatentUpsampler::Conv LtxLatentUpsampler::conv(DeviceWeights& w, const std::string& p) const {
  return {w.f32(p + ".weight"), w.vector(p + ".bias")};
}
LtxLatentUpsampler::Norm LtxLatentUpsampler::norm(DeviceWeights& w, const std::string& p) const {
  return {w.vector(p + ".weight"), w.vector(p + ".bias")};
}

LtxLatentUpsampler::LtxLatentUpsampler(LtxUpsamplerConfig config, DeviceWeights& w) : config_(config) {
  config_.validate();
  initial_conv_ = conv(w, "initial_conv");
  initial_norm_ = norm(w, "initial_norm");
  auto blocks = [&](const std::string& prefix, std::vector<ResBlock>& out) {
    for (int i = 0; i < config_.num_blocks_per_stage; ++i) {
      const std::string p = prefix + std::to_string(i) + ".";
      out.push_back({conv(w, p + "conv1"), conv(w, p + "conv2"), norm(w, p + "norm1"), norm(w, p + "norm2")});
    }
  };
  blocks("res_blocks.", res_blocks_);
  upsampler_ = conv(w, "upsampler.0");
  blocks("post_upsample_res_blocks.", post_blocks_);
  final_conv_ = conv(w, "final_conv");
}

Tensor LtxLatentUpsampler::apply(gpu::CommandStream& s, const Conv& c, const Tensor& x) const {
  if (c.w.rank() == 4) return gpu::conv2d(s, x, c.w, c.b, gpu::Conv2dParams::uniform(1));
  return gpu::conv3d(s, x, c.w, c.b, gpu::Conv3dParams::same(1, 1, 1));
}

Tensor LtxLatentUpsampler::block(gpu::CommandStream& s, const ResBlock& b, const Tensor& x) const {
  // silu(norm2(conv2(silu(norm1(conv1(x))))) + x)
  Tensor h = gpu::silu(s, gpu::group_norm(s, apply(s, b.conv1, x), 32, 1e-5f, b.norm1.w, b.norm1.b));
  h = gpu::group_norm(s, apply(s, b.conv2, h), 32, 1e-5f, b.norm2.w, b.norm2.b);
  return gpu::silu(s, gpu::add(s, h, x));
}

Tensor LtxLatentUpsampler::forward(gpu::CommandStream& s, const Tensor& in) const {
  if (in.rank() != 5 || in.dim(1) != config_.in_channels)
    throw_eval("LTX latent upsampler: latents " + in.describe() + " should be [B, " + std::to_string(config_.in_channels) + ", F, h, w]");
  const int64_t B = in.dim(0);
  // dims 2 runs everything frame by frame; dims 3 only the spatial-only upsampler.
  Tensor x = config_.dims == 2 ? frames_to_batch(s, in) : in;
  x = gpu::silu(s, gpu::group_norm(s, apply(s, initial_conv_, x), 32, 1e-5f, initial_norm_.w, initial_norm_.b));
  for (const ResBlock& b : res_blocks_) x = block(s, b, x);
  if (config_.dims == 2) {
    x = gpu::pixel_shuffle(s, apply(s, upsampler_, x), 2);
  } else if (config_.temporal_upsample) {
    // Depth-to-space over (t, h, w) or over t alone, then the first frame dropped (causal time).
    const int64_t sp = config_.spatial_upsample ? 2 : 1, factors[] = {2, sp, sp};
    const Tensor y = gpu::depth_to_space(s, apply(s, upsampler_, x), factors);
    x = gpu::contiguous(s, gpu::narrow(y, 2, 1, y.dim(2) - 1));
  } else {
    x = batch_to_frames(s, gpu::pixel_shuffle(s, apply(s, upsampler_, frames_to_batch(s, x)), 2), B);
  }
  for (const ResBlock& b : post_blocks_) x = block(s, b, x);
  x = apply(s, final_conv_, x);
  return config_.dims == 2 ? batch_to_frames(s, x, B) : x;
}

}  // namespace lattice
