#include "nodes/models/vae/autoencoder_kl.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/conv2d.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/unary.h"
#include "gpu/ops/upsample.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"

namespace lattice {

using gpu::Tensor;

void AutoencoderKLConfig::validate() const {
  if (block_out_channels.empty()) throw_invalid("AutoencoderKL config: block_out_channels is empty");
  for (int c : block_out_channels)
    if (c <= 0 || c % norm_num_groups)
      throw_invalid("AutoencoderKL config: block channels " + std::to_string(c) + " must be a positive multiple of norm_num_groups " +
                    std::to_string(norm_num_groups));
  if (layers_per_block < 1 || latent_channels < 1) throw_invalid("AutoencoderKL config: sizes must be positive");
}

AutoencoderKLConfig autoencoder_kl_config_from_json(const nlohmann::json& j) {
  AutoencoderKLConfig c;
  c.in_channels = j.value("in_channels", c.in_channels);
  c.out_channels = j.value("out_channels", c.out_channels);
  if (j.contains("block_out_channels")) c.block_out_channels = j["block_out_channels"].get<std::vector<int>>();
  c.layers_per_block = j.value("layers_per_block", c.layers_per_block);
  c.latent_channels = j.value("latent_channels", c.latent_channels);
  c.norm_num_groups = j.value("norm_num_groups", c.norm_num_groups);
  if (j.contains("scaling_factor") && !j["scaling_factor"].is_null()) c.scaling_factor = j["scaling_factor"].get<float>();
  if (j.contains("shift_factor") && !j["shift_factor"].is_null()) c.shift_factor = j["shift_factor"].get<float>();
  else if (j.contains("shift_factor")) c.shift_factor = 0.0f;
  c.use_quant_conv = j.value("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = j.value("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = j.value("mid_block_add_attention", c.mid_block_add_attention);
  if (j.value("act_fn", std::string("silu")) != "silu") throw_invalid("AutoencoderKL config: only act_fn silu is supported");
  c.validate();
  return c;
}

AutoencoderKLConfig detect_autoencoder_kl_config(const WeightSource& w) {
  if (!w.has("decoder.conv_in.weight") && !w.has("encoder.conv_in.weight"))
    throw_invalid(w.origin() + ": not an AutoencoderKL checkpoint (no decoder.conv_in.weight or encoder.conv_in.weight)");
  AutoencoderKLConfig c = w.config() ? autoencoder_kl_config_from_json(*w.config()) : AutoencoderKLConfig{};
  if (w.has("decoder.conv_in.weight")) {
    const int levels = w.count_blocks("decoder.up_blocks.");
    c.block_out_channels.assign(static_cast<size_t>(levels), 0);
    for (int i = 0; i < levels; ++i)
      c.block_out_channels[static_cast<size_t>(levels - 1 - i)] =
          static_cast<int>(w.info("decoder.up_blocks." + std::to_string(i) + ".resnets.0.conv2.weight").shape[0]);
    c.layers_per_block = w.count_blocks("decoder.up_blocks.0.resnets.") - 1;
    c.latent_channels = static_cast<int>(w.info("decoder.conv_in.weight").shape[1]);
    c.out_channels = static_cast<int>(w.info("decoder.conv_out.weight").shape[0]);
  }
  if (w.has("encoder.conv_in.weight")) c.in_channels = static_cast<int>(w.info("encoder.conv_in.weight").shape[1]);
  c.use_quant_conv = w.has("quant_conv.weight");
  c.use_post_quant_conv = w.has("post_quant_conv.weight");
  c.mid_block_add_attention = w.has("decoder.mid_block.attentions.0.to_q.weight") || w.has("encoder.mid_block.attentions.0.to_q.weight");
  c.validate();
  return c;
}

AutoencoderKL::Resnet AutoencoderKL::load_resnet(DeviceWeights& w, const std::string& p) const {
  Resnet r;
  r.norm1_w = w.vector(p + "norm1.weight");
  r.norm1_b = w.vector(p + "norm1.bias");
  r.conv1_w = w.f32(p + "conv1.weight");
  r.conv1_b = w.vector(p + "conv1.bias");
  r.norm2_w = w.vector(p + "norm2.weight");
  r.norm2_b = w.vector(p + "norm2.bias");
  r.conv2_w = w.f32(p + "conv2.weight");
  r.conv2_b = w.vector(p + "conv2.bias");
  if (w.has(p + "conv_shortcut.weight")) {
    r.shortcut_w = w.f32(p + "conv_shortcut.weight");
    r.shortcut_b = w.vector(p + "conv_shortcut.bias");
  }
  return r;
}

AutoencoderKL::Coder AutoencoderKL::load_coder(DeviceWeights& w, bool encoder) const {
  const std::string p = encoder ? "encoder." : "decoder.";
  Coder c;
  c.conv_in = {w.f32(p + "conv_in.weight"), w.vector(p + "conv_in.bias")};
  c.conv_out = {w.f32(p + "conv_out.weight"), w.vector(p + "conv_out.bias")};
  c.norm_out_w = w.vector(p + "conv_norm_out.weight");
  c.norm_out_b = w.vector(p + "conv_norm_out.bias");
  c.mid1 = load_resnet(w, p + "mid_block.resnets.0.");
  c.mid2 = load_resnet(w, p + "mid_block.resnets.1.");
  if (config_.mid_block_add_attention) {
    const std::string a = p + "mid_block.attentions.0.";
    c.attn = {w.vector(a + "group_norm.weight"), w.vector(a + "group_norm.bias"), Linear::load(w, a + "to_q"),
              Linear::load(w, a + "to_k"), Linear::load(w, a + "to_v"), Linear::load(w, a + "to_out.0")};
  }
  const int levels = static_cast<int>(config_.block_out_channels.size());
  for (int i = 0; i < levels; ++i) {
    const std::string b = p + (encoder ? "down_blocks." : "up_blocks.") + std::to_string(i) + ".";
    Level l;
    const int n = config_.layers_per_block + (encoder ? 0 : 1);
    for (int j = 0; j < n; ++j) l.resnets.push_back(load_resnet(w, b + "resnets." + std::to_string(j) + "."));
    l.resample = i < levels - 1;
    if (l.resample) {
      const std::string r = b + (encoder ? "downsamplers.0.conv." : "upsamplers.0.conv.");
      l.resample_conv = {w.f32(r + "weight"), w.vector(r + "bias")};
    }
    c.levels.push_back(std::move(l));
  }
  return c;
}

AutoencoderKL::AutoencoderKL(AutoencoderKLConfig config, DeviceWeights& w) : config_(std::move(config)) {
  config_.validate();
  if (config_.use_quant_conv || config_.use_post_quant_conv)
    throw_invalid(w.source().origin() + ": AutoencoderKL with quant_conv layers is not supported yet");
  has_decoder_ = w.has("decoder.conv_in.weight");
  has_encoder_ = w.has("encoder.conv_in.weight");
  if (has_decoder_) decoder_ = load_coder(w, false);
  if (has_encoder_) encoder_ = load_coder(w, true);
}

Tensor AutoencoderKL::group_norm_silu(gpu::CommandStream& s, const Tensor& x, const Tensor& w, const Tensor& b) const {
  return gpu::silu(s, gpu::group_norm(s, x, config_.norm_num_groups, 1e-6f, w, b));
}

Tensor AutoencoderKL::resnet(gpu::CommandStream& s, const Resnet& r, const Tensor& x) const {
  // x: [B, Cin, H, W] -> [B, Cout, H, W]; (shortcut(x) + conv2(silu(gn2(conv1(silu(gn1(x))))))) / 1
  Tensor h = gpu::conv2d(s, group_norm_silu(s, x, r.norm1_w, r.norm1_b), r.conv1_w, r.conv1_b, gpu::Conv2dParams::uniform(1));
  h = gpu::conv2d(s, group_norm_silu(s, h, r.norm2_w, r.norm2_b), r.conv2_w, r.conv2_b, gpu::Conv2dParams::uniform(1));
  const Tensor shortcut = r.shortcut_w.defined() ? gpu::conv2d(s, x, r.shortcut_w, r.shortcut_b) : x;
  return gpu::add(s, shortcut, h);
}

Tensor AutoencoderKL::mid(gpu::CommandStream& s, const Coder& c, const Tensor& x) const {
  Tensor h = resnet(s, c.mid1, x);
  if (config_.mid_block_add_attention) {
    // Single-head self-attention over the H*W positions, channels as features, with a residual.
    const int64_t B = h.dim(0), C = h.dim(1), H = h.dim(2), W = h.dim(3);
    const Tensor n = gpu::group_norm(s, h, config_.norm_num_groups, 1e-6f, c.attn.norm_w, c.attn.norm_b);
    const Tensor tokens = gpu::contiguous(s, gpu::permute(n.reshape({B, C, H * W}), {0, 2, 1}));  // [B, HW, C]
    const Tensor a = c.attn.out(s, attention(s, c.attn.q(s, tokens), c.attn.k(s, tokens), c.attn.v(s, tokens), 1,
                                             1.0f / std::sqrt(static_cast<float>(C))));
    const Tensor back = gpu::contiguous(s, gpu::permute(a, {0, 2, 1})).reshape({B, C, H, W});
    h = gpu::add(s, h, back);
  }
  return resnet(s, c.mid2, h);
}

uint64_t AutoencoderKLConfig::decode_bytes_per_latent_pixel() const {
  // The decoder runs the levels from the widest channel count down, doubling the resolution after every
  // level but the last; an upsampled tensor keeps the channels of the level before it.
  uint64_t widest = 0, scale = 1;
  int prev = block_out_channels.back();
  for (size_t i = block_out_channels.size(); i-- > 0;) {
    const int ch = block_out_channels[i];
    widest = std::max<uint64_t>(widest, static_cast<uint64_t>(std::max(prev, ch)) * scale * scale);
    prev = ch;
    if (i > 0) {
      scale *= 2;
      widest = std::max<uint64_t>(widest, static_cast<uint64_t>(ch) * scale * scale);
    }
  }
  return widest * sizeof(float);
}

uint64_t AutoencoderKLConfig::encode_peak_tensor_bytes(int64_t th, int64_t tw) const {
  // Walks encode_moments() in elements: c channels of H x W.
  const size_t levels = block_out_channels.size();
  double H = static_cast<double>(th << (levels - 1)), W = static_cast<double>(tw << (levels - 1)), widest = in_channels * H * W;
  auto r4 = [](double c) { return std::ceil(c / 4) * 4; };
  // A 3x3 conv padded by ph, pw (in total per axis) to oh x ow: input, packing, output.
  auto conv = [&](double cin, double cout, double ph, double pw, double oh, double ow) {
    widest = std::max({widest, cin * H * W, r4(cin) * (H + ph) * (W + pw), cout * oh * ow});
  };
  auto resnet = [&](double cin, double cout) {
    conv(cin, cout, 2, 2, H, W);
    conv(cout, cout, 2, 2, H, W);
  };
  double c = block_out_channels.front();
  conv(in_channels, c, 2, 2, H, W);  // conv_in
  for (size_t i = 0; i < levels; ++i) {
    const double out = block_out_channels[i];
    resnet(c, out);
    for (int r = 1; r < layers_per_block; ++r) resnet(out, out);
    c = out;
    if (i + 1 < levels) {
      conv(c, c, 1, 1, std::floor(H / 2), std::floor(W / 2));  // right and bottom padding, stride 2
      H = std::floor(H / 2);
      W = std::floor(W / 2);
    }
  }
  resnet(c, c);  // then the mid attention, whose q, k, v and output are each c x H x W
  resnet(c, c);
  conv(c, 2.0 * latent_channels, 2, 2, H, W);  // conv_out
  return static_cast<uint64_t>(std::ceil(widest * sizeof(float)));
}

int64_t AutoencoderKLConfig::largest_encode_tile(uint64_t max_buffer_bytes, int64_t h, int64_t w) const {
  return largest_fitting_tile(h, w, max_buffer_bytes, [&](int64_t th, int64_t tw) { return encode_peak_tensor_bytes(th, tw); });
}

int64_t AutoencoderKLConfig::largest_decode_tile(uint64_t max_buffer_bytes) const {
  const double pixels = static_cast<double>(max_buffer_bytes) / (1.1 * static_cast<double>(decode_bytes_per_latent_pixel()));
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(std::sqrt(pixels))));
}

