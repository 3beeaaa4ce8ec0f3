#include "nodes/models/ltx/vae.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/conv3d.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/noise.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/pixel_shuffle.h"
#include "gpu/ops/reduce.h"
#include "gpu/ops/unary.h"
#include "nodes/models/ltx/config.h"
#include "nodes/models/ltx/submit_pacer.h"
#include "nodes/models/ltx/vae_checkpoint.h"
#include "nodes/models/vae/latent_sample.h"

namespace lattice {

using gpu::Tensor;

namespace {

std::string not_ltx_vae(const WeightSource& w, const std::string& why) {
  return w.origin() + ": not an LTX-Video VAE checkpoint (" + why + ")";
}

int downsample_volume(const std::string& type) {
  if (type == "spatial") return 4;
  if (type == "temporal") return 2;
  if (type == "spatiotemporal") return 8;
  return 1;
}

template <typename T>
std::vector<T> json_list(const nlohmann::json& j, const char* key, std::vector<T> fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_array()) throw_invalid(std::string("LTX-Video VAE config: ") + key + " must be a list");
  return j[key].get<std::vector<T>>();
}

// [B, C, T, H, W] -> channels-last rows [B, T·H·W, C] (one copy).
Tensor to_rows(gpu::CommandStream& s, const Tensor& x) {
  const Tensor cl = gpu::contiguous(s, gpu::permute(x, {0, 2, 3, 4, 1}));
  return cl.reshape({x.dim(0), x.dim(2) * x.dim(3) * x.dim(4), x.dim(1)});
}
// The inverse of to_rows for a tensor shaped like `like` with `channels` channels.
Tensor from_rows(gpu::CommandStream& s, const Tensor& rows, const Tensor& like, int64_t channels) {
  const Tensor cl = rows.reshape({like.dim(0), like.dim(2), like.dim(3), like.dim(4), channels});
  return gpu::contiguous(s, gpu::permute(cl, {0, 4, 1, 2, 3}));
}

// RMSNorm over channels (eps 1e-8, no affine), optional x·(1+scale)+shift per channel, SiLU.
Tensor norm_act(gpu::CommandStream& s, const Tensor& x, const Tensor& shift, const Tensor& scale) {
  Tensor r = gpu::rms_norm(s, to_rows(s, x), 1e-8f);
  if (shift.defined()) r = gpu::modulate(s, r, shift, scale);
  return from_rows(s, gpu::silu(s, r), x, x.dim(1));
}

}  // namespace

const std::string& LtxVaeConfig::encoder_downsample(size_t i) const {
  static const std::string conv = "conv";
  return down_block_types.at(i) == "LTXVideoDownBlock3D" ? conv : downsample_type.at(i);
}

std::pair<int, int> LtxVaeConfig::encoder_block_widths(size_t i) const {
  // LTXVideoEncoder3d: block i takes block_out_channels[i]; it gives [i + 1], except that an encoder ending in
  // an LTXVideoDownBlock3D has no entry past its blocks and its last block keeps the width.
  const size_t n = down_block_types.size();
  const int in = block_out_channels.at(i);
  return {in, legacy_encoder() && i + 1 == n ? in : block_out_channels.at(i + 1)};
}

int LtxVaeConfig::spatial_compression() const {
  int f = patch_size;
  for (size_t i = 0; i < downsample_type.size(); ++i)
    if (spatio_temporal_scaling[i] && encoder_downsample(i) != "temporal") f *= 2;
  return f;
}

int LtxVaeConfig::temporal_compression() const {
  int f = patch_size_t;
  for (size_t i = 0; i < downsample_type.size(); ++i)
    if (spatio_temporal_scaling[i] && encoder_downsample(i) != "spatial") f *= 2;
  return f;
}

LtxVaeConfig LtxVaeConfig::diffusers_defaults() {
  LtxVaeConfig c;
  c.block_out_channels = {128, 256, 512, 512};
  c.down_block_types.assign(4, "LTXVideoDownBlock3D");
  c.layers_per_block = {4, 3, 3, 3, 4};
  c.spatio_temporal_scaling = {true, true, true, false};
  c.downsample_type.assign(4, "conv");
  c.decoder_block_out_channels = {128, 256, 512, 512};
  c.decoder_layers_per_block = {4, 3, 3, 3, 4};
  c.decoder_spatio_temporal_scaling = {true, true, true, false};
  c.upsample_residual = {false, false, false, false};
  c.upsample_factor = {1, 1, 1, 1};
  c.decoder_inject_noise.assign(5, false);
  c.timestep_conditioning = false;
  return c;
}

