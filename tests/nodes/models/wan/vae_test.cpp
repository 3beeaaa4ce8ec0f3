// The Wan VAE beyond the golden fixture (which Fixture.WanVae runs): config detection in both checkpoint
// layouts, refusal of other checkpoints, a second random configuration (shapes, causality, chunked decoding
// equal to frame-by-frame decoding), tiled decoding against untiled, and the latent normalisation.
#include "nodes/models/wan/vae.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/ops/copy.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/vae/tiling.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("wanvae_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<float> random_values(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (float& x : v) x = scale * nd(rng);
  return v;
}

std::vector<float> floats(const HostTensor& t) { return t.to_f32(); }

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Frames [f0, f0 + n) of a [B, C, F, H, W] host tensor, as values.
std::vector<float> frames(const HostTensor& t, int64_t f0, int64_t n) {
  const std::vector<float> v = t.to_f32();
  const int64_t BC = t.shape[0] * t.shape[1], F = t.shape[2], plane = t.shape[3] * t.shape[4];
  std::vector<float> out;
  for (int64_t bc = 0; bc < BC; ++bc)
    out.insert(out.end(), v.begin() + (bc * F + f0) * plane, v.begin() + (bc * F + f0 + n) * plane);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Detection and layouts

TEST(WanVae, DetectsTheGoldenConfigFromWeights) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const fs::path dir = temp_dir("detect");
  // No config.json: everything but latents_mean/std comes from the tensors (those default to Wan 2.1's).
  test::write_fixture_component(fx, "weights.", nlohmann::json::object(), dir);
  fs::remove(dir / "config.json");
  const WeightSource w = WeightSource::open(dir);
  ASSERT_TRUE(is_wan_vae(w));
  const WanVaeConfig c = detect_wan_vae_config(w), ref = wan_vae_config_from_json(fx.config());
  EXPECT_EQ(c.base_dim, ref.base_dim);
  EXPECT_EQ(c.z_dim, ref.z_dim);
  EXPECT_EQ(c.dim_mult, ref.dim_mult);
  EXPECT_EQ(c.num_res_blocks, ref.num_res_blocks);
  EXPECT_EQ(c.temperal_downsample, ref.temperal_downsample);
  EXPECT_EQ(c.latents_mean, ref.latents_mean);
  EXPECT_EQ(c.latents_std, ref.latents_std);
  EXPECT_EQ(c.spatial_compression(), 8);
  EXPECT_EQ(c.temporal_compression(), 4);
  EXPECT_EQ(c.decoded_frames(21), 81);
  // The config's JSON (how wan.load_vae's plan hands it on) reads back as the same config.
  const WanVaeConfig back = wan_vae_config_from_json(wan_vae_config_to_json(c));
  EXPECT_EQ(back.base_dim, c.base_dim);
  EXPECT_EQ(back.z_dim, c.z_dim);
  EXPECT_EQ(back.dim_mult, c.dim_mult);
  EXPECT_EQ(back.num_res_blocks, c.num_res_blocks);
  EXPECT_EQ(back.temperal_downsample, c.temperal_downsample);
  EXPECT_EQ(back.latents_mean, c.latents_mean);
  EXPECT_EQ(back.latents_std, c.latents_std);
  // Only what the config holds: no attn_scales (always [], diffusers' default), which a diffusers config may
  // still spell out.
  EXPECT_FALSE(wan_vae_config_to_json(c).contains("attn_scales"));
  nlohmann::json spelled = wan_vae_config_to_json(c);
  spelled["attn_scales"] = nlohmann::json::array();
  EXPECT_EQ(wan_vae_config_from_json(spelled).dim_mult, c.dim_mult);
  // The shape table names exactly the checkpoint's tensors.
  std::vector<std::string> names;
  for (const auto& [n, shape] : wan_vae_tensor_shapes(c)) {
    names.push_back(n);
    EXPECT_EQ(w.info(n).shape, shape) << n;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, w.names());
  fs::remove_all(dir);
}

TEST(WanVae, RefusesOtherCheckpointsAndBadConfigs) {
  const Fixture flux(kGolden / "flux_vae.safetensors");
  const WeightSource w = fixture_weights(flux);
  EXPECT_FALSE(is_wan_vae(w));
  try {
    detect_wan_vae_config(w);
    ADD_FAILURE() << "a FLUX VAE was taken for a Wan VAE";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not a Wan VAE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vae.load"), std::string::npos) << e.what();
  }
  EXPECT_THROW(wan_vae_config_from_json({{"attn_scales", {0.5}}}), Error);
  EXPECT_THROW(wan_vae_config_from_json({{"dim_mult", {1, 2}}, {"temperal_downsample", {true, true}}}), Error);
  EXPECT_THROW(wan_vae_config_from_json({{"z_dim", 4}}), Error);  // latents_mean/std still have 16 entries
  EXPECT_THROW(wan_vae_config_from_json({{"base_dim", "wide"}}), Error);
}