KlDecodeTiling kl_decode_tiling(const AutoencoderKLConfig& c, int64_t h, int64_t w, int64_t tile, int64_t overlap,
                                uint64_t max_buffer_bytes, uint64_t budget_bytes) {
  if (tile > 0) return {tile, overlap, false};
  // Decoding whole needs the widest activation at full size in one buffer, and every layer's tensors at once
  // within the budget; where they would not fit (large images on lavapipe's 128 MiB, 1024x1024 on a 24 GB
  // card), tile.
  const int64_t fit = c.largest_decode_tile(auto_tile_tensor_limit(max_buffer_bytes, budget_bytes, AutoencoderKLConfig::kWorkingSetFactor));
  if (fit >= std::max(h, w)) return {0, overlap, false};
  return {fit, std::min(overlap, fit / 4), true};
}

Tensor AutoencoderKL::decode(gpu::CommandStream& s, const Tensor& z) const {
  if (!has_decoder_) throw_eval("this VAE checkpoint has no decoder");
  if (z.rank() != 4 || z.dim(1) != config_.latent_channels)
    throw_eval("VAE decode: latent " + z.describe() + " should be [B, " + std::to_string(config_.latent_channels) + ", h, w]");
  const Coder& d = decoder_;
  Tensor h = gpu::conv2d(s, z, d.conv_in.w, d.conv_in.b, gpu::Conv2dParams::uniform(1));
  h = mid(s, d, h);
  for (const Level& l : d.levels) {
    for (const Resnet& r : l.resnets) h = resnet(s, r, h);
    if (l.resample) h = gpu::conv2d(s, gpu::upsample_nearest(s, h, {2, 2}), l.resample_conv.w, l.resample_conv.b, gpu::Conv2dParams::uniform(1));
  }
  return gpu::conv2d(s, group_norm_silu(s, h, d.norm_out_w, d.norm_out_b), d.conv_out.w, d.conv_out.b,
                     gpu::Conv2dParams::uniform(1));
}