void LtxVaeConfig::validate() const {
  const size_t n_down = downsample_type.size(), n_up = decoder_block_out_channels.size();
  if (patch_size <= 0 || latent_channels <= 0 || in_channels <= 0 || out_channels <= 0)
    throw_invalid("LTX-Video VAE config: sizes must be positive");
  if (patch_size_t != 1) throw_invalid("LTX-Video VAE config: only patch_size_t 1 is supported");
  if (down_block_types.size() != n_down)
    throw_invalid("LTX-Video VAE config: down_block_types and downsample_type need one entry per down block");
  const bool legacy = legacy_encoder();
  for (const std::string& t : down_block_types)
    if (t != "LTXVideoDownBlock3D" && t != "LTXVideo095DownBlock3D")
      throw_invalid("LTX-Video VAE config: unknown down block type '" + t + "' (LTXVideoDownBlock3D or LTXVideo095DownBlock3D)");
  if (block_out_channels.size() != n_down + (legacy ? 0 : 1) || layers_per_block.size() != n_down + 1 ||
      spatio_temporal_scaling.size() != n_down || n_down == 0)
    throw_invalid(std::string("LTX-Video VAE config: block_out_channels needs one entry per down block") + (legacy ? "" : " plus one") +
                  ", layers_per_block one per down block plus one, spatio_temporal_scaling one per down block");
  for (size_t i = 0; i < n_down; ++i) {
    const std::string block = "down block " + std::to_string(i) + " (" + down_block_types[i] + ")";
    const auto [in, out] = encoder_block_widths(i);
    if (down_block_types[i] == "LTXVideoDownBlock3D") continue;  // a conv_out resnet makes any width change
    const std::string& t = downsample_type[i];
    if (spatio_temporal_scaling[i] && t != "conv" && downsample_volume(t) == 1)
      throw_invalid("LTX-Video VAE config: downsample_type '" + t + "' is not supported with " + block +
                    " (it uses conv, spatial, temporal, spatiotemporal)");
    const int volume = spatio_temporal_scaling[i] && t != "conv" ? downsample_volume(t) : 1;
    // Only a space-to-depth downsampler changes an LTXVideo095DownBlock3D's width: out / volume conv channels
    // plus the mean of groups of in·volume / out packed ones.
    if (volume == 1 ? in != out : out % volume != 0 || (in * volume) % out != 0)
      throw_invalid("LTX-Video VAE config: " + block + " cannot go from " + std::to_string(in) + " to " + std::to_string(out) +
                    " channels" + (volume == 1 ? " without a space-to-depth downsampler" : " with downsample_type '" + t + "'"));
  }
  if (decoder_layers_per_block.size() != n_up + 1 || decoder_spatio_temporal_scaling.size() != n_up ||
      upsample_residual.size() != n_up || upsample_factor.size() != n_up || decoder_inject_noise.size() != n_up + 1)
    throw_invalid("LTX-Video VAE config: the decoder lists need one entry per up block (layers and decoder_inject_noise: plus one)");
  for (int f : upsample_factor)
    if (f != 1 && f != 2 && f != 4 && f != 8) throw_invalid("LTX-Video VAE config: upsample_factor must divide 8");
}

namespace {

// The config's keys over diffusers' defaults, not yet checked for consistency.
LtxVaeConfig read_json(const nlohmann::json& j) {
  LtxVaeConfig c = LtxVaeConfig::diffusers_defaults();
  try {
    c.in_channels = j.value("in_channels", c.in_channels);
    c.out_channels = j.value("out_channels", c.out_channels);
    c.latent_channels = j.value("latent_channels", c.latent_channels);
    c.patch_size = j.value("patch_size", c.patch_size);
    c.patch_size_t = j.value("patch_size_t", c.patch_size_t);
    c.block_out_channels = json_list(j, "block_out_channels", c.block_out_channels);
    c.layers_per_block = json_list(j, "layers_per_block", c.layers_per_block);
    c.spatio_temporal_scaling = json_list(j, "spatio_temporal_scaling", c.spatio_temporal_scaling);
    c.down_block_types = json_list(j, "down_block_types", c.down_block_types);
    c.downsample_type = json_list(j, "downsample_type", c.downsample_type);
    c.decoder_block_out_channels = json_list(j, "decoder_block_out_channels", c.decoder_block_out_channels);
    c.decoder_layers_per_block = json_list(j, "decoder_layers_per_block", c.decoder_layers_per_block);
    c.decoder_spatio_temporal_scaling = json_list(j, "decoder_spatio_temporal_scaling", c.decoder_spatio_temporal_scaling);
    c.upsample_residual = json_list(j, "upsample_residual", c.upsample_residual);
    c.upsample_factor = json_list(j, "upsample_factor", c.upsample_factor);
    c.decoder_inject_noise = json_list(j, "decoder_inject_noise", c.decoder_inject_noise);
    c.timestep_conditioning = j.value("timestep_conditioning", c.timestep_conditioning);
    c.resnet_norm_eps = j.value("resnet_norm_eps", c.resnet_norm_eps);
    c.scaling_factor = j.value("scaling_factor", c.scaling_factor);
    if (!j.value("encoder_causal", true) || j.value("decoder_causal", false))
      throw_invalid("LTX-Video VAE config: only a causal encoder and a non-causal decoder are supported");
    // Absent per-up-block lists are diffusers' defaults, which it indexes per block (surplus entries unused):
    // size them to the config's decoder.
    const size_t n_up = c.decoder_block_out_channels.size();
    if (!j.contains("decoder_inject_noise")) c.decoder_inject_noise.assign(n_up + 1, false);
    if (!j.contains("upsample_residual")) c.upsample_residual.assign(n_up, false);
    if (!j.contains("upsample_factor")) c.upsample_factor.assign(n_up, 1);
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(std::string("LTX-Video VAE config: ") + e.what());
  }
  return c;
}

}  // namespace