// The diffusers name of a tensor -> its name in the original Wan-AI layout (what convert_wan_vae_original
// undoes), for a config with `nrb` residual blocks per level.
std::string original_name(const std::string& n, int nrb) {
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t p = s.find(from);
    return p == std::string::npos ? s : s.replace(p, from.size(), to);
  };
  auto resnet = [&](std::string s) {
    for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
             {".norm1.", ".residual.0."}, {".conv1.", ".residual.2."}, {".norm2.", ".residual.3."}, {".conv2.", ".residual.6."},
             {".conv_shortcut.", ".shortcut."}})
      if (s.find(a) != std::string::npos) return replace(s, a, b);
    return s;
  };
  if (n.rfind("quant_conv.", 0) == 0) return replace(n, "quant_conv.", "conv1.");
  if (n.rfind("post_quant_conv.", 0) == 0) return replace(n, "post_quant_conv.", "conv2.");
  std::string s = n;
  s = replace(s, "coder.conv_in.", "coder.conv1.");
  s = replace(s, "coder.norm_out.", "coder.head.0.");
  s = replace(s, "coder.conv_out.", "coder.head.2.");
  s = replace(s, "mid_block.attentions.0.", "middle.1.");
  if (s.find("mid_block.resnets.0.") != std::string::npos) return resnet(replace(s, "mid_block.resnets.0", "middle.0"));
  if (s.find("mid_block.resnets.1.") != std::string::npos) return resnet(replace(s, "mid_block.resnets.1", "middle.2"));
  if (s.find("down_blocks.") != std::string::npos) return resnet(replace(s, "down_blocks.", "downsamples."));
  if (const size_t p = s.find("up_blocks."); p != std::string::npos) {
    const size_t d = s.find('.', p + 10);
    const int level = std::stoi(s.substr(p + 10, d - p - 10));
    const std::string rest = s.substr(d + 1), head = s.substr(0, p) + "upsamples.";
    if (rest.rfind("upsamplers.0.", 0) == 0) return head + std::to_string(level * (nrb + 2) + nrb + 1) + "." + rest.substr(13);
    const size_t e = rest.find('.', 8);
    const int j = std::stoi(rest.substr(8, e - 8));
    return resnet(head + std::to_string(level * (nrb + 2) + j) + "." + rest.substr(e + 1));
  }
  return s;
}