Tensor AutoencoderKL::decode_tiled(gpu::CommandStream& s, const Tensor& z, int64_t tile_latent, int64_t overlap_latent) const {
  if (z.rank() != 4) return decode(s, z);  // decode() reports the shape error
  const int64_t h = z.dim(2), w = z.dim(3);
  if (tile_latent <= 0 || (tile_latent >= h && tile_latent >= w)) return decode(s, z);
  const int64_t f = config_.downscale(), B = z.dim(0), C = config_.out_channels, H = h * f, W = w * f;
  const TileGrid grid(h, w, tile_latent, overlap_latent, f, "VAE tiled decode");
  const int64_t th = grid.tile_h(), tw = grid.tile_w();
  Tensor out = Tensor::from_floats(s.context(), std::vector<float>(static_cast<size_t>(B * C * H * W), 0.0f), {B, C, H, W});
  for (size_t a = 0; a < grid.rows(); ++a)
    for (size_t b = 0; b < grid.cols(); ++b) {
      const int64_t y0 = grid.y(a), x0 = grid.x(b);
      const Tensor zt = gpu::contiguous(s, gpu::narrow(gpu::narrow(z, 2, y0, th), 3, x0, tw));
      const Tensor dec = decode(s, zt);
      const Tensor region = gpu::narrow(gpu::narrow(out, 2, y0 * f, th * f), 3, x0 * f, tw * f);
      const Tensor wt = Tensor::from_floats(s.context(), grid.weights(a, b), {1, 1, th * f, tw * f});
      gpu::copy_into(s, gpu::add(s, region, gpu::mul(s, dec, wt)), region);
      // Wait per tile so the tile's decoder activations are released before the next one is recorded.
      s.finish();
    }
  return out;
}