LtxVaeConfig ltx_vae_config_from_json(const nlohmann::json& j) {
  LtxVaeConfig c = read_json(j);
  c.validate();
  return c;
}

nlohmann::json ltx_vae_config_to_json(const LtxVaeConfig& c) {
  return {{"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"latent_channels", c.latent_channels},
          {"patch_size", c.patch_size},
          {"patch_size_t", c.patch_size_t},
          {"block_out_channels", c.block_out_channels},
          {"layers_per_block", c.layers_per_block},
          {"spatio_temporal_scaling", c.spatio_temporal_scaling},
          {"down_block_types", c.down_block_types},
          {"downsample_type", c.downsample_type},
          {"decoder_block_out_channels", c.decoder_block_out_channels},
          {"decoder_layers_per_block", c.decoder_layers_per_block},
          {"decoder_spatio_temporal_scaling", c.decoder_spatio_temporal_scaling},
          {"upsample_residual", c.upsample_residual},
          {"upsample_factor", c.upsample_factor},
          {"decoder_inject_noise", c.decoder_inject_noise},
          {"timestep_conditioning", c.timestep_conditioning},
          {"resnet_norm_eps", c.resnet_norm_eps},
          {"scaling_factor", c.scaling_factor}};
}

namespace {

// The encoder's blocks from the weights, block by block (LtxVaeConfig::down_block_types): a conv_out resnet
// means an LTXVideoDownBlock3D, a space-to-depth downsampler an LTXVideo095DownBlock3D; a block with neither
// computes the same in both types and takes `json_types`' entry, else the 0.9.5+ type when another block has
// a space-to-depth downsampler, else the old one.
void detect_encoder(const WeightSource& w, LtxVaeConfig& c, const std::vector<std::string>& json_types) {
  const int n_down = w.count_blocks("encoder.down_blocks.");
  if (n_down == 0) throw_invalid(not_ltx_vae(w, "encoder.conv_in without encoder.down_blocks"));
  const std::string kOld = "LTXVideoDownBlock3D", kNew = "LTXVideo095DownBlock3D";
  auto block = [](int i) { return "encoder.down_blocks." + std::to_string(i) + "."; };
  bool any_s2d = false;
  for (int i = 0; i < n_down; ++i) any_s2d = any_s2d || w.has(block(i) + "downsamplers.0.conv.conv.weight");
  c.in_channels = ltx_weight_dim(w, "encoder.conv_in.conv.weight", 1) / (c.patch_size * c.patch_size);
  std::vector<int> widths{ltx_weight_dim(w, "encoder.conv_in.conv.weight", 0)};  // each block's input, then the mid's
  c.down_block_types.clear();
  c.layers_per_block.clear();
  c.downsample_type.clear();
  c.spatio_temporal_scaling.clear();
  for (int i = 0; i < n_down; ++i) {
    const std::string p = block(i);
    const int in = widths.back();
    c.layers_per_block.push_back(w.count_blocks(p + "resnets."));
    const bool strided = w.has(p + "downsamplers.0.conv.weight"), s2d = w.has(p + "downsamplers.0.conv.conv.weight");
    const bool widen = w.has(p + "conv_out.conv1.conv.weight");
    if (s2d && (strided || widen))
      throw_invalid(not_ltx_vae(w, p + " mixes a space-to-depth downsampler with a strided conv or a conv_out resnet"));
    if (strided && ltx_weight_dim(w, p + "downsamplers.0.conv.weight", 0) != in)
      throw_invalid(not_ltx_vae(w, p + "downsamplers.0 should keep the width " + std::to_string(in)));
    std::string type = widen ? kOld : s2d ? kNew : i < static_cast<int>(json_types.size()) ? json_types[static_cast<size_t>(i)] : any_s2d ? kNew : kOld;
    int out = in;
    std::string down = "conv";
    if (widen) {
      out = ltx_weight_dim(w, p + "conv_out.conv1.conv.weight", 0);
    } else if (s2d) {
      const std::string next = i + 1 < n_down ? block(i + 1) + "resnets.0.conv1.conv.weight" : "encoder.mid_block.resnets.0.conv1.conv.weight";
      out = w.has(next) ? ltx_weight_dim(w, next, 1) : in;
      const int conv_out = ltx_weight_dim(w, p + "downsamplers.0.conv.conv.weight", 0);
      const int volume = conv_out > 0 && out % conv_out == 0 ? out / conv_out : 0;
      down = volume == 2 ? "temporal" : volume == 4 ? "spatial" : volume == 8 ? "spatiotemporal" : "";
      if (down.empty()) throw_invalid(not_ltx_vae(w, p + "downsamplers.0 has an unexpected width"));
    } else if (!strided && type == kNew) {
      down = "spatiotemporal";  // unused: no downsampler
    }
    c.down_block_types.push_back(type);
    c.downsample_type.push_back(down);
    c.spatio_temporal_scaling.push_back(strided || s2d);
    widths.push_back(out);
  }
  c.layers_per_block.push_back(w.count_blocks("encoder.mid_block.resnets."));
  // block_out_channels: every block's input width, and the last one's output unless the encoder ends in an
  // LTXVideoDownBlock3D (which then cannot widen: nothing would say to what).
  c.block_out_channels.assign(widths.begin(), widths.end() - 1);
  if (!c.legacy_encoder()) c.block_out_channels.push_back(widths.back());
  else if (widths.back() != widths[widths.size() - 2])
    throw_invalid(not_ltx_vae(w, block(n_down - 1) + "conv_out: the last down block, an LTXVideoDownBlock3D, cannot change the width"));
  if (ltx_weight_dim(w, "encoder.conv_out.conv.weight", 0) != c.latent_channels + 1)
    throw_invalid(not_ltx_vae(w, "encoder.conv_out should emit latent_channels + 1 channels"));
}

}  // namespace

LtxVaeConfig detect_ltx_vae_config(WeightSource& w) {
  if (!w.has("decoder.conv_in.conv.weight") && w.has("vae.decoder.conv_in.conv.weight")) w.strip_prefix("vae.");
  convert_ltx_vae_original(w);
  if (!w.has("decoder.conv_in.conv.weight") || !w.has("decoder.conv_out.conv.weight"))
    throw_invalid(not_ltx_vae(w, "no decoder.conv_in.conv.weight / decoder.conv_out.conv.weight"));
  if (w.info("decoder.conv_in.conv.weight").shape.size() != 5) throw_invalid(not_ltx_vae(w, "decoder.conv_in is not a 3-D conv"));
  // config.json gives what no weight shows (out_channels, norm eps, scaling factor, patch_size_t, upsample_residual); its
  // lists are not checked against each other here (diffusers ignores surplus entries), only the result is.
  LtxVaeConfig c;
  std::optional<std::vector<bool>> json_residual;
  std::vector<std::string> json_down_types;
  if (w.config()) {
    const LtxVaeConfig j = read_json(*w.config());
    c.out_channels = j.out_channels;
    c.resnet_norm_eps = j.resnet_norm_eps;
    c.scaling_factor = j.scaling_factor;
    c.patch_size_t = j.patch_size_t;  // 1 in every released VAE; validate() refuses others
    if (w.config()->contains("upsample_residual")) json_residual = j.upsample_residual;
    if (w.config()->contains("down_block_types")) json_down_types = j.down_block_types;
  }
  c.latent_channels = ltx_weight_dim(w, "decoder.conv_in.conv.weight", 1);
  const int out_packed = ltx_weight_dim(w, "decoder.conv_out.conv.weight", 0);
  c.patch_size = static_cast<int>(std::lround(std::sqrt(out_packed / c.out_channels)));
  if (c.patch_size * c.patch_size * c.out_channels != out_packed)
    throw_invalid(not_ltx_vae(w, "decoder.conv_out's " + std::to_string(out_packed) + " outputs are no square patch of " +
                                     std::to_string(c.out_channels) + " channels"));

  // Decoder, in execution order; the config keeps diffusers' (reversed) order, the mid block last.
  const int n_up = w.count_blocks("decoder.up_blocks.");
  std::vector<int> outs, factors, layers{w.count_blocks("decoder.mid_block.resnets.")};
  std::vector<bool> scaling, residual, noise{w.has("decoder.mid_block.resnets.0.per_channel_scale1")};
  int ch = ltx_weight_dim(w, "decoder.conv_in.conv.weight", 0);
  for (int i = 0; i < n_up; ++i) {
    const std::string p = "decoder.up_blocks." + std::to_string(i) + ".";
    if (w.has(p + "conv_in.conv1.conv.weight")) ch = ltx_weight_dim(w, p + "conv_in.conv1.conv.weight", 0);
    int factor = 1;
    const bool up = w.has(p + "upsamplers.0.conv.conv.weight");
    if (up) {
      const int conv_out = ltx_weight_dim(w, p + "upsamplers.0.conv.conv.weight", 0);
      if (conv_out == 0 || (ch * 8) % conv_out) throw_invalid(not_ltx_vae(w, p + "upsamplers.0 has an unexpected width"));
      factor = ch * 8 / conv_out;
      ch /= factor;
    }
    outs.push_back(ch * factor);
    factors.push_back(factor);
    scaling.push_back(up);
    residual.push_back(factor > 1);
    layers.push_back(w.count_blocks(p + "resnets."));
    noise.push_back(w.has(p + "resnets.0.per_channel_scale1") || w.has(p + "conv_in.per_channel_scale1"));
  }
  std::reverse(outs.begin(), outs.end());
  std::reverse(factors.begin(), factors.end());
  std::reverse(scaling.begin(), scaling.end());
  std::reverse(residual.begin(), residual.end());
  std::reverse(layers.begin(), layers.end());
  std::reverse(noise.begin(), noise.end());
  // upsample_residual has no weights: config.json says it, else the released models' rule (residual exactly
  // when the upsampler halves the width: 0.9.1 and 0.9.5+, not 0.9.0).
  if (json_residual && json_residual->size() != residual.size())
    throw_invalid(w.origin() + ": config.json's upsample_residual has " + std::to_string(json_residual->size()) + " entries for " +
                  std::to_string(residual.size()) + " up blocks in the weights");
  c.upsample_residual = json_residual ? *json_residual : residual;
  c.decoder_block_out_channels = outs;
  c.upsample_factor = factors;
  c.decoder_spatio_temporal_scaling = scaling;
  c.decoder_layers_per_block = layers;
  c.decoder_inject_noise = noise;
  c.timestep_conditioning = w.has("decoder.timestep_scale_multiplier") || w.has("decoder.scale_shift_table");

  if (w.has("encoder.conv_in.conv.weight")) detect_encoder(w, c, json_down_types);
  c.validate();
  return c;
}

LtxVae::Conv LtxVae::load_conv(DeviceWeights& w, const std::string& p) const {
  Conv c;
  c.w = w.f32(p + ".conv.weight");
  if (w.has(p + ".conv.bias")) c.b = w.vector(p + ".conv.bias");
  return c;
}

LtxVae::Resnet LtxVae::load_resnet(DeviceWeights& w, const std::string& p, bool conditioned, bool noisy) const {
  Resnet r;
  r.conv1 = load_conv(w, p + "conv1");
  r.conv2 = load_conv(w, p + "conv2");
  if (w.has(p + "conv_shortcut.conv.weight")) {
    r.shortcut = load_conv(w, p + "conv_shortcut");
    r.norm3_w = w.vector(p + "norm3.weight");
    r.norm3_b = w.vector(p + "norm3.bias");
  }
  if (conditioned) r.scale_shift_table = w.f32(p + "scale_shift_table");
  if (noisy) {
    // [C, 1, 1] in the checkpoint, sized by the block's input; only width-keeping resnets can use it.
    const int64_t C = r.conv1.w.dim(0);
    for (auto [name, into] : {std::pair{"per_channel_scale1", &r.noise1}, std::pair{"per_channel_scale2", &r.noise2}}) {
      const Tensor t = w.f32(p + name);
      if (t.numel() != C)
        throw_invalid(w.source().origin() + ": " + p + name + " " + t.describe() + " should hold one scale per channel (" +
                      std::to_string(C) + ")");
      *into = t.reshape({1, C, 1, 1, 1});
    }
  }
  return r;
}

bool ltx_vae_has_encoder(const WeightSource& w) { return w.has("encoder.conv_in.conv.weight"); }

LtxVae::LtxVae(LtxVaeConfig config, DeviceWeights& w) : config_(std::move(config)), ctx_(w.context()) {
  config_.validate();
  const bool cond = config_.timestep_conditioning;
  has_encoder_ = ltx_vae_has_encoder(w.source());
  if (has_encoder_) {
    enc_conv_in_ = load_conv(w, "encoder.conv_in");
    for (size_t i = 0; i < config_.downsample_type.size(); ++i) {
      const std::string p = "encoder.down_blocks." + std::to_string(i) + ".";
      Down d;
      for (int k = 0; k < config_.layers_per_block[i]; ++k)
        d.resnets.push_back(load_resnet(w, p + "resnets." + std::to_string(k) + ".", false, false));
      if (config_.spatio_temporal_scaling[i]) {
        const std::string& t = config_.encoder_downsample(i);
        d.strided = t == "conv";
        d.st = t == "spatial" ? 1 : 2;
        d.sh = d.sw = t == "temporal" ? 1 : 2;
        if (d.strided) {
          d.conv.w = w.f32(p + "downsamplers.0.conv.weight");
          if (w.has(p + "downsamplers.0.conv.bias")) d.conv.b = w.vector(p + "downsamplers.0.conv.bias");
        } else {
          d.conv = load_conv(w, p + "downsamplers.0.conv");
        }
      }
      // An LTXVideoDownBlock3D widens through a conv_out resnet (an LTXVideo095DownBlock3D through its downsampler).
      const auto [in, out] = config_.encoder_block_widths(i);
      if (config_.down_block_types[i] == "LTXVideoDownBlock3D" && in != out) d.conv_out = load_resnet(w, p + "conv_out.", false, false);
      down_.push_back(std::move(d));
    }
    for (int k = 0; k < config_.layers_per_block.back(); ++k)
      enc_mid_.push_back(load_resnet(w, "encoder.mid_block.resnets." + std::to_string(k) + ".", false, false));
    enc_conv_out_ = load_conv(w, "encoder.conv_out");
  }
  dec_conv_in_ = load_conv(w, "decoder.conv_in");
  auto time = [&](const std::string& p) {
    return TimeEmbedder{Linear::load(w, p + "time_embedder.timestep_embedder.linear_1"),
                        Linear::load(w, p + "time_embedder.timestep_embedder.linear_2")};
  };
  if (cond) mid_time_ = time("decoder.mid_block.");
  const bool mid_noise = config_.decoder_inject_noise.back();
  for (int k = 0; k < config_.decoder_layers_per_block.back(); ++k)
    dec_mid_.push_back(load_resnet(w, "decoder.mid_block.resnets." + std::to_string(k) + ".", cond, mid_noise));
  const size_t n_up = config_.decoder_block_out_channels.size();
  for (size_t i = 0; i < n_up; ++i) {
    const size_t r = n_up - 1 - i;  // diffusers' config order is reversed
    const std::string p = "decoder.up_blocks." + std::to_string(i) + ".";
    Up u;
    const bool noisy = config_.decoder_inject_noise[r];
    if (w.has(p + "conv_in.conv1.conv.weight")) {
      // diffusers would hand this resnet the raw timestep, not an embedding; no released model has one.
      if (w.has(p + "conv_in.scale_shift_table"))
        throw_invalid(w.source().origin() + ": " + p + "conv_in with timestep conditioning is not supported");
      u.conv_in = load_resnet(w, p + "conv_in.", false, noisy && w.has(p + "conv_in.per_channel_scale1"));
    }
    if (cond) u.time = time(p);
    u.upsample = config_.decoder_spatio_temporal_scaling[r];
    u.residual = config_.upsample_residual[r];
    u.factor = config_.upsample_factor[r];
    if (u.upsample) u.conv = load_conv(w, p + "upsamplers.0.conv");
    for (int k = 0; k < config_.decoder_layers_per_block[r]; ++k)
      u.resnets.push_back(load_resnet(w, p + "resnets." + std::to_string(k) + ".", cond, noisy));
    up_.push_back(std::move(u));
  }
  if (cond) {
    out_time_ = time("decoder.");
    out_scale_shift_ = w.f32("decoder.scale_shift_table");
    if (w.has("decoder.timestep_scale_multiplier")) timestep_scale_ = w.source().load("decoder.timestep_scale_multiplier").to_f32().at(0);
  }
  dec_conv_out_ = load_conv(w, "decoder.conv_out");
  const int64_t C = config_.latent_channels;
  latents_mean_ = w.has("latents_mean") ? w.f32("latents_mean") : Tensor::from_floats(ctx_, std::vector<float>(C, 0.0f), {C});
  latents_std_ = w.has("latents_std") ? w.f32("latents_std") : Tensor::from_floats(ctx_, std::vector<float>(C, 1.0f), {C});
}

Tensor LtxVae::conv(gpu::CommandStream& s, const Conv& c, const Tensor& x, bool causal) const {
  const int kt = static_cast<int>(c.w.dim(2)), kh = static_cast<int>(c.w.dim(3)), kw = static_cast<int>(c.w.dim(4));
  // Time is padded by repeating edge frames (front only when causal); space with zeros.
  const gpu::Conv3dParams p = causal ? gpu::Conv3dParams::causal(kt, kh / 2, kw / 2, gpu::TimePadding::Replicate)
                                     : gpu::Conv3dParams::same((kt - 1) / 2, kh / 2, kw / 2, gpu::TimePadding::Replicate);
  return gpu::conv3d(s, x, c.w, c.b, p);
}

Tensor LtxVae::embed(gpu::CommandStream& s, const TimeEmbedder& e, const std::vector<float>& t) const {
  const Tensor sinusoid = Tensor::from_floats(ctx_, timestep_embedding(t, 256, true, 0.0f), {static_cast<int64_t>(t.size()), 256});
  return e.l2(s, gpu::silu(s, e.l1(s, sinusoid)));
}

Tensor LtxVae::inject(gpu::CommandStream& s, const Tensor& x, const Tensor& scale, NoiseCursor& n) const {
  // x [B, C, T, H, W] + scale [1, C, 1, 1, 1] · field [1, 1, 1, H, W]: this tile's window of site k's field.
  const LtxDecodeNoise& cfg = *n.noise;
  const int k = n.site++;
  const int64_t H = x.dim(3), W = x.dim(4);
  if (H % n.h || W % n.w) throw_eval("LTX-Video VAE: noise injection at " + x.describe() + " is not a whole multiple of the latent");
  const int64_t sy = H / n.h, sx = W / n.w;
  const int64_t full_h = (cfg.full_h > 0 ? cfg.full_h : n.h) * sy, full_w = (cfg.full_w > 0 ? cfg.full_w : n.w) * sx;
  const int64_t y0 = cfg.y0 * sy, x0 = cfg.x0 * sx;
  if (y0 + H > full_h || x0 + W > full_w)
    throw_eval("LTX-Video VAE: the decoded window lies outside the noise field of the whole latent");
  Tensor field;
  if (!cfg.fields.empty()) {
    if (k >= static_cast<int>(cfg.fields.size()))
      throw_eval("LTX-Video VAE: " + std::to_string(cfg.fields.size()) + " noise fields given, the decoder injects more");
    field = cfg.fields[static_cast<size_t>(k)];
    if (field.rank() != 2 || field.dim(0) != full_h || field.dim(1) != full_w)
      throw_eval("LTX-Video VAE: noise field " + std::to_string(k) + " " + field.describe() + " should be [" + std::to_string(full_h) +
                 ", " + std::to_string(full_w) + "]");
  } else {
    field = gpu::normal_noise(s, {full_h, full_w}, cfg.seed, static_cast<uint64_t>(k + 1) << 40);
  }
  if (H != full_h || W != full_w) field = gpu::contiguous(s, gpu::narrow(gpu::narrow(field, 0, y0, H), 1, x0, W));
  return gpu::add(s, x, gpu::mul(s, field.reshape({1, 1, 1, H, W}), scale));
}

Tensor LtxVae::resnet(gpu::CommandStream& s, const Resnet& r, const Tensor& x, const Tensor& temb, bool causal, NoiseCursor* noise) const {
  // temb [B, 4C] plus the table: (shift1, scale1, shift2, scale2).
  Tensor shift1, scale1, shift2, scale2;
  if (r.scale_shift_table.defined()) {
    const int64_t B = temb.dim(0), C = r.scale_shift_table.dim(1);
    const Tensor ada = gpu::add(s, temb.reshape({B, 4, C}), r.scale_shift_table).reshape({B, 4 * C});
    shift1 = chunk(ada, 4, 0), scale1 = chunk(ada, 4, 1), shift2 = chunk(ada, 4, 2), scale2 = chunk(ada, 4, 3);
  }
  Tensor h = conv(s, r.conv1, norm_act(s, x, shift1, scale1), causal);
  const bool noisy = r.noise1.defined() && noise && noise->noise;
  if (noisy) h = inject(s, h, r.noise1, *noise);
  h = conv(s, r.conv2, norm_act(s, h, shift2, scale2), causal);
  if (noisy) h = inject(s, h, r.noise2, *noise);
  Tensor skip = x;
  if (r.shortcut.w.defined()) {
    const Tensor n = gpu::layer_norm(s, to_rows(s, x), config_.resnet_norm_eps, r.norm3_w, r.norm3_b);
    skip = conv(s, r.shortcut, from_rows(s, n, x, x.dim(1)), causal);
  }
  return gpu::add(s, h, skip);
}

Tensor LtxVae::downsample(gpu::CommandStream& s, const Down& d, const Tensor& in) const {
  if (d.strided) {
    // 0.9.0/0.9.1: a causal 3x3x3 conv of stride 2 on every axis.
    gpu::Conv3dParams p = gpu::Conv3dParams::causal(static_cast<int>(d.conv.w.dim(2)), static_cast<int>(d.conv.w.dim(3)) / 2,
                                                    static_cast<int>(d.conv.w.dim(4)) / 2, gpu::TimePadding::Replicate);
    p.stride_t = d.st, p.stride_h = d.sh, p.stride_w = d.sw;
    return gpu::conv3d(s, in, d.conv.w, d.conv.b, p);
  }
  // Prepend the first st-1 frames, then space-to-depth of the conv plus the group mean of space-to-depth(x).
  const Tensor x = d.st > 1 ? gpu::concat(s, {gpu::narrow(in, 2, 0, d.st - 1), in}, 2) : in;
  if (x.dim(2) % d.st || x.dim(3) % d.sh || x.dim(4) % d.sw)
    throw_eval("LTX-Video VAE encoder: " + x.describe() + " does not divide by the downsampler's strides");
  const int64_t factors[] = {d.st, d.sh, d.sw};
  const Tensor main = gpu::space_to_depth(s, conv(s, d.conv, x, true), factors);
  const Tensor packed = gpu::space_to_depth(s, x, factors);
  const int64_t out = main.dim(1), group = packed.dim(1) / out;
  const Tensor grouped = packed.reshape({x.dim(0), out, group, main.dim(2), main.dim(3), main.dim(4)});
  return gpu::add(s, main, gpu::mean(s, grouped, 2));
}

Tensor LtxVae::upsample(gpu::CommandStream& s, const Up& u, const Tensor& x) const {
  // Depth-to-space by (2, 2, 2) of the conv, first frame dropped; plus the same of x tiled over channels.
  const int64_t factors[] = {2, 2, 2};
  const Tensor main = gpu::depth_to_space(s, conv(s, u.conv, x, false), factors);
  const Tensor main_cut = gpu::narrow(main, 2, 1, main.dim(2) - 1);
  if (!u.residual) return gpu::contiguous(s, main_cut);
  const Tensor r = gpu::depth_to_space(s, x, factors);  // [B, C/8, 2T, 2H, 2W]
  const int64_t repeats = 8 / u.factor, B = r.dim(0), n = r.numel() / (B * r.dim(1));
  const Tensor tiled = gpu::contiguous(s, gpu::expand(r.reshape({B, 1, r.dim(1), n}), {B, repeats, r.dim(1), n}))
                           .reshape({B, r.dim(1) * repeats, r.dim(2), r.dim(3), r.dim(4)});
  return gpu::add(s, main_cut, gpu::narrow(tiled, 2, 1, tiled.dim(2) - 1));
}

Tensor LtxVae::decode(gpu::CommandStream& s, const Tensor& z, const std::vector<float>& timestep, const LtxDecodeNoise& noise) const {
  if (z.rank() != 5 || z.dim(1) != config_.latent_channels)
    throw_eval("LTX-Video VAE: latent " + z.describe() + " should be [B, " + std::to_string(config_.latent_channels) + ", T, h, w]");
  const int64_t B = z.dim(0);
  std::vector<float> t;
  if (config_.timestep_conditioning) {
    if (static_cast<int64_t>(timestep.size()) != B)
      throw_eval("LTX-Video VAE: " + std::to_string(timestep.size()) + " decode timesteps for " + std::to_string(B) + " videos");
    for (float v : timestep) t.push_back(v * timestep_scale_);
  }
  const bool cond = config_.timestep_conditioning;
  NoiseCursor cursor{&noise, z.dim(3), z.dim(4), 0};
  SubmitPacer pace;
  Tensor x = conv(s, dec_conv_in_, z, false);
  const Tensor mid_temb = cond ? embed(s, mid_time_, t) : Tensor{};
  for (const Resnet& r : dec_mid_) x = resnet(s, r, x, mid_temb, false, &cursor);
  for (const Up& u : up_) {
    if (u.conv_in) x = resnet(s, *u.conv_in, x, {}, false, &cursor);
    const Tensor temb = cond ? embed(s, u.time, t) : Tensor{};
    if (u.upsample) x = upsample(s, u, x);
    pace(s);
    for (const Resnet& r : u.resnets) {
      x = resnet(s, r, x, temb, false, &cursor);
      pace(s);
    }
  }
  Tensor shift, scale;
  if (cond) {
    const int64_t C = out_scale_shift_.dim(1);
    const Tensor ss = gpu::add(s, embed(s, out_time_, t).reshape({B, 2, C}), out_scale_shift_).reshape({B, 2 * C});
    shift = chunk(ss, 2, 0), scale = chunk(ss, 2, 1);
  }
  x = conv(s, dec_conv_out_, norm_act(s, x, shift, scale), false);
  // Unpatchify: packed channel c·p² + pw·p + ph (width offset first), done on the H/W-swapped view.
  const int64_t p = config_.patch_size, f[] = {1, p, p};
  const Tensor video = gpu::depth_to_space(s, gpu::permute(x, {0, 1, 2, 4, 3}), f);
  return gpu::contiguous(s, gpu::permute(video, {0, 1, 2, 4, 3}));
}

std::pair<Tensor, Tensor> LtxVae::encode(gpu::CommandStream& s, const Tensor& video) const {
  // Channels [0, L) are the mean; the last one is the log-variance of every channel.
  auto moments = split_moments(s, encode_moments(s, video), config_.latent_channels);
  s.finish();
  return moments;
}

Tensor LtxVae::encode_moments(gpu::CommandStream& s, const Tensor& video) const {
  if (!has_encoder_) throw_eval("LTX-Video VAE: these weights have no encoder");
  const int sc = config_.spatial_compression(), tc = config_.temporal_compression();
  if (video.rank() != 5 || video.dim(1) != config_.in_channels || (video.dim(2) - 1) % tc || video.dim(3) % sc || video.dim(4) % sc)
    throw_eval("LTX-Video VAE encoder: video " + video.describe() + " should be [B, " + std::to_string(config_.in_channels) +
               ", 1 + " + std::to_string(tc) + "k, H, W] with H and W multiples of " + std::to_string(sc));
  const int64_t p = config_.patch_size, f[] = {1, p, p};
  Tensor x = gpu::space_to_depth(s, gpu::permute(video, {0, 1, 2, 4, 3}), f);
  x = gpu::contiguous(s, gpu::permute(x, {0, 1, 2, 4, 3}));
  x = conv(s, enc_conv_in_, x, true);
  SubmitPacer pace;
  for (const Down& d : down_) {
    for (const Resnet& r : d.resnets) {
      x = resnet(s, r, x, {}, true);
      pace(s);
    }
    if (d.st) x = downsample(s, d, x);
    if (d.conv_out) x = resnet(s, *d.conv_out, x, {}, true);
  }
  for (const Resnet& r : enc_mid_) x = resnet(s, r, x, {}, true);
  return conv(s, enc_conv_out_, norm_act(s, x, {}, {}), true);
}

Tensor LtxVae::normalize(gpu::CommandStream& s, const Tensor& z) const {
  const int64_t C = config_.latent_channels;
  const Tensor m = latents_mean_.reshape({C, 1, 1, 1}), sd = latents_std_.reshape({C, 1, 1, 1});
  const Tensor k = Tensor::from_floats(ctx_, std::vector<float>{config_.scaling_factor}, {1});
  return gpu::div(s, gpu::mul(s, gpu::sub(s, z, m), k), sd);
}

Tensor LtxVae::denormalize(gpu::CommandStream& s, const Tensor& z) const {
  const int64_t C = config_.latent_channels;
  const Tensor m = latents_mean_.reshape({C, 1, 1, 1}), sd = latents_std_.reshape({C, 1, 1, 1});
  const Tensor k = Tensor::from_floats(ctx_, std::vector<float>{config_.scaling_factor}, {1});
  return gpu::add(s, gpu::div(s, gpu::mul(s, z, sd), k), m);
}

}  // namespace lattice