TEST(WanVae, OriginalWanLayoutIsRenamedToDiffusersKeys) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const WanVaeConfig ref = wan_vae_config_from_json(fx.config());
  const fs::path dir = temp_dir("original");
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& [n, shape] : wan_vae_tensor_shapes(ref)) ts.emplace_back(original_name(n, ref.num_res_blocks), fx.tensor("weights." + n));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(dir / "Wan2.1_VAE.safetensors", list);
  WeightSource w = WeightSource::open(dir / "Wan2.1_VAE.safetensors");
  ASSERT_TRUE(w.has("decoder.upsamples.3.time_conv.weight"));  // the original's own names
  ASSERT_TRUE(w.has("encoder.downsamples.3.shortcut.weight"));
  ASSERT_TRUE(is_wan_vae(w));
  EXPECT_THROW(detect_wan_vae_config(w), Error);  // not before conversion
  convert_wan_vae_original(w);
  const WanVaeConfig c = detect_wan_vae_config(w);
  EXPECT_EQ(c.dim_mult, ref.dim_mult);
  EXPECT_EQ(c.temperal_downsample, ref.temperal_downsample);
  // Every tensor is back under its diffusers name with its own bytes.
  const WeightSource golden = fixture_weights(fx);
  std::vector<std::string> names;
  for (const auto& [n, shape] : wan_vae_tensor_shapes(ref)) names.push_back(n);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(w.names(), names);
  for (const std::string& n : names) {
    const auto a = w.bytes(n), b = golden.bytes(n);
    ASSERT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << n;
  }
  // An unknown tensor in an original-layout file is named, not dropped.
  ts.emplace_back("decoder.upsamples.99.mystery.weight", fx.tensor("weights.post_quant_conv.bias"));
  list.emplace_back(ts.back().first, &ts.back().second);
  write_safetensors(dir / "bad.safetensors", list);
  WeightSource bad = WeightSource::open(dir / "bad.safetensors");
  try {
    convert_wan_vae_original(bad);
    ADD_FAILURE() << "an unknown tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.upsamples.99.mystery.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------------------
// A second, random configuration

// 3 levels (/4 spatially), one temporal halving at the first level, 1 residual block, z_dim 4, random
// weights and latent statistics, written as a diffusers folder with its config.json.
struct TinyVae {
  WanVaeConfig config;
  fs::path dir;
  TinyVae() : dir(temp_dir("tiny")) {
    config.base_dim = 8;
    config.z_dim = 4;
    config.dim_mult = {1, 2, 2};
    config.num_res_blocks = 1;
    config.temperal_downsample = {true, false};
    config.latents_mean = {0.3f, -0.2f, 0.1f, 0.5f};
    config.latents_std = {1.5f, 0.7f, 2.0f, 1.1f};
    std::vector<std::pair<std::string, HostTensor>> ts;
    unsigned seed = 1;
    for (const auto& [n, shape] : wan_vae_tensor_shapes(config)) {
      int64_t numel = 1, fan_in = 1;
      for (size_t i = 0; i < shape.size(); ++i) numel *= shape[i];
      for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
      std::vector<float> v = random_values(static_cast<size_t>(numel), seed++, shape.size() > 1 ? 1.0f / std::sqrt(static_cast<float>(fan_in)) : 0.1f);
      if (n.find("gamma") != std::string::npos)
        for (float& x : v) x += 1.0f;
      ts.emplace_back(n, HostTensor::from_f32(shape, v));
    }
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [n, t] : ts) list.emplace_back(n, &t);
    write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
    std::ofstream(dir / "config.json") << nlohmann::json{{"_class_name", "AutoencoderKLWan"},
                                                         {"base_dim", 8},
                                                         {"z_dim", 4},
                                                         {"dim_mult", config.dim_mult},
                                                         {"num_res_blocks", 1},
                                                         {"attn_scales", nlohmann::json::array()},
                                                         {"temperal_downsample", config.temperal_downsample},
                                                         {"latents_mean", config.latents_mean},
                                                         {"latents_std", config.latents_std}}
                                                            .dump();
  }
  ~TinyVae() { fs::remove_all(dir); }
};

TEST(WanVae, RandomConfigShapesAndCausality) {
  TinyVae tiny;
  const WeightSource src = WeightSource::open(tiny.dir);
  const WanVaeConfig c = detect_wan_vae_config(src);
  EXPECT_EQ(c.base_dim, 8);
  EXPECT_EQ(c.dim_mult, tiny.config.dim_mult);
  EXPECT_EQ(c.temperal_downsample, tiny.config.temperal_downsample);
  EXPECT_EQ(c.latents_std, tiny.config.latents_std);
  ASSERT_EQ(c.spatial_compression(), 4);
  ASSERT_EQ(c.temporal_compression(), 2);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  const WanVae vae(c, weights);

  // Encode: 9 frames = 1 + 2 chunks of 4 -> 1 + 2 + 2 latent frames; H, W / 4.
  const std::vector<float> video = random_values(3 * 9 * 16 * 20, 11, 0.5f);
  const gpu::Tensor x = gpu::Tensor::from_floats(ctx, video, {1, 3, 9, 16, 20});
  gpu::CommandStream s(ctx);
  const auto [mean, logvar] = vae.encode(s, x);
  EXPECT_EQ(mean.shape(), (gpu::Shape{1, 4, 5, 4, 5}));
  EXPECT_EQ(logvar.shape(), mean.shape());
  // Causal encoder: the first 5 frames encode to the first 3 latent frames of the whole video, whatever
  // follows them.
  const gpu::Tensor mean5 = vae.encode(s, gpu::contiguous(s, gpu::narrow(x, 2, 0, 5))).first;
  s.finish();
  ASSERT_EQ(mean5.shape(), (gpu::Shape{1, 4, 3, 4, 5}));
  const gpu::Tensor head = gpu::contiguous(s, gpu::narrow(mean, 2, 0, 3));
  s.finish();
  EXPECT_LE(max_diff(mean5.to_floats(), head.to_floats()), 1e-5f * std::max(1.0f, max_abs(head.to_floats())));
  EXPECT_THROW(vae.encode(s, gpu::contiguous(s, gpu::narrow(x, 2, 0, 4))), Error);  // not 1 + 4k frames

  // Decode: 4 latent frames -> 1 + 2 * 3 = 7 frames of 4x the size, clamped to [-1, 1].
  const std::vector<float> zv = random_values(4 * 4 * 5 * 6, 12);
  const gpu::Tensor z = gpu::Tensor::from_floats(ctx, zv, {1, 4, 4, 5, 6});
  const HostTensor ref = vae.decode(s, z);  // frame by frame, as diffusers
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{1, 3, 7, 20, 24}));
  const std::vector<float> rv = floats(ref);
  EXPECT_LE(max_abs(rv), 1.0f);
  EXPECT_GT(max_abs(rv), 0.01f);
  // All later frames in one chunk gives the same video: the caches make chunking exact up to float order.
  const HostTensor whole = vae.decode(s, z, 3);
  const float bound = 1e-5f * std::max(1.0f, max_abs(rv));
  EXPECT_LE(max_diff(floats(whole), rv), bound);
  const HostTensor pairs = vae.decode(s, z, 2);  // chunks {0}, {1, 2}, {3}
  EXPECT_LE(max_diff(floats(pairs), rv), bound);
  // Causal decoder: the first two latent frames decode to the first 1 + 2 frames of the whole video.
  const HostTensor prefix = vae.decode(s, gpu::contiguous(s, gpu::narrow(z, 2, 0, 2)));
  EXPECT_LE(max_diff(floats(prefix), frames(ref, 0, 3)), bound);
  // Streaming by hand: decode_chunk continues from the state of the previous call.
  WanCausalState st;
  std::vector<gpu::Tensor> parts;
  parts.push_back(vae.decode_chunk(s, st, gpu::narrow(z, 2, 0, 1)));
  parts.push_back(vae.decode_chunk(s, st, gpu::narrow(z, 2, 1, 3)));
  s.finish();
  EXPECT_EQ(parts[0].dim(2), 1);
  EXPECT_EQ(parts[1].dim(2), 6);
  WanCausalState fresh;
  EXPECT_THROW(vae.decode_chunk(s, fresh, gpu::narrow(z, 2, 0, 2)), Error);  // the first chunk is one frame
  EXPECT_THROW(vae.decode(s, gpu::Tensor::from_floats(ctx, zv, {1, 16, 1, 5, 6})), Error);  // wrong channels
}