static Tensor scalar(gpu::Context& ctx, float v) { return Tensor::from_floats(ctx, std::vector<float>{v}, {1}); }

Tensor AutoencoderKL::to_decoder_input(gpu::CommandStream& s, const Tensor& z) const {
  return gpu::add(s, gpu::div(s, z, scalar(s.context(), config_.scaling_factor)), scalar(s.context(), config_.shift_factor));
}

Tensor AutoencoderKL::to_dit_latent(gpu::CommandStream& s, const Tensor& mean) const {
  return gpu::mul(s, gpu::sub(s, mean, scalar(s.context(), config_.shift_factor)), scalar(s.context(), config_.scaling_factor));
}

Tensor AutoencoderKL::encode_moments(gpu::CommandStream& s, const Tensor& x) const {
  if (!has_encoder_) throw_eval("this VAE checkpoint has no encoder");
  const int f = config_.downscale();
  if (x.rank() != 4 || x.dim(1) != config_.in_channels || x.dim(2) % f || x.dim(3) % f)
    throw_eval("VAE encode: image " + x.describe() + " should be [B, " + std::to_string(config_.in_channels) +
               ", H, W] with H and W multiples of " + std::to_string(f));
  const Coder& e = encoder_;
  Tensor h = gpu::conv2d(s, x, e.conv_in.w, e.conv_in.b, gpu::Conv2dParams::uniform(1));
  for (const Level& l : e.levels) {
    for (const Resnet& r : l.resnets) h = resnet(s, r, h);
    if (l.resample) {
      // Downsample2D pads right and bottom only, then a stride-2 3x3 conv without padding.
      gpu::Conv2dParams p;
      p.stride_h = p.stride_w = 2;
      p.pad_bottom = p.pad_right = 1;
      h = gpu::conv2d(s, h, l.resample_conv.w, l.resample_conv.b, p);
    }
  }
  h = mid(s, e, h);
  return gpu::conv2d(s, group_norm_silu(s, h, e.norm_out_w, e.norm_out_b), e.conv_out.w, e.conv_out.b, gpu::Conv2dParams::uniform(1));
}

