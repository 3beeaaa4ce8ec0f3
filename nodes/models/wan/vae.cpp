#include "nodes/models/wan/vae.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/conv3d.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/softmax.h"
#include "gpu/ops/unary.h"
#include "gpu/ops/upsample.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"

namespace lattice {

using gpu::Tensor;

namespace {

// F.normalize's eps (1e-12 on the L2 norm) expressed as an RMS eps; it only matters for all-zero vectors.
constexpr float kNormEps = 1e-24f;
constexpr int kCacheFrames = 2;  // diffusers' CACHE_T

const std::vector<float> kWan21Mean{-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                    0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
const std::vector<float> kWan21Std{2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                   3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

std::string str(int64_t v) { return std::to_string(v); }

// Channels of the encoder stages ([base] + base * dim_mult) and of the decoder stages (base * dim_mult[-1],
// then dim_mult reversed), as diffusers builds them.
std::vector<int> encoder_dims(const WanVaeConfig& c) {
  std::vector<int> d{c.base_dim};
  for (int m : c.dim_mult) d.push_back(c.base_dim * m);
  return d;
}
std::vector<int> decoder_dims(const WanVaeConfig& c) {
  std::vector<int> d{c.base_dim * c.dim_mult.back()};
  for (auto it = c.dim_mult.rbegin(); it != c.dim_mult.rend(); ++it) d.push_back(c.base_dim * *it);
  return d;
}

// Walks the decoder's up levels as decode_chunk() runs them: every resnet (input, output widths) and every
// upsampler (its input width, whether it doubles the frames) in order; the head then sees decoder_dims().back().
template <class OnResnet, class OnUpsampler>
void walk_up_levels(const WanVaeConfig& cfg, OnResnet&& resnet, OnUpsampler&& upsampler) {
  const std::vector<int> d = decoder_dims(cfg);
  const int levels = cfg.levels();
  double c = d[0];
  for (int i = 0; i < levels; ++i) {
    const double out = d[static_cast<size_t>(i) + 1];
    resnet(c, out);
    for (int r = 0; r < cfg.num_res_blocks; ++r) resnet(out, out);
    c = out;
    if (i == levels - 1) break;
    upsampler(c, static_cast<bool>(cfg.temperal_downsample[static_cast<size_t>(levels - 2 - i)]));
    c /= 2;
  }
}

// x [B, C, ...] -> channels last [B, ..., C] and back.
Tensor to_channels_last(gpu::CommandStream& s, const Tensor& x) { return gpu::contiguous(s, gpu::permute(x, {0, 2, 3, 4, 1})); }
Tensor to_channels_first(gpu::CommandStream& s, const Tensor& x) { return gpu::contiguous(s, gpu::permute(x, {0, 4, 1, 2, 3})); }

// WanRMS_norm over the channels of x [B, C, T, H, W] (F.normalize · sqrt(C) · gamma = RMS norm · gamma), then
// SiLU. Runs channels-last, where the norm is a last-dimension op.
Tensor norm_silu(gpu::CommandStream& s, const Tensor& x, const Tensor& gamma) {
  return to_channels_first(s, gpu::silu(s, gpu::rms_norm(s, to_channels_last(s, x), kNormEps, gamma)));
}

// A 2-D conv weight [O, I, kh, kw] as the one-frame 3-D kernel [O, I, 1, kh, kw].
Tensor as_frame_kernel(const Tensor& w) { return w.reshape({w.dim(0), w.dim(1), 1, w.dim(2), w.dim(3)}); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Config

WanVaeConfig::WanVaeConfig() : latents_mean(kWan21Mean), latents_std(kWan21Std) {}

int WanVaeConfig::temporal_compression() const {
  int f = 1;
  for (bool t : temperal_downsample) f *= t ? 2 : 1;
  return f;
}

void WanVaeConfig::validate() const {
  auto bad = [](const std::string& m) { throw_invalid("Wan VAE config: " + m); };
  if (dim_mult.empty()) bad("dim_mult is empty");
  if (base_dim <= 0 || z_dim <= 0 || num_res_blocks < 1) bad("base_dim, z_dim and num_res_blocks must be positive");
  for (int m : dim_mult)
    if (m <= 0) bad("dim_mult entries must be positive");
  if (static_cast<int>(temperal_downsample.size()) != levels() - 1)
    bad("temperal_downsample has " + str(static_cast<int64_t>(temperal_downsample.size())) + " entries, dim_mult needs " +
        str(levels() - 1));
  // Encoding runs 4 frames per chunk after the first; more than two temporal halvings would leave nothing.
  if (temporal_compression() > 4) bad("more than two temporal downsamplings are not supported");
  if (static_cast<int>(latents_mean.size()) != z_dim || static_cast<int>(latents_std.size()) != z_dim)
    bad("latents_mean and latents_std need z_dim = " + str(z_dim) + " entries");
  for (float v : latents_std)
    if (!(v > 0)) bad("latents_std entries must be positive");
}

WanVaeConfig wan_vae_config_from_json(const nlohmann::json& j) {
  WanVaeConfig c;
  try {
    c.base_dim = j.value("base_dim", c.base_dim);
    c.z_dim = j.value("z_dim", c.z_dim);
    if (j.contains("dim_mult")) c.dim_mult = j["dim_mult"].get<std::vector<int>>();
    c.num_res_blocks = j.value("num_res_blocks", c.num_res_blocks);
    if (j.contains("temperal_downsample")) c.temperal_downsample = j["temperal_downsample"].get<std::vector<bool>>();
    if (j.contains("attn_scales") && !j["attn_scales"].empty())
      throw_invalid("Wan VAE config: attn_scales other than [] (attention outside the mid blocks) are not supported");
    if (j.contains("latents_mean")) c.latents_mean = j["latents_mean"].get<std::vector<float>>();
    if (j.contains("latents_std")) c.latents_std = j["latents_std"].get<std::vector<float>>();
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(std::string("Wan VAE config: ") + e.what());
  }
  c.validate();
  return c;
}

nlohmann::json wan_vae_config_to_json(const WanVaeConfig& c) {
  return {{"base_dim", c.base_dim},
          {"z_dim", c.z_dim},
          {"dim_mult", c.dim_mult},
          {"num_res_blocks", c.num_res_blocks},
          {"temperal_downsample", c.temperal_downsample},
          {"latents_mean", c.latents_mean},
          {"latents_std", c.latents_std}};
}

bool is_wan_vae(const WeightSource& w) {
  for (const char* k : {"decoder.norm_out.gamma", "encoder.norm_out.gamma", "decoder.head.0.gamma", "encoder.head.0.gamma"})
    if (w.has(k)) return true;
  return false;
}

WanVaeConfig detect_wan_vae_config(const WeightSource& w) {
  if (!is_wan_vae(w))
    throw_invalid(w.origin() + ": not a Wan VAE (AutoencoderKLWan) checkpoint: it has no decoder.norm_out.gamma" +
                  (w.has("decoder.conv_norm_out.weight") ? " (it looks like an image AutoencoderKL: load it with vae.load)" : ""));
  if (w.has("decoder.head.0.gamma") || w.has("encoder.head.0.gamma"))
    throw_invalid(w.origin() + ": Wan VAE in the original Wan-AI layout; convert_wan_vae_original() it first");
  if (!w.has("decoder.conv_in.weight") || !w.has("decoder.up_blocks.0.resnets.0.conv2.weight"))
    throw_invalid(w.origin() + ": Wan VAE without a decoder (decoder.conv_in.weight is missing); only full VAEs are supported");
  WanVaeConfig c = w.config() ? wan_vae_config_from_json(*w.config()) : WanVaeConfig{};
  const int L = w.count_blocks("decoder.up_blocks.");
  c.num_res_blocks = w.count_blocks("decoder.up_blocks.0.resnets.") - 1;
  c.z_dim = static_cast<int>(w.info("decoder.conv_in.weight").shape.at(1));
  std::vector<int> dec(static_cast<size_t>(L));
  for (int i = 0; i < L; ++i) dec[i] = static_cast<int>(w.info("decoder.up_blocks." + str(i) + ".resnets.0.conv2.weight").shape.at(0));
  // The decoder's last stage has base_dim * dim_mult[0] channels; every Wan VAE has dim_mult[0] = 1, and the
  // encoder (its conv_in has base_dim outputs) confirms it when present.
  c.base_dim = w.has("encoder.conv_in.weight") ? static_cast<int>(w.info("encoder.conv_in.weight").shape.at(0)) : dec.back();
  c.dim_mult.assign(static_cast<size_t>(L), 0);
  for (int i = 0; i < L; ++i) {
    if (dec[i] % c.base_dim) throw_invalid(w.origin() + ": Wan VAE decoder stage " + str(i) + " channels are not a multiple of base_dim");
    c.dim_mult[static_cast<size_t>(L - 1 - i)] = dec[i] / c.base_dim;
  }
  c.temperal_downsample.assign(static_cast<size_t>(L - 1), false);
  for (int i = 0; i < L - 1; ++i)
    c.temperal_downsample[static_cast<size_t>(L - 2 - i)] = w.has("decoder.up_blocks." + str(i) + ".upsamplers.0.time_conv.weight");
  if (static_cast<int>(c.latents_mean.size()) != c.z_dim) {
    if (w.config()) throw_invalid(w.origin() + ": config.json latents_mean does not have z_dim = " + str(c.z_dim) + " entries");
    throw_invalid(w.origin() + ": a Wan VAE with z_dim " + str(c.z_dim) + " needs a config.json with latents_mean/latents_std");
  }
  c.validate();
  return c;
}

void convert_wan_vae_original(WeightSource& w) {
  if (!w.has("decoder.head.0.gamma") && !w.has("encoder.head.0.gamma")) return;
  // residual.{0,2,3,6} are (norm1, conv1, norm2, conv2) of the original nn.Sequential; shortcut is conv_shortcut.
  auto resnet_part = [](const std::string& rest) -> std::string {
    static const std::pair<const char*, const char*> map[] = {{"residual.0.", "norm1."}, {"residual.2.", "conv1."},
                                                              {"residual.3.", "norm2."}, {"residual.6.", "conv2."},
                                                              {"shortcut.", "conv_shortcut."}};
    for (const auto& [from, to] : map)
      if (rest.rfind(from, 0) == 0) return to + rest.substr(std::strlen(from));
    return "";
  };
  auto fail = [&](const std::string& name) {
    throw_invalid(w.origin() + ": unknown tensor '" + name + "' in an original-layout Wan VAE");
  };
  // Decoder upsamples: a flat list of (num_res_blocks + 1) residual blocks and one resampler per level, the
  // last level without a resampler. The group size is fixed by the first resampler's index.
  int group = 0;
  for (int i = 0; group == 0 && i < 1000; ++i)
    if (w.has("decoder.upsamples." + str(i) + ".resample.1.weight")) group = i + 1;
  for (const std::string& name : w.names()) {
    std::string to;
    auto starts = [&](const std::string& p) { return name.rfind(p, 0) == 0; };
    if (name == "conv1.weight" || name == "conv1.bias") to = "quant_conv." + name.substr(6);
    else if (name == "conv2.weight" || name == "conv2.bias") to = "post_quant_conv." + name.substr(6);
    else if (starts("encoder.") || starts("decoder.")) {
      const std::string side = name.substr(0, 8), rest = name.substr(8);
      const auto dot = [&](const std::string& r, size_t from) { return r.find('.', from); };
      if (rest.rfind("conv1.", 0) == 0) to = side + "conv_in." + rest.substr(6);
      else if (rest.rfind("head.0.", 0) == 0) to = side + "norm_out." + rest.substr(7);
      else if (rest.rfind("head.2.", 0) == 0) to = side + "conv_out." + rest.substr(7);
      else if (rest.rfind("middle.", 0) == 0) {
        const size_t d = dot(rest, 7);
        const int idx = std::stoi(rest.substr(7, d - 7));
        const std::string tail = rest.substr(d + 1);
        if (idx == 1) to = side + "mid_block.attentions.0." + tail;
        else if (const std::string p = resnet_part(tail); !p.empty() && (idx == 0 || idx == 2))
          to = side + "mid_block.resnets." + str(idx / 2) + "." + p;
      } else if (rest.rfind("downsamples.", 0) == 0) {
        const size_t d = dot(rest, 12);
        const std::string idx = rest.substr(12, d - 12), tail = rest.substr(d + 1);
        if (const std::string p = resnet_part(tail); !p.empty()) to = side + "down_blocks." + idx + "." + p;
        else if (tail.rfind("resample.", 0) == 0 || tail.rfind("time_conv.", 0) == 0) to = side + "down_blocks." + idx + "." + tail;
      } else if (rest.rfind("upsamples.", 0) == 0 && group > 0) {
        const size_t d = dot(rest, 10);
        const int idx = std::stoi(rest.substr(10, d - 10));
        const std::string tail = rest.substr(d + 1), level = str(idx / group);
        if (idx % group == group - 1) {
          if (tail.rfind("resample.", 0) == 0 || tail.rfind("time_conv.", 0) == 0) to = side + "up_blocks." + level + ".upsamplers.0." + tail;
        } else if (const std::string p = resnet_part(tail); !p.empty()) {
          to = side + "up_blocks." + level + ".resnets." + str(idx % group) + "." + p;
        }
      }
    }
    if (to.empty()) fail(name);
    w.rename(name, to);
  }
}

std::vector<std::pair<std::string, std::vector<int64_t>>> wan_vae_tensor_shapes(const WanVaeConfig& c) {
  c.validate();
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  auto conv = [&](const std::string& p, int64_t o, int64_t i, std::vector<int64_t> k) {
    std::vector<int64_t> s{o, i};
    s.insert(s.end(), k.begin(), k.end());
    t.emplace_back(p + "weight", s);
    t.emplace_back(p + "bias", std::vector<int64_t>{o});
  };
  auto resnet = [&](const std::string& p, int64_t in, int64_t out) {
    t.emplace_back(p + "norm1.gamma", std::vector<int64_t>{in, 1, 1, 1});
    conv(p + "conv1.", out, in, {3, 3, 3});
    t.emplace_back(p + "norm2.gamma", std::vector<int64_t>{out, 1, 1, 1});
    conv(p + "conv2.", out, out, {3, 3, 3});
    if (in != out) conv(p + "conv_shortcut.", out, in, {1, 1, 1});
  };
  auto mid = [&](const std::string& p, int64_t d) {
    resnet(p + "mid_block.resnets.0.", d, d);
    t.emplace_back(p + "mid_block.attentions.0.norm.gamma", std::vector<int64_t>{d, 1, 1});
    conv(p + "mid_block.attentions.0.to_qkv.", 3 * d, d, {1, 1});
    conv(p + "mid_block.attentions.0.proj.", d, d, {1, 1});
    resnet(p + "mid_block.resnets.1.", d, d);
  };
  const int L = c.levels();
  const std::vector<int> ed = encoder_dims(c), dd = decoder_dims(c);
  conv("encoder.conv_in.", ed[0], 3, {3, 3, 3});
  int idx = 0;
  for (int i = 0; i < L; ++i) {
    for (int r = 0; r < c.num_res_blocks; ++r) resnet("encoder.down_blocks." + str(idx++) + ".", r == 0 ? ed[i] : ed[i + 1], ed[i + 1]);
    if (i == L - 1) continue;
    const std::string p = "encoder.down_blocks." + str(idx++) + ".";
    conv(p + "resample.1.", ed[i + 1], ed[i + 1], {3, 3});
    if (c.temperal_downsample[i]) conv(p + "time_conv.", ed[i + 1], ed[i + 1], {3, 1, 1});
  }
  mid("encoder.", ed.back());
  t.emplace_back("encoder.norm_out.gamma", std::vector<int64_t>{ed.back(), 1, 1, 1});
  conv("encoder.conv_out.", 2 * c.z_dim, ed.back(), {3, 3, 3});
  conv("quant_conv.", 2 * c.z_dim, 2 * c.z_dim, {1, 1, 1});
  conv("post_quant_conv.", c.z_dim, c.z_dim, {1, 1, 1});
  conv("decoder.conv_in.", dd[0], c.z_dim, {3, 3, 3});
  mid("decoder.", dd[0]);
  for (int i = 0; i < L; ++i) {
    const int in = i > 0 ? dd[i] / 2 : dd[i], out = dd[i + 1];
    for (int r = 0; r <= c.num_res_blocks; ++r)
      resnet("decoder.up_blocks." + str(i) + ".resnets." + str(r) + ".", r == 0 ? in : out, out);
    if (i == L - 1) continue;
    const std::string p = "decoder.up_blocks." + str(i) + ".upsamplers.0.";
    conv(p + "resample.1.", out / 2, out, {3, 3});
    if (c.temperal_downsample[static_cast<size_t>(L - 2 - i)]) conv(p + "time_conv.", 2 * out, out, {3, 1, 1});
  }
  t.emplace_back("decoder.norm_out.gamma", std::vector<int64_t>{dd.back(), 1, 1, 1});
  conv("decoder.conv_out.", 3, dd.back(), {3, 3, 3});
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// Loading

WanVae::Coder WanVae::load_coder(DeviceWeights& w, bool encoder) const {
  const std::string p = encoder ? "encoder." : "decoder.";
  auto conv = [&](const std::string& k) { return Conv{w.f32(k + ".weight"), w.f32(k + ".bias")}; };
  auto gamma = [&](const std::string& k) {
    const Tensor& g = w.f32(k);
    return g.reshape({g.dim(0)});
  };
  auto resnet = [&](const std::string& k) {
    Resnet r{gamma(k + "norm1.gamma"), gamma(k + "norm2.gamma"), conv(k + "conv1"), conv(k + "conv2"), {}};
    if (w.has(k + "conv_shortcut.weight")) r.shortcut = conv(k + "conv_shortcut");
    return r;
  };
  auto matrix = [](Conv c) {  // a 1x1 conv as a linear layer
    c.w = c.w.reshape({c.w.dim(0), c.w.dim(1)});
    return c;
  };
  Coder c;
  c.conv_in = conv(p + "conv_in");
  c.conv_out = conv(p + "conv_out");
  c.norm_out = gamma(p + "norm_out.gamma");
  const std::string a = p + "mid_block.attentions.0.";
  c.mid = {resnet(p + "mid_block.resnets.0."), resnet(p + "mid_block.resnets.1."),
           {gamma(a + "norm.gamma"), matrix(conv(a + "to_qkv")), matrix(conv(a + "proj"))}};
  const int L = config_.levels();
  int idx = 0;
  for (int i = 0; i < L; ++i) {
    Level l;
    const int n = config_.num_res_blocks + (encoder ? 0 : 1);
    for (int r = 0; r < n; ++r)
      l.resnets.push_back(resnet(encoder ? p + "down_blocks." + str(idx++) + "." : p + "up_blocks." + str(i) + ".resnets." + str(r) + "."));
    if (i < L - 1) {
      const std::string k = encoder ? p + "down_blocks." + str(idx++) + "." : p + "up_blocks." + str(i) + ".upsamplers.0.";
      const bool temporal = encoder ? config_.temperal_downsample[i] : config_.temperal_downsample[static_cast<size_t>(L - 2 - i)];
      l.resampler.mode = encoder ? (temporal ? Resample::Down3d : Resample::Down2d) : (temporal ? Resample::Up3d : Resample::Up2d);
      l.resampler.resample = conv(k + "resample.1");
      l.resampler.resample.w = as_frame_kernel(l.resampler.resample.w);
      if (temporal) l.resampler.time_conv = conv(k + "time_conv");
    }
    c.levels.push_back(std::move(l));
  }
  return c;
}

WanVae::WanVae(WanVaeConfig config, DeviceWeights& w) : config_(std::move(config)) {
  config_.validate();
  // Every tensor must be there with the config's shape: a mismatch is named here, not deep in a forward.
  for (const auto& [name, shape] : wan_vae_tensor_shapes(config_)) {
    const bool enc = name.rfind("encoder.", 0) == 0 || name.rfind("quant_conv.", 0) == 0;
    if (enc && !w.has("encoder.conv_in.weight")) continue;
    const TensorInfo* info = w.source().find(name);
    if (!info) throw_invalid(w.source().origin() + ": Wan VAE tensor '" + name + "' is missing");
    if (info->shape != shape)
      throw_invalid(w.source().origin() + ": Wan VAE tensor '" + name + "' has shape " + HostTensor{DType::F32, info->shape, {}}.shape_string() +
                    ", the config needs " + HostTensor{DType::F32, shape, {}}.shape_string());
  }
  has_decoder_ = w.has("decoder.conv_in.weight");
  has_encoder_ = w.has("encoder.conv_in.weight");
  if (has_decoder_) {
    decoder_ = load_coder(w, false);
    post_quant_conv_ = {w.f32("post_quant_conv.weight"), w.f32("post_quant_conv.bias")};
  }
  if (has_encoder_) {
    encoder_ = load_coder(w, true);
    quant_conv_ = {w.f32("quant_conv.weight"), w.f32("quant_conv.bias")};
  }
}

// ---------------------------------------------------------------------------------------------------------
// Blocks. x: [B, C, T, H, W] throughout.

Tensor WanVae::causal_conv(gpu::CommandStream& s, WanCausalState& st, const Conv& c, const Tensor& x) const {
  // WanCausalConv3d with the feat_cache: the previous chunk's last input frames stand in for the left zeros.
  if (st.slots.size() <= st.next) st.slots.resize(st.next + 1);
  Tensor& cache = st.slots[st.next++];
  const Tensor y = gpu::conv3d(s, x, c.w, c.b, gpu::Conv3dParams::causal(static_cast<int>(c.w.dim(2)), static_cast<int>(c.w.dim(3) / 2),
                                                                      static_cast<int>(c.w.dim(4) / 2)), cache);
  cache = gpu::conv3d_cache_tail(s, x, cache, kCacheFrames);
  // The stream holds every buffer a recorded dispatch uses until its submission completes, so a whole chunk
  // recorded at once would hold all its temporaries (gigabytes at 480p). Waiting after each causal conv
  // bounds the device memory to about one conv's inputs and outputs; the syncs cost little next to the convs.
  s.finish();
  return y;
}

Tensor WanVae::resnet(gpu::CommandStream& s, WanCausalState& st, const Resnet& r, const Tensor& x) const {
  const Tensor shortcut = r.shortcut.w.defined() ? gpu::conv3d(s, x, r.shortcut.w, r.shortcut.b) : x;
  Tensor h = causal_conv(s, st, r.conv1, norm_silu(s, x, r.norm1));
  h = causal_conv(s, st, r.conv2, norm_silu(s, h, r.norm2));
  return gpu::add(s, h, shortcut);
}

uint64_t WanVaeConfig::decode_peak_tensor_bytes(int chunk, int64_t th, int64_t tw) const {
  // Walks decode_chunk() in order, in elements: t frames of H x W at c channels.
  const std::vector<int> d = decoder_dims(*this);
  double t = std::max(chunk, 1), H = static_cast<double>(th), W = static_cast<double>(tw), widest = 0;
  auto r4 = [](double c) { return std::ceil(c / 4) * 4; };
  // A conv of kt x 3 x 3 (causal: kt - 1 frames in front; 1 x 1 x 1 when spatial is false): its input,
  // the padded channels-last packing of that input, its output.
  auto conv = [&](double cin, double cout, int kt, bool spatial) {
    const double p = spatial ? 2 : 0;
    widest = std::max({widest, cin * t * H * W, r4(cin) * (t + kt - 1) * (H + p) * (W + p), cout * t * H * W});
  };
  auto resnet = [&](double cin, double cout) {
    if (cin != cout) conv(cin, cout, 1, false);
    conv(cin, cout, 3, true);
    conv(cout, cout, 3, true);
  };
  conv(z_dim, z_dim, 1, false);  // post_quant_conv
  conv(z_dim, d[0], 3, true);    // conv_in
  resnet(d[0], d[0]);
  const double L = H * W, c0 = d[0];
  widest = std::max(widest, 3 * c0 * t * L);              // the mid attention's packed q/k/v
  if (c0 > 256) widest = std::max(widest, L * L);         // one frame's explicit scores
  resnet(d[0], d[0]);
  walk_up_levels(*this, resnet, [&](double c, bool temporal) {
    if (temporal) {
      conv(c, 2 * c, 3, false);  // time_conv: two frames per frame, interleaved by a copy of the same size
      t *= 2;
    }
    widest = std::max(widest, c * t * 4 * H * W);  // the nearest-upsampled input of the resample conv
    H *= 2;
    W *= 2;
    conv(c, c / 2, 1, true);
  });
  conv(d.back(), 3, 3, true);  // head
  return static_cast<uint64_t>(std::ceil(widest * sizeof(float)));
}

uint64_t WanVaeConfig::decode_cache_bytes(int64_t frames_seen, int64_t th, int64_t tw) const {
  // Walks decode_chunk()'s causal convs in order, in elements. A conv at a level behind u temporal
  // upsamplers has seen 1 + 2^u (frames_seen - 1) frames (the first pass is never doubled).
  if (frames_seen < 1) return 0;
  const std::vector<int> d = decoder_dims(*this);
  double later = static_cast<double>(frames_seen - 1), HW = static_cast<double>(th * tw), total = 0;
  auto cache = [&](double c, double frames) { total += c * std::min(frames, double{kCacheFrames}) * HW; };
  auto conv = [&](double c) { cache(c, 1 + later); };
  auto resnet = [&](double cin, double cout) {
    conv(cin);
    conv(cout);
  };
  conv(z_dim);  // conv_in
  resnet(d[0], d[0]);
  resnet(d[0], d[0]);
  walk_up_levels(*this, resnet, [&](double c, bool temporal) {
    if (temporal) {
      cache(c, later);  // the time conv's input, after the first pass only
      later *= 2;
    }
    HW *= 4;
  });
  conv(d.back());  // head
  return static_cast<uint64_t>(total) * sizeof(float);
}

uint64_t WanVaeConfig::decode_kept_cache_bytes(int64_t latent_frames, int chunk, int64_t th, int64_t tw) const {
  if (latent_frames <= 1) return 0;
  const int64_t c = std::max(chunk, 1), passes = (latent_frames - 1 + c - 1) / c;  // after the first
  return decode_cache_bytes(1 + c * (passes - 1), th, tw);
}

size_t wan_resident_cache_tiles(size_t tiles, uint64_t cache_bytes, uint64_t room) {
  if (tiles <= 1 || cache_bytes == 0) return tiles;
  return static_cast<size_t>(std::min<uint64_t>(tiles, room / cache_bytes));
}

int64_t WanVaeConfig::largest_decode_tile(uint64_t max_buffer_bytes, int chunk, int64_t h, int64_t w) const {
  return largest_fitting_tile(h, w, max_buffer_bytes, [&](int64_t th, int64_t tw) { return decode_peak_tensor_bytes(chunk, th, tw); });
}

uint64_t WanVaeConfig::encode_peak_tensor_bytes(int64_t th, int64_t tw) const {
  // Walks encode_chunk() for a 4-frame chunk (the first chunk, one frame, is smaller), in elements.
  const std::vector<int> e = encoder_dims(*this);
  const int f = spatial_compression();
  double t = 4, H = static_cast<double>(th * f), W = static_cast<double>(tw * f), widest = 3 * t * H * W;
  auto r4 = [](double c) { return std::ceil(c / 4) * 4; };
  // A conv over t frames (pt more of padding or cache in front) and pixels padded by (ph, pw): its input,
  // the padded channels-last packing, its output of ot frames of oh x ow.
  auto conv = [&](double cin, double cout, double pt, double ph, double pw, double ot, double oh, double ow) {
    widest = std::max({widest, cin * t * H * W, r4(cin) * (t + pt) * (H + ph) * (W + pw), cout * ot * oh * ow});
  };
  auto same = [&](double cin, double cout, double pt, double p) { conv(cin, cout, pt, p, p, t, H, W); };
  auto resnet = [&](double cin, double cout) {
    if (cin != cout) same(cin, cout, 0, 0);
    same(cin, cout, 2, 2);
    same(cout, cout, 2, 2);
  };
  same(3, e[0], 2, 2);  // conv_in
  const int levels = static_cast<int>(dim_mult.size());
  double c = e[0];
  for (int i = 0; i < levels; ++i) {
    const double out = e[static_cast<size_t>(i) + 1];
    resnet(c, out);
    for (int r = 1; r < num_res_blocks; ++r) resnet(out, out);
    c = out;
    if (i == levels - 1) break;
    conv(c, c, 0, 1, 1, t, std::ceil(H / 2), std::ceil(W / 2));  // zero pad right and bottom, stride-2 3x3
    H = std::ceil(H / 2);
    W = std::ceil(W / 2);
    if (temperal_downsample[static_cast<size_t>(i)]) {
      conv(c, c, 1, 0, 0, t / 2, H, W);  // 3 frames, stride 2, the previous chunk's last frame in front
      t = t / 2;
    }
  }
  resnet(c, c);
  const double L = H * W;
  widest = std::max(widest, 3 * c * t * L);  // the mid attention's packed q/k/v
  if (c > 256) widest = std::max(widest, L * L);
  resnet(c, c);
  same(c, 2.0 * z_dim, 2, 2);  // head
  return static_cast<uint64_t>(std::ceil(widest * sizeof(float)));
}

int64_t WanVaeConfig::largest_encode_tile(uint64_t max_buffer_bytes, int64_t h, int64_t w) const {
  return largest_fitting_tile(h, w, max_buffer_bytes, [&](int64_t th, int64_t tw) { return encode_peak_tensor_bytes(th, tw); });
}

Tensor wan_single_head_attention(gpu::CommandStream& s, const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                 bool force_explicit) {
  const int64_t N = q.dim(0), L = q.dim(1), D = q.dim(2);
  if (D <= 256 && !force_explicit) {
    auto heads = [](const Tensor& t) {  // [N, L, D] -> [N, 1, L, D], no copy
      return t.view({t.dim(0), 1, t.dim(1), t.dim(2)}, {t.strides()[0], t.strides()[0], t.strides()[1], t.strides()[2]}, t.offset());
    };
    gpu::AttentionOptions o;
    o.scale = scale;
    return gpu::attention(s, heads(q), heads(k), heads(v), o).reshape({N, L, D});
  }
  // The flash kernel takes head dims up to 256; wider heads get their [L, L] scores explicitly, one item
  // at a time: softmax(q·kᵀ·scale) with kᵀ as the matmul's transposed operand, then ·v through vᵀ.
  Tensor out = Tensor::empty(s.context(), {N, L, D}, gpu::DType::F32);
  const Tensor sc = Tensor::from_floats(s.context(), std::vector<float>{scale}, {1});
  for (int64_t n = 0; n < N; ++n) {
    const Tensor qn = gpu::contiguous(s, gpu::narrow(q, 0, n, 1));
    const Tensor kn = gpu::contiguous(s, gpu::narrow(k, 0, n, 1)).reshape({L, D});
    const Tensor vt = gpu::contiguous(s, gpu::permute(gpu::narrow(v, 0, n, 1), {0, 2, 1})).reshape({D, L});
    const Tensor p = gpu::softmax(s, gpu::mul(s, gpu::matmul(s, qn, kn), sc));  // [1, L, L]
    gpu::copy_into(s, gpu::matmul(s, p, vt), gpu::narrow(out, 0, n, 1));
  }
  return out;
}

Tensor WanVae::attention(gpu::CommandStream& s, const Attention& a, const Tensor& x) const {
  // Single-head self-attention within each frame over its H*W positions, channels as features.
  const int64_t B = x.dim(0), C = x.dim(1), T = x.dim(2), H = x.dim(3), W = x.dim(4), L = H * W;
  const Tensor tokens = gpu::rms_norm(s, to_channels_last(s, x).reshape({B * T, L, C}), kNormEps, a.norm);  // [BT, L, C]
  const Tensor qkv = gpu::matmul(s, tokens, a.to_qkv.w, a.to_qkv.b);                                     // [BT, L, 3C]
  auto part = [&](int i) { return qkv.view({B * T, L, C}, {L * 3 * C, 3 * C, 1}, qkv.offset() + i * C); };
  const Tensor att = wan_single_head_attention(s, part(0), part(1), part(2), 1.0f / std::sqrt(static_cast<float>(C)));
  const Tensor out = gpu::matmul(s, att, a.proj.w, a.proj.b).reshape({B, T, H, W, C});
  const Tensor y = gpu::add(s, to_channels_first(s, out), x);
  s.finish();  // as after the causal convs: bound the temporaries held by the stream
  return y;
}

Tensor WanVae::mid(gpu::CommandStream& s, WanCausalState& st, const Mid& m, const Tensor& x) const {
  return resnet(s, st, m.res1, attention(s, m.attn, resnet(s, st, m.res0, x)));
}

Tensor WanVae::resample(gpu::CommandStream& s, WanCausalState& st, const Resampler& r, const Tensor& x) const {
  Tensor h = x;
  if (r.mode == Resample::Up3d) {
    // The time conv doubles the channels into two frames per input frame. It is skipped for the first
    // chunk (which stays one frame) and runs with zeros in front for the second (diffusers' "Rep" state).
    if (st.slots.size() <= st.next) st.slots.resize(st.next + 1);
    Tensor& cache = st.slots[st.next++];
    if (!st.first_chunk) {
      const int64_t B = x.dim(0), C = x.dim(1), T = x.dim(2);
      const Tensor t = gpu::conv3d(s, x, r.time_conv.w, r.time_conv.b, gpu::Conv3dParams::causal(3, 0, 0), cache);
      cache = gpu::conv3d_cache_tail(s, x, cache, kCacheFrames);
      // [B, 2C, T, H, W] -> [B, 2, C, T, H, W] -> [B, C, T, 2, H, W]: frame 2t + k is channel block k at t.
      h = gpu::contiguous(s, gpu::permute(gpu::unflatten(t, 1, {2, C}), {0, 2, 3, 1, 4, 5})).reshape({B, C, 2 * T, x.dim(3), x.dim(4)});
    }
  }
  if (r.mode == Resample::Up2d || r.mode == Resample::Up3d) {
    const Tensor y = gpu::conv3d(s, gpu::upsample_nearest(s, h, {1, 2, 2}), r.resample.w, r.resample.b, gpu::Conv3dParams::causal(1, 1, 1));
    s.finish();
    return y;
  }
  // Downsampling: zero pad right and bottom by one, stride-2 3x3 conv per frame.
  gpu::Conv3dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_bottom = p.pad_right = 1;
  h = gpu::conv3d(s, h, r.resample.w, r.resample.b, p);
  if (r.mode != Resample::Down3d) return h;
  // Temporal halving: a stride-2 conv over [the previous chunk's last frame, this chunk]; the first chunk
  // passes unchanged and only leaves its last frame.
  if (st.slots.size() <= st.next) st.slots.resize(st.next + 1);
  Tensor& cache = st.slots[st.next++];
  const Tensor last = gpu::contiguous(s, gpu::narrow(h, 2, h.dim(2) - 1, 1));
  if (!st.first_chunk) {
    gpu::Conv3dParams tp;
    tp.stride_t = 2;
    tp.pad_front = 1;
    h = gpu::conv3d(s, h, r.time_conv.w, r.time_conv.b, tp, cache);
  }
  cache = last;
  return h;
}

Tensor WanVae::head(gpu::CommandStream& s, WanCausalState& st, const Coder& c, const Tensor& x) const {
  return causal_conv(s, st, c.conv_out, norm_silu(s, x, c.norm_out));
}

// ---------------------------------------------------------------------------------------------------------
// Decode

Tensor WanVae::decode_chunk(gpu::CommandStream& s, WanCausalState& st, const Tensor& z) const {
  if (!has_decoder_) throw_eval("this Wan VAE checkpoint has no decoder");
  if (z.rank() != 5 || z.dim(1) != config_.z_dim)
    throw_eval("Wan VAE decode: latent " + z.describe() + " should be [B, " + str(config_.z_dim) + ", T, h, w]");
  if (st.first_chunk && z.dim(2) != 1) throw_eval("Wan VAE decode: the first chunk must be one latent frame, got " + z.describe());
  st.next = 0;
  const Coder& d = decoder_;
  Tensor x = gpu::conv3d(s, gpu::contiguous(s, z), post_quant_conv_.w, post_quant_conv_.b);
  x = causal_conv(s, st, d.conv_in, x);
  x = mid(s, st, d.mid, x);
  for (const Level& l : d.levels) {
    for (const Resnet& r : l.resnets) x = resnet(s, st, r, x);
    if (l.resampler.mode != Resample::None) x = resample(s, st, l.resampler, x);
  }
  x = head(s, st, d, x);
  st.first_chunk = false;
  return x;
}

namespace {

// A tile's causal caches on the host while the other tiles decode: each slot's bytes, shape and dtype (an
// undefined slot stays undefined).
struct ParkedSlot {
  bool defined = false;
  gpu::Shape shape;
  gpu::DType dtype = gpu::DType::F32;
  std::vector<std::byte> bytes;
};

// Moves st's caches to the host and frees their device buffers; `s` must have finished.
void park(gpu::CommandStream& s, WanCausalState& st, std::vector<ParkedSlot>& out) {
  out.assign(st.slots.size(), {});
  for (size_t k = 0; k < st.slots.size(); ++k) {
    Tensor& t = st.slots[k];
    if (!t.defined()) continue;
    if (!t.contiguous()) {
      t = gpu::contiguous(s, t);
      s.finish();
    }
    out[k] = {true, t.shape(), t.dtype(), t.to_bytes()};
    t = Tensor{};
  }
}

// Puts parked caches back on the device, exactly as they were.
void unpark(gpu::Context& ctx, WanCausalState& st, std::vector<ParkedSlot>& in) {
  for (size_t k = 0; k < in.size(); ++k)
    if (in[k].defined) st.slots[k] = Tensor::from_bytes(ctx, in[k].bytes, in[k].shape, in[k].dtype);
  in.clear();
}

}  // namespace

void WanVae::decode_frames(gpu::CommandStream& s, const Tensor& z, int64_t tile_latent, int64_t overlap_latent, int chunk,
                           const DecodedFramesSink& sink, const std::function<void(int, int)>& progress) const {
  if (z.rank() != 5 || z.dim(1) != config_.z_dim || z.dim(2) < 1)
    throw_eval("Wan VAE decode: latent " + z.describe() + " should be [B, " + str(config_.z_dim) + ", T, h, w] with T >= 1");
  if (chunk < 1) throw_eval("Wan VAE decode: chunk must be at least 1 latent frame, got " + str(chunk));
  const int64_t h = z.dim(3), w = z.dim(4);
  const int64_t f = config_.spatial_compression(), B = z.dim(0), T = z.dim(2), H = h * f, W = w * f, plane = H * W;
  // Spatial tiles (one covering everything when not tiled), each with its own causal caches: the chunks
  // run outermost, so every chunk's frames are complete (all tiles blended) before the next is decoded.
  // Together the tiles' caches cover the whole frame (at full resolution, two frames of each conv's input),
  // so with several tiles each tile's caches wait on the host while the others decode: the device holds
  // one tile's.
  const TileGrid grid(h, w, tile_latent, overlap_latent, f, "Wan VAE tiled decode");
  std::vector<WanCausalState> states(grid.count());
  std::vector<std::vector<ParkedSlot>> parked(grid.count());
  std::vector<Tensor> tiles;
  for (size_t a = 0; a < grid.rows(); ++a)
    for (size_t b = 0; b < grid.cols(); ++b)
      tiles.push_back(grid.tiled() ? gpu::contiguous(s, gpu::narrow(gpu::narrow(z, 3, grid.y(a), grid.tile_h()), 4, grid.x(b), grid.tile_w()))
                                   : z);
  s.finish();
  // The first `resident` tiles keep their caches on the device between passes: what the budget holds beside
  // what is in use and a pass's working set. Parking costs a download and an upload of every cache per pass.
  const gpu::Allocator& alloc = s.context().allocator();
  const uint64_t need = alloc.current_device_bytes() + WanVaeConfig::kWorkingSetFactor * config_.decode_peak_tensor_bytes(chunk, grid.tile_h(), grid.tile_w());
  const size_t resident = wan_resident_cache_tiles(grid.count(), config_.decode_kept_cache_bytes(T, chunk, grid.tile_h(), grid.tile_w()),
                                                   alloc.budget_bytes() > need ? alloc.budget_bytes() - need : 0);
  int64_t done = 0;  // video frames handed over
  const int total = static_cast<int>(1 + (T - 1 + chunk - 1) / chunk);
  int step = 0;
  for (int64_t t0 = 0; t0 < T;) {
    const int64_t n = t0 == 0 ? 1 : std::min<int64_t>(chunk, T - t0);
    HostTensor out;
    for (size_t a = 0; a < grid.rows(); ++a)
      for (size_t b = 0; b < grid.cols(); ++b) {
        const size_t i = a * grid.cols() + b;
        unpark(s.context(), states[i], parked[i]);
        const Tensor y = decode_chunk(s, states[i], gpu::narrow(tiles[i], 2, t0, n));
        // One chunk of one tile at a time on the device: wait, then move its frames to the host (clamped
        // as diffusers does), blended into the chunk's frames.
        s.finish();
        std::vector<float> v = y.to_floats();
        if (t0 + n == T)
          states[i] = {};  // the last chunk: its caches are not needed again
        else if (i >= resident)
          park(s, states[i], parked[i]);
        for (float& x : v) x = std::clamp(x, -1.0f, 1.0f);
        const int64_t nf = y.dim(2);
        if (out.shape.empty()) {
          out.shape = {B, 3, nf, H, W};
          out.data.assign(static_cast<size_t>(B * 3 * nf * plane) * sizeof(float), 0);
        }
        grid.accumulate(reinterpret_cast<float*>(out.data.data()), v, a, b);
      }
    sink(out, done);
    done += out.shape[2];
    t0 += n;
    if (progress) progress(++step, total);
  }
}

HostTensor WanVae::decode(gpu::CommandStream& s, const Tensor& z, int chunk, const std::function<void(int, int)>& progress) const {
  return decode_tiled(s, z, 0, 0, chunk, progress);
}

HostTensor WanVae::decode_tiled(gpu::CommandStream& s, const Tensor& z, int64_t tile_latent, int64_t overlap_latent, int chunk,
                                const std::function<void(int, int)>& progress) const {
  FrameCollector all(z.rank() == 5 ? config_.decoded_frames(z.dim(2)) : 0);
  decode_frames(s, z, tile_latent, overlap_latent, chunk, all.sink(), progress);
  return all.take();
}

// ---------------------------------------------------------------------------------------------------------
// Encode

Tensor WanVae::encode_chunk(gpu::CommandStream& s, WanCausalState& st, const Tensor& x) const {
  st.next = 0;
  const Coder& e = encoder_;
  Tensor h = causal_conv(s, st, e.conv_in, x);
  for (const Level& l : e.levels) {
    for (const Resnet& r : l.resnets) h = resnet(s, st, r, h);
    if (l.resampler.mode != Resample::None) h = resample(s, st, l.resampler, h);
  }
  h = head(s, st, e, mid(s, st, e.mid, h));
  st.first_chunk = false;
  return h;
}

std::pair<Tensor, Tensor> WanVae::encode(gpu::CommandStream& s, const Tensor& x) const {
  if (!has_encoder_) throw_eval("this Wan VAE checkpoint has no encoder");
  check_encode_input(x.shape());
  WanCausalState st;
  std::vector<Tensor> parts;
  for (int64_t t0 = 0; t0 < x.dim(2);) {
    const int64_t n = t0 == 0 ? 1 : 4;
    parts.push_back(encode_chunk(s, st, gpu::contiguous(s, gpu::narrow(x, 2, t0, n))));
    s.finish();  // one chunk's activations at a time
    t0 += n;
  }
  auto moments = split_moments(s, gpu::conv3d(s, gpu::concat(s, parts, 2), quant_conv_.w, quant_conv_.b), config_.z_dim);
  s.finish();
  return moments;
}

void WanVae::check_encode_input(const gpu::Shape& x) const {
  const int f = config_.spatial_compression();
  if (x.size() != 5 || x[1] != 3 || x[2] < 1 || (x[2] - 1) % 4 || x[3] % f || x[4] % f) {
    std::string dims;
    for (int64_t d : x) dims += (dims.empty() ? "" : ", ") + str(d);
    throw_eval("Wan VAE encode: video [" + dims + "] should be [B, 3, 1 + 4k, H, W] with H and W multiples of " + str(f));
  }
}

std::pair<Tensor, Tensor> WanVae::encode_tiled(gpu::CommandStream& s, std::span<const float> v, const gpu::Shape& shape,
                                               int64_t tile_latent, int64_t overlap_latent) const {
  if (!has_encoder_) throw_eval("this Wan VAE checkpoint has no encoder");
  check_encode_input(shape);
  if (static_cast<int64_t>(v.size()) != shape[0] * shape[1] * shape[2] * shape[3] * shape[4])
    throw_eval("Wan VAE tiled encode: " + str(static_cast<int64_t>(v.size())) + " values do not fill the video's shape");
  const int64_t f = config_.spatial_compression(), B = shape[0], F = shape[2], H = shape[3], W = shape[4];
  const int64_t h = H / f, w = W / f;
  const TileGrid grid(h, w, tile_latent, overlap_latent, 1, "Wan VAE tiled encode");
  const int64_t TH = grid.tile_h() * f, TW = grid.tile_w() * f;
  std::vector<float> acc;  // [B, 2 z_dim, T, h, w]: the blended moments
  int64_t C2 = 0, T = 0;
  for (size_t a = 0; a < grid.rows(); ++a)
    for (size_t b = 0; b < grid.cols(); ++b) {
      // The tile's frames [t0, t0 + n), uploaded chunk by chunk from the host video.
      WanCausalState st;
      std::vector<Tensor> parts;
      for (int64_t t0 = 0; t0 < F;) {
        const int64_t n = t0 == 0 ? 1 : 4;
        const std::vector<float> chunk = video_window(v, B * 3, F, H, W, t0, n, grid.y(a) * f, TH, grid.x(b) * f, TW);
        parts.push_back(encode_chunk(s, st, Tensor::from_floats(s.context(), chunk, {B, 3, n, TH, TW})));
        s.finish();
        t0 += n;
      }
      const Tensor enc = gpu::conv3d(s, gpu::concat(s, parts, 2), quant_conv_.w, quant_conv_.b);
      s.finish();
      const std::vector<float> e = enc.to_floats();
      if (acc.empty()) {
        C2 = enc.dim(1);
        T = enc.dim(2);
        acc.assign(static_cast<size_t>(B * C2 * T * h * w), 0.0f);
      }
      grid.accumulate(acc.data(), e, a, b);
    }
  auto moments = split_moments(s, Tensor::from_floats(s.context(), acc, {B, C2, T, h, w}), config_.z_dim);
  s.finish();
  return moments;
}

// ---------------------------------------------------------------------------------------------------------
// Latent normalisation

// In WanPipeline's arithmetic: latents_std there holds 1 / std, and the latent is divided by it.
Tensor WanVae::denormalize(gpu::CommandStream& s, const Tensor& z) const {
  const gpu::Shape per_channel{1, config_.z_dim, 1, 1, 1};
  std::vector<float> inv(config_.latents_std.size());
  for (size_t i = 0; i < inv.size(); ++i) inv[i] = 1.0f / config_.latents_std[i];
  return gpu::add(s, gpu::div(s, z, Tensor::from_floats(s.context(), inv, per_channel)),
                  Tensor::from_floats(s.context(), config_.latents_mean, per_channel));
}

Tensor WanVae::normalize(gpu::CommandStream& s, const Tensor& z) const {
  const gpu::Shape per_channel{1, config_.z_dim, 1, 1, 1};
  std::vector<float> inv(config_.latents_std.size());
  for (size_t i = 0; i < inv.size(); ++i) inv[i] = 1.0f / config_.latents_std[i];
  return gpu::mul(s, gpu::sub(s, z, Tensor::from_floats(s.context(), config_.latents_mean, per_channel)),
                  Tensor::from_floats(s.context(), inv, per_channel));
}

}  // namespace lattice