TEST(WanVae, NormalizeInvertsDenormalize) {
  TinyVae tiny;
  const WeightSource src = WeightSource::open(tiny.dir);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  const WanVae vae(detect_wan_vae_config(src), weights);
  const std::vector<float> zv = random_values(4 * 2 * 3, 5);
  gpu::CommandStream s(ctx);
  const gpu::Tensor z = gpu::Tensor::from_floats(ctx, zv, {1, 4, 2, 1, 3});
  const gpu::Tensor raw = vae.denormalize(s, z), back = vae.normalize(s, raw);
  s.finish();
  const std::vector<float> r = raw.to_floats(), b = back.to_floats();
  for (size_t i = 0; i < zv.size(); ++i) {
    const size_t c = i / 6;
    EXPECT_NEAR(r[i], zv[i] * tiny.config.latents_std[c] + tiny.config.latents_mean[c], 1e-5f) << i;
    EXPECT_NEAR(b[i], zv[i], 1e-5f) << i;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tiled decoding

TEST(WanVae, TiledDecodeMatchesUntiled) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  const WanVae vae(wan_vae_config_from_json(fx.config()), weights);
  const int64_t h = 10, w = 12;
  const std::vector<float> zv = random_values(16 * 2 * h * w, 21);
  const gpu::Tensor z = gpu::Tensor::from_floats(ctx, zv, {1, 16, 2, h, w});
  gpu::CommandStream s(ctx);
  const HostTensor ref = vae.decode(s, z);
  const std::vector<float> rv = floats(ref);
  // A tile covering the latent is the untiled decode, bit for bit.
  EXPECT_EQ(floats(vae.decode_tiled(s, z, 12, 4)), rv);

  const HostTensor tiled = vae.decode_tiled(s, z, 6, 2);
  ASSERT_EQ(tiled.shape, ref.shape);
  const std::vector<float> tv = floats(tiled);
  double sum = 0;
  for (size_t i = 0; i < rv.size(); ++i) {
    ASSERT_TRUE(std::isfinite(tv[i])) << i;
    sum += std::fabs(tv[i] - rv[i]);
  }
  const double mean_diff = sum / static_cast<double>(rv.size());
  const float max_d = max_diff(tv, rv);
  // Where only the top-left tile reaches (pixels [0, 32) on both axes; the next tiles start at latent 4),
  // the tiled output is that tile decoded alone, exactly: the blend adds nothing of its own.
  const HostTensor corner = vae.decode(s, gpu::contiguous(s, gpu::narrow(gpu::narrow(z, 3, 0, 6), 4, 0, 6)));
  const std::vector<float> cv = floats(corner);
  const int64_t F = ref.shape[2], H = h * 8, W = w * 8, T = 48;
  float corner_vs_tiled = 0;
  double corner_sum = 0;
  for (int64_t p = 0; p < 3 * F; ++p)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const float a = cv[(p * T + y) * T + x];
        corner_vs_tiled = std::max(corner_vs_tiled, std::fabs(a - tv[(p * H + y) * W + x]));
        corner_sum += std::fabs(a - rv[(p * H + y) * W + x]);
      }
  const double corner_diff = corner_sum / (3.0 * F * 32 * 32);
  std::printf("  tiled (6, overlap 2) vs untiled: mean |diff| %.4g, max |diff| %.4g; lone corner tile vs untiled: mean |diff| "
              "%.4g, vs tiled where it is alone: max |diff| %.3g\n",
              mean_diff, max_d, corner_diff, corner_vs_tiled);
  EXPECT_EQ(corner_vs_tiled, 0.0f);
  // The difference is the tiles' own: the convs see zeros at tile edges and the per-frame mid-block
  // attention sees one tile, so a lone tile already differs from the untiled decode by about as much; the
  // blend does not add to it. Measured on this random-weight fixture (6-latent tiles, far smaller than the
  // decoder's receptive field): mean 0.074, max 0.86 (outputs in [-1, 1]).
  EXPECT_LT(mean_diff, 0.1);
  EXPECT_LT(mean_diff, 1.5 * corner_diff);
  EXPECT_LT(max_d, 1.2f);
  EXPECT_THROW(vae.decode_tiled(s, z, 6, 6), Error);
}