std::pair<Tensor, Tensor> AutoencoderKL::encode(gpu::CommandStream& s, const Tensor& x) const {
  auto moments = split_moments(s, encode_moments(s, x), config_.latent_channels);
  s.finish();
  return moments;
}

std::pair<Tensor, Tensor> AutoencoderKL::encode_tiled(gpu::CommandStream& s, const Tensor& x, int64_t tile_latent,
                                                      int64_t overlap_latent) const {
  const int64_t f = config_.downscale();
  if (x.rank() != 4) return encode(s, x);  // reports the shape error
  const int64_t h = x.dim(2) / f, w = x.dim(3) / f;
  if (tile_latent <= 0 || (tile_latent >= h && tile_latent >= w)) return encode(s, x);
  const TileGrid grid(h, w, tile_latent, overlap_latent, 1, "VAE tiled encode");
  const int64_t th = grid.tile_h(), tw = grid.tile_w();
  std::vector<float> acc;
  gpu::Shape shape;
  for (size_t a = 0; a < grid.rows(); ++a)
    for (size_t b = 0; b < grid.cols(); ++b) {
      const Tensor tile = gpu::contiguous(s, gpu::narrow(gpu::narrow(x, 2, grid.y(a) * f, th * f), 3, grid.x(b) * f, tw * f));
      const Tensor m = encode_moments(s, tile);
      s.finish();  // one tile's activations at a time
      if (acc.empty()) {
        shape = {m.dim(0), m.dim(1), h, w};
        acc.assign(static_cast<size_t>(m.dim(0) * m.dim(1) * h * w), 0.0f);
      }
      grid.accumulate(acc.data(), m.to_floats(), a, b);
    }
  auto moments = split_moments(s, Tensor::from_floats(s.context(), acc, shape), config_.latent_channels);
  s.finish();
  return moments;
}

}  // namespace lattice