// body(vae, stream, context) for the fixture's VAE on a device whose buffers hold at most `limit` bytes.
template <class Body>
auto with_buffer_limit(const Fixture& fx, const WanVaeConfig& c, uint64_t limit, Body&& body) {
  auto gpu = test::gpu_with_buffer_limit(limit);
  gpu::Context& ctx = gpu->context();
  WeightSource src = fixture_weights(fx);
  DeviceWeights weights(src, ctx);
  const WanVae vae(c, weights);
  gpu::CommandStream s(ctx);
  return body(vae, s, ctx);
}

// A tiled decode over several chunks keeps every tile's causal caches: on the device while the budget holds
// them (wan_resident_cache_tiles), else parked on the host between its chunks. Either way the frames are,
// bit for bit, each tile decoded alone, clamped and blended by the TileGrid. Between chunks the device holds
// the tile latents and exactly decode_cache_bytes() per resident tile; with no room for any, the working set
// stays that of one lone tile's decode, not six tiles' caches.
TEST(WanVae, TiledDecodeKeepsCachesOnTheDeviceWhenTheyFit) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const WanVaeConfig c = wan_vae_config_from_json(fx.config());
  with_buffer_limit(fx, c, 0, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context& ctx) {
    const int64_t h = 10, w = 12, T = 4, f = 8, tile = 6;
    const gpu::Tensor z = gpu::Tensor::from_floats(ctx, random_values(16 * T * h * w, 5), {1, 16, T, h, w});
    const TileGrid grid(h, w, tile, 2, f, "test");
    EXPECT_EQ(grid.count(), 6u);  // 2 rows x 3 columns
    const uint64_t latents = 6 * 16 * T * tile * tile * sizeof(float), kept = c.decode_kept_cache_bytes(T, 1, tile, tile);
    EXPECT_EQ(kept, c.decode_cache_bytes(3, tile, tile));  // before the fourth (last) pass
    auto working = [&](auto&& pass) {
      s.finish();
      const uint64_t base = ctx.allocator().current_device_bytes();
      ctx.allocator().reset_peak();
      auto r = pass();
      return std::make_pair(std::move(r), ctx.allocator().peak_device_bytes() - base);
    };
    std::vector<float> want(static_cast<size_t>(3 * c.decoded_frames(T) * h * f * w * f), 0.0f);
    uint64_t lone_bytes = 0;
    for (size_t a = 0; a < grid.rows(); ++a)
      for (size_t b = 0; b < grid.cols(); ++b) {
        const gpu::Tensor zt = gpu::contiguous(s, gpu::narrow(gpu::narrow(z, 3, grid.y(a), tile), 4, grid.x(b), tile));
        auto [lone, bytes] = working([&] { return vae.decode(s, zt); });
        lone_bytes = std::max(lone_bytes, bytes);
        std::vector<float> v = floats(lone);
        for (float& x : v) x = std::clamp(x, -1.0f, 1.0f);
        grid.accumulate(want.data(), v, a, b);
      }
    // A tiled decode under a budget of what is in use, a pass's working set and room for `room_tiles` tiles'
    // kept caches: the device bytes after each pass but the last, beyond the tile latents, are that many
    // tiles' caches (the last pass drops them all).
    auto tiled = [&](size_t room_tiles) {
      s.finish();
      const uint64_t base = ctx.allocator().current_device_bytes(), budget = ctx.allocator().budget_bytes();
      ctx.allocator().set_budget(base + latents + WanVaeConfig::kWorkingSetFactor * c.decode_peak_tensor_bytes(1, tile, tile) +
                                 room_tiles * kept + kept / 2);
      std::vector<uint64_t> between;
      auto [out, bytes] = working([&] {
        return vae.decode_tiled(s, z, tile, 2, 1, [&](int done, int total) {
          if (done < total) between.push_back(ctx.allocator().current_device_bytes() - base - latents);
        });
      });
      ctx.allocator().set_budget(budget);
      EXPECT_EQ(floats(out), want) << room_tiles << " tiles' room";
      EXPECT_EQ(between.size(), 3u);
      for (size_t k = 0; k < between.size(); ++k)
        EXPECT_EQ(between[k], room_tiles * c.decode_cache_bytes(static_cast<int64_t>(k) + 1, tile, tile)) << "after pass " << k;
      if (!between.empty()) {
        EXPECT_EQ(between.back(), room_tiles * kept);
      }
      return bytes;
    };
    for (size_t room : {size_t{6}, size_t{2}}) tiled(room);
    const uint64_t parked_bytes = tiled(0);
    // With no room the tiled pass also holds the six tile latents. Measured: 2.35 MiB against the lone
    // tile's 2.30; with every tile's last-chunk caches left on the device (before they were dropped) it was
    // 6.70 MiB.
    std::printf("  tiled decode working set, caches parked: %.2f MiB, a lone tile's %.2f MiB; six tiles' kept caches %.2f MiB\n",
                static_cast<double>(parked_bytes) / 1048576, static_cast<double>(lone_bytes) / 1048576,
                static_cast<double>(6 * kept) / 1048576);
    EXPECT_LE(parked_bytes, lone_bytes + lone_bytes / 4);
    return 0;
  });
  EXPECT_EQ(wan_resident_cache_tiles(6, 100, 250), 2u);
  EXPECT_EQ(wan_resident_cache_tiles(6, 100, 1000), 6u);
  EXPECT_EQ(wan_resident_cache_tiles(1, 100, 0), 1u);  // one tile never parks
  EXPECT_EQ(c.decode_kept_cache_bytes(1, 1, 6, 6), 0u);
}

// encode_tiled of a host video: with one tile it is encode() exactly; with tiles its corner, where only the
// first tile reaches, is that tile encoded alone; and encode_peak_tensor_bytes is the largest buffer it makes.
TEST(WanVae, TiledEncodeFromTheHost) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const WanVaeConfig c = wan_vae_config_from_json(fx.config());
  const int64_t h = 5, w = 7, H = 8 * h, W = 8 * w;
  const std::vector<float> video = random_values(3 * 5 * H * W, 9, 0.5f);
  const gpu::Shape shape{1, 3, 5, H, W};
  auto with_limit = [&](uint64_t limit, auto&& body) { return with_buffer_limit(fx, c, limit, body); };
  with_limit(0, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context& ctx) {
    const auto [mean, logvar] = vae.encode(s, gpu::Tensor::from_floats(ctx, video, shape));
    const auto [tm, tl] = vae.encode_tiled(s, video, shape, 0, 0);
    EXPECT_EQ(tm.to_floats(), mean.to_floats());
    EXPECT_EQ(tl.to_floats(), logvar.to_floats());
    const auto [cm, cl] = vae.encode_tiled(s, video, shape, 7, 3);  // one tile covering the latent
    EXPECT_EQ(cm.to_floats(), mean.to_floats());

    const auto [m3, l3] = vae.encode_tiled(s, video, shape, 3, 1);
    EXPECT_EQ(m3.shape(), mean.shape());
    // The top-left latent pixels [0, 2) x [0, 2) only the first tile covers: its lone encode there.
    std::vector<float> corner(static_cast<size_t>(3 * 5 * 24 * 24));
    for (int64_t p = 0; p < 15; ++p)
      for (int64_t r = 0; r < 24; ++r)
        std::copy_n(video.begin() + (p * H + r) * W, 24, corner.begin() + (p * 24 + r) * 24);
    const auto [lone, lone_lv] = vae.encode_tiled(s, corner, {1, 3, 5, 24, 24}, 0, 0);
    const std::vector<float> a = m3.to_floats(), b = lone.to_floats();
    const int64_t T = mean.dim(2);
    for (int64_t p = 0; p < 16 * T; ++p)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t x = 0; x < 2; ++x) EXPECT_EQ(a[static_cast<size_t>((p * h + r) * w + x)], b[static_cast<size_t>((p * 3 + r) * 3 + x)]);
    EXPECT_THROW(vae.encode_tiled(s, video, shape, 3, 3), Error);
    EXPECT_THROW(vae.encode_tiled(s, std::span<const float>(video).first(10), shape, 0, 0), Error);
    return 0;
  });
  const uint64_t peak = c.encode_peak_tensor_bytes(h, w);
  EXPECT_EQ(c.largest_encode_tile(peak, h, w), w);
  EXPECT_LT(c.largest_encode_tile(peak - 1, h, w), w);
  with_limit(peak, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context&) {
    EXPECT_EQ(vae.encode_tiled(s, video, shape, 0, 0).first.dim(4), w);
    return 0;
  });
  EXPECT_THROW(with_limit(peak * 3 / 4, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context&) {
                 return vae.encode_tiled(s, video, shape, 0, 0).first.dim(4);
               }),
               Error);
  // The released VAE at 480p: the first level's packed 96-channel input, 6 frames, decides.
  const WanVaeConfig wan21;
  const int64_t tile = wan21.largest_encode_tile(uint64_t{128} << 20, 60, 104);
  std::printf("  Wan 2.1 VAE encoder, 480p, 128 MiB buffers: whole needs %.0f MiB, auto tile %lld latent pixels\n",
              static_cast<double>(wan21.encode_peak_tensor_bytes(60, 104)) / (1 << 20), static_cast<long long>(tile));
  EXPECT_LT(tile, 60);
  EXPECT_EQ(wan21.encode_peak_tensor_bytes(tile, tile), static_cast<uint64_t>(96 * 6 * (8 * tile + 2) * (8 * tile + 2)) * 4);
}

// What a decode or encode holds on the device at once stays within kWorkingSetFactor of its largest tensor
// (the automatic tiles rely on it to keep a pass within half the budget).
TEST(WanVae, WorkingSetStaysWithinItsFactor) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const WanVaeConfig c = wan_vae_config_from_json(fx.config());
  with_buffer_limit(fx, c, 0, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context& ctx) {
    for (auto [h, w] : {std::pair<int64_t, int64_t>{5, 7}, {12, 16}}) {
      auto working = [&](auto&& pass) {
        s.finish();
        const uint64_t base = ctx.allocator().current_device_bytes();
        ctx.allocator().reset_peak();
        pass();
        return ctx.allocator().peak_device_bytes() - base;
      };
      const gpu::Tensor z = gpu::Tensor::from_floats(ctx, random_values(16 * 3 * h * w, 3), {1, 16, 3, h, w});
      for (int chunk : {1, 2}) {
        const uint64_t used = working([&] { vae.decode(s, z, chunk); }), peak = c.decode_peak_tensor_bytes(chunk, h, w);
        std::printf("  decode %lldx%lld chunk %d: working set %.2f x the largest tensor\n", static_cast<long long>(h),
                    static_cast<long long>(w), chunk, static_cast<double>(used) / static_cast<double>(peak));
        EXPECT_LE(used, WanVaeConfig::kWorkingSetFactor * peak);
      }
      const std::vector<float> video = random_values(3 * 5 * 64 * h * w, 4, 0.5f);
      const uint64_t used = working([&] { vae.encode_tiled(s, video, {1, 3, 5, 8 * h, 8 * w}, 0, 0); });
      std::printf("  encode %lldx%lld: working set %.2f x the largest tensor\n", static_cast<long long>(h), static_cast<long long>(w),
                  static_cast<double>(used) / static_cast<double>(c.encode_peak_tensor_bytes(h, w)));
      EXPECT_LE(used, WanVaeConfig::kWorkingSetFactor * c.encode_peak_tensor_bytes(h, w));
    }
    return 0;
  });
}

// decode_peak_tensor_bytes is what the decode needs of one device buffer: with buffers limited to it the
// decode runs (nothing larger is made), and well below it the decode is refused with the buffer error.
TEST(WanVae, DecodePeakTensorBytesIsTheLargestBufferTheDecodeMakes) {
  const Fixture fx(kGolden / "wan_vae.safetensors");
  const WanVaeConfig c = wan_vae_config_from_json(fx.config());
  const int64_t h = 5, w = 7;
  const std::vector<float> zv = random_values(16 * 3 * h * w, 5);
  for (int chunk : {1, 2}) {
    const uint64_t peak = c.decode_peak_tensor_bytes(chunk, h, w);
    auto decode_with_limit = [&](uint64_t limit) {
      return with_buffer_limit(fx, c, limit, [&](const WanVae& vae, gpu::CommandStream& s, gpu::Context& ctx) {
        return vae.decode(s, gpu::Tensor::from_floats(ctx, zv, {1, 16, 3, h, w}), chunk);
      });
    };
    EXPECT_EQ(decode_with_limit(peak).shape, (std::vector<int64_t>{1, 3, 9, 8 * h, 8 * w})) << "chunk " << chunk;
    EXPECT_THROW(decode_with_limit(peak * 3 / 4), Error) << "chunk " << chunk;
  }
  // More frames per pass need more; a tile needs less; the whole latent is "tile" max(h, w).
  EXPECT_GT(c.decode_peak_tensor_bytes(2, h, w), c.decode_peak_tensor_bytes(1, h, w));
  EXPECT_LT(c.decode_peak_tensor_bytes(1, 3, 3), c.decode_peak_tensor_bytes(1, h, w));
  EXPECT_EQ(c.largest_decode_tile(c.decode_peak_tensor_bytes(1, h, w), 1, h, w), w);
  EXPECT_EQ(c.largest_decode_tile(1, 1, h, w), 1);

  // The released Wan 2.1 VAE (base_dim 96) at 480p (a 60 x 104 latent) under lavapipe's 128 MiB buffers:
  // the last upsampler's conv packing its nearest-upsampled 192-channel input, 4 frames of 8t x 8t pixels
  // with a pixel of padding on each side, decides.
  const WanVaeConfig wan21;
  const uint64_t lavapipe = uint64_t{128} << 20;
  const int64_t tile = wan21.largest_decode_tile(lavapipe, 1, 60, 104);
  std::printf("  Wan 2.1 VAE, 480p latent, 128 MiB buffers: whole needs %.0f MiB, auto tile %lld latent pixels\n",
              static_cast<double>(wan21.decode_peak_tensor_bytes(1, 60, 104)) / (1 << 20), static_cast<long long>(tile));
  EXPECT_LT(tile, 60);
  EXPECT_LE(wan21.decode_peak_tensor_bytes(1, tile, tile), lavapipe);
  EXPECT_GT(wan21.decode_peak_tensor_bytes(1, tile + 1, tile + 1), lavapipe);
  EXPECT_EQ(wan21.decode_peak_tensor_bytes(1, tile, tile), static_cast<uint64_t>(192 * 4 * (8 * tile + 2) * (8 * tile + 2)) * 4);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

// The mid-block attention for head widths the flash kernel does not take (the real VAE's 384), against a
// double-precision reference; and the two paths agree where both apply.
TEST(WanVae, WideSingleHeadAttentionMatchesReference) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  for (const int64_t D : {16, 300}) {
    const int64_t N = 2, L = 7;
    const std::vector<float> qkv = random_values(static_cast<size_t>(N * L * 3 * D), 31 + static_cast<unsigned>(D));
    const gpu::Tensor packed = gpu::Tensor::from_floats(ctx, qkv, {N, L, 3 * D});
    auto part = [&](int i) { return packed.view({N, L, D}, {L * 3 * D, 3 * D, 1}, i * D); };
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    gpu::CommandStream s(ctx);
    const gpu::Tensor got = wan_single_head_attention(s, part(0), part(1), part(2), scale, true);
    const gpu::Tensor flash = D <= 256 ? wan_single_head_attention(s, part(0), part(1), part(2), scale) : gpu::Tensor{};
    s.finish();
    ASSERT_EQ(got.shape(), (gpu::Shape{N, L, D}));
    const std::vector<float> g = got.to_floats();
    float err = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> p(static_cast<size_t>(L));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          double d = 0;
          for (int64_t c = 0; c < D; ++c) d += double(qkv[(n * L + i) * 3 * D + c]) * qkv[(n * L + j) * 3 * D + D + c];
          p[j] = d * scale;
          mx = std::max(mx, p[j]);
        }
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (int64_t c = 0; c < D; ++c) {
          double o = 0;
          for (int64_t j = 0; j < L; ++j) o += p[j] / sum * qkv[(n * L + j) * 3 * D + 2 * D + c];
          err = std::max(err, static_cast<float>(std::fabs(o - g[(n * L + i) * D + c])));
        }
      }
    EXPECT_LE(err, 1e-5f) << "D " << D;
    if (flash.defined()) {
      EXPECT_LE(max_diff(flash.to_floats(), g), 1e-5f);
    }
  }
}

}  // namespace
}  // namespace lattice
