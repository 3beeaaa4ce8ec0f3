// The Wan 2.1 transformer against the diffusers fixtures (T2V and I2V, config detected from the weights),
// config detection and its errors, and a random tiny checkpoint of another shape: its parameter count,
// detection from a diffusers folder, and a CFG-style batch of 2 equal to two single forwards.
#include "nodes/models/wan/transformer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";

gpu::Tensor upload(gpu::Context& ctx, const HostTensor& t) { return gpu::Tensor::from_floats(ctx, t.to_f32(), t.shape); }

void expect_same_config(const WanConfig& a, const WanConfig& b, const std::string& what) {
  EXPECT_EQ(a.patch_size, b.patch_size) << what;
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads) << what;
  EXPECT_EQ(a.attention_head_dim, b.attention_head_dim) << what;
  EXPECT_EQ(a.in_channels, b.in_channels) << what;
  EXPECT_EQ(a.out_channels, b.out_channels) << what;
  EXPECT_EQ(a.text_dim, b.text_dim) << what;
  EXPECT_EQ(a.freq_dim, b.freq_dim) << what;
  EXPECT_EQ(a.ffn_dim, b.ffn_dim) << what;
  EXPECT_EQ(a.num_layers, b.num_layers) << what;
  EXPECT_EQ(a.cross_attn_norm, b.cross_attn_norm) << what;
  EXPECT_EQ(a.image_dim, b.image_dim) << what;
  EXPECT_EQ(a.added_kv_proj_dim, b.added_kv_proj_dim) << what;
}

class WanFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(WanFixture, ForwardMatchesDiffusersWithTheConfigDetectedFromTheWeights) {
  const Fixture fx(kGolden / GetParam());
  WeightSource src = fixture_weights(fx);
  const WanConfig stored = wan_config_from_json(fx.config());
  // The fixtures' head dim (16) is not Wan 2.1's 128: detection needs the config.json a folder would have.
  EXPECT_THROW(detect_wan_config(src), Error);
  const nlohmann::json heads = {{"num_attention_heads", stored.num_attention_heads},
                                {"attention_head_dim", stored.attention_head_dim}};
  const fs::path dir = fs::temp_directory_path() / ("wan_fx_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& t : src.names()) ts.emplace_back(t, src.load(t));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
  std::ofstream(dir / "config.json") << heads.dump();
  WeightSource folder = WeightSource::open(dir);
  const WanConfig detected = detect_wan_config(folder);
  expect_same_config(detected, stored, GetParam());

  GpuService gpu;
  DeviceWeights weights(folder, gpu.context());
  WanTransformer model(detected, weights);
  gpu::CommandStream s(gpu.context());
  const gpu::Tensor image = fx.has("input.encoder_hidden_states_image")
                                ? upload(gpu.context(), fx.tensor("input.encoder_hidden_states_image"))
                                : gpu::Tensor{};
  const gpu::Tensor out = model.forward(s, upload(gpu.context(), fx.tensor("input.hidden_states")), fx.f32("input.timestep"),
                                        upload(gpu.context(), fx.tensor("input.encoder_hidden_states")), image);
  s.finish();
  const HostTensor ref = fx.tensor("output.sample");
  ASSERT_EQ(out.shape(), ref.shape);
  const auto r = ref.to_f32(), g = out.to_floats();
  EXPECT_TRUE(test::within_tolerance(g, r)) << GetParam();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Golden, WanFixture,
                         ::testing::Values("wan_transformer.safetensors", "wan_transformer_i2v.safetensors"));

TEST(WanConfig, RefusesCheckpointsThatAreNotWan) {
  const Fixture fx(kGolden / "flux_transformer.safetensors");
  try {
    detect_wan_config(fixture_weights(fx));
    ADD_FAILURE() << "a FLUX checkpoint was taken for Wan";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not a Wan 2.1 transformer"), std::string::npos) << e.what();
  }
}

TEST(WanConfig, Wan14BParameterCountAndRopeSplit) {
  WanConfig c;  // defaults: Wan 2.1 T2V 14B
  EXPECT_NEAR(static_cast<double>(c.parameter_count()), 14.29e9, 0.01e9);
  EXPECT_EQ(c.describe(), "Wan 2.1 T2V 14B");
  EXPECT_EQ(c.rope_axes(), (std::array<int64_t, 3>{44, 42, 42}));
  c.num_attention_heads = 12;
  c.ffn_dim = 8960;
  c.num_layers = 30;
  EXPECT_EQ(c.describe(), "Wan 2.1 T2V 1.3B");  // by its released name, though it holds 1.42e9 parameters
  c.num_layers = 20;
  EXPECT_EQ(c.describe(), "Wan 2.1 T2V 1.0B");  // another size: by its parameter count
  c.num_layers = 30;
  c.image_dim = 1280;
  c.added_kv_proj_dim = 100;
  EXPECT_THROW(c.validate(), Error);  // must equal the width
}

// A random checkpoint of config `c` in the diffusers layout, N(0, 0.3²) values.
std::vector<std::pair<std::string, HostTensor>> random_wan(const WanConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<std::pair<std::string, HostTensor>> out;
  for (auto& [name, shape] : wan_checkpoint_shapes(c)) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = normal(rng);
    out.emplace_back(name, HostTensor::from_f32(std::move(shape), v));
  }
  return out;
}

TEST(WanTransformer, RandomTinyConfigIsDetectedAndBatchesLikeSingleForwards) {
  for (const bool i2v : {false, true}) {
    WanConfig c;
    c.patch_size = {1, 2, 2};
    c.num_attention_heads = 3;
    c.attention_head_dim = 12;  // RoPE split (4, 4, 4)
    c.in_channels = i2v ? 9 : 4;
    c.out_channels = 8;
    c.text_dim = 20;
    c.freq_dim = 16;
    c.ffn_dim = 40;
    c.num_layers = 2;
    c.cross_attn_norm = !i2v;
    if (i2v) {
      c.image_dim = 10;
      c.added_kv_proj_dim = c.inner_dim();
    }
    const auto tensors = random_wan(c, i2v ? 7u : 3u);
    uint64_t values = 0;
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [n, t] : tensors) {
      list.emplace_back(n, &t);
      values += t.data.size() / 4;
    }
    EXPECT_EQ(c.parameter_count(), values) << "i2v " << i2v;

    const fs::path dir = fs::temp_directory_path() / ("wan_tiny_" + std::to_string(::getpid()) + (i2v ? "_i2v" : ""));
    fs::create_directories(dir);
    write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
    std::ofstream(dir / "config.json") << nlohmann::json{{"num_attention_heads", 3}, {"attention_head_dim", 12}}.dump();
    WeightSource w = WeightSource::open(dir);
    const WanConfig detected = detect_wan_config(w);
    expect_same_config(detected, c, i2v ? "tiny i2v" : "tiny t2v");

    GpuService gpu;
    gpu::Context& ctx = gpu.context();
    DeviceWeights weights(w, ctx);
    WanTransformer model(detected, weights);
    // Two entries with their own latent, timestep, text (and image): the batch must equal each alone.
    std::mt19937 rng(11);
    std::normal_distribution<float> normal;
    auto random = [&](std::vector<int64_t> shape) {
      int64_t n = 1;
      for (int64_t v : shape) n *= v;
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = normal(rng);
      return v;
    };
    const int64_t F = 2, H = 4, W = 6, L = 5;
    const std::vector<float> t = {900.0f, 35.5f};
    std::vector<float> lat[2], txt[2], img[2];
    for (int b = 0; b < 2; ++b) {
      lat[b] = random({1, c.in_channels, F, H, W});
      txt[b] = random({1, L, c.text_dim});
      if (i2v) img[b] = random({1, kWanImageTokens, c.image_dim});
    }
    auto cat = [](const std::vector<float>* v) {
      std::vector<float> r = v[0];
      r.insert(r.end(), v[1].begin(), v[1].end());
      return r;
    };
    auto image = [&](const std::vector<float>& v, int64_t B) {
      return i2v ? gpu::Tensor::from_floats(ctx, v, {B, kWanImageTokens, c.image_dim}) : gpu::Tensor{};
    };
    gpu::CommandStream s(ctx);
    const gpu::Tensor both = model.forward(s, gpu::Tensor::from_floats(ctx, cat(lat), {2, c.in_channels, F, H, W}), t,
                                           gpu::Tensor::from_floats(ctx, cat(txt), {2, L, c.text_dim}), image(cat(img), 2));
    gpu::Tensor single[2];
    for (int b = 0; b < 2; ++b)
      single[b] = model.forward(s, gpu::Tensor::from_floats(ctx, lat[b], {1, c.in_channels, F, H, W}), {t[static_cast<size_t>(b)]},
                                gpu::Tensor::from_floats(ctx, txt[b], {1, L, c.text_dim}), image(img[b], 1));
    s.finish();
    ASSERT_EQ(both.shape(), (gpu::Shape{2, c.out_channels, F, H, W}));
    const auto g = both.to_floats();
    const size_t per = g.size() / 2;
    float max_abs = 0;
    for (int b = 0; b < 2; ++b) {
      const auto r = single[b].to_floats();
      ASSERT_EQ(r.size(), per);
      for (size_t i = 0; i < per; ++i) {
        ASSERT_TRUE(std::isfinite(r[i]));
        EXPECT_NEAR(g[static_cast<size_t>(b) * per + i], r[i], 1e-5f * std::max(1.0f, std::fabs(r[i])));
        max_abs = std::max(max_abs, std::fabs(r[i]));
      }
    }
    EXPECT_GT(max_abs, 0.01f);  // a real signal, not zeros
    // The two entries differ (own timestep and conditioning).
    EXPECT_NE(g[0], g[per]);
    fs::remove_all(dir);
  }
}

TEST(WanTransformer, TokenStreamLargerThanOneBufferRunsInChunksWithTheSameResult) {
  // A batch of 2 of 12 tokens of 36 channels: the stream x is 3,456 bytes. At 3,200-byte buffers it is held
  // as chunks of 11 and 1 rows, self-attention gathers its keys in head groups of 2 and 1 (one head's keys:
  // 1,152 bytes), and the result must be the one computed with no limit. (The latent, its patches, the
  // patch-embedding weight and the output still fit.)
  WanConfig c;
  c.patch_size = {1, 2, 2};
  c.num_attention_heads = 3;
  c.attention_head_dim = 12;
  c.in_channels = 4;
  c.out_channels = 8;
  c.text_dim = 20;
  c.freq_dim = 16;
  c.ffn_dim = 40;
  c.num_layers = 2;
  const auto tensors = random_wan(c, 5u);
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : tensors) list.emplace_back(n, &t);
  const fs::path file = fs::temp_directory_path() / ("wan_chunks_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(file, list);
  const WeightSource w = WeightSource::open(file);
  std::mt19937 rng(12);
  std::normal_distribution<float> normal;
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    return v;
  };
  const std::vector<float> latent = random(2 * 4 * 2 * 4 * 6), text = random(2 * 5 * 20);
  auto run = [&](uint64_t limit) {
    const auto gpu = test::gpu_with_buffer_limit(limit);
    gpu::Context& ctx = gpu->context();
    DeviceWeights weights(w, ctx);
    WanTransformer model(c, weights);
    gpu::CommandStream s(ctx);
    const gpu::Tensor out = model.forward(s, gpu::Tensor::from_floats(ctx, latent, {2, 4, 2, 4, 6}), {700.0f, 20.0f},
                                          gpu::Tensor::from_floats(ctx, text, {2, 5, 20}));
    s.finish();
    return out.to_floats();
  };
  const std::vector<float> whole = run(0), chunked = run(3200);
  fs::remove(file);
  ASSERT_EQ(whole.size(), chunked.size());
  float max_abs = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_NEAR(chunked[i], whole[i], 1e-5f * std::max(1.0f, std::fabs(whole[i]))) << "element " << i;
    max_abs = std::max(max_abs, std::fabs(whole[i]));
  }
  EXPECT_GT(max_abs, 0.01f);
}

TEST(WanTransformer, RefusesMismatchedInputs) {
  const Fixture fx(kGolden / "wan_transformer_i2v.safetensors");
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  DeviceWeights weights(src, gpu.context());
  WanTransformer model(wan_config_from_json(fx.config()), weights);
  gpu::CommandStream s(gpu.context());
  const gpu::Tensor lat = upload(gpu.context(), fx.tensor("input.hidden_states"));
  const gpu::Tensor txt = upload(gpu.context(), fx.tensor("input.encoder_hidden_states"));
  EXPECT_THROW(model.forward(s, lat, {500.0f}, txt), Error);  // I2V without the image embedding
  const gpu::Tensor odd = gpu::Tensor::from_floats(gpu.context(), std::vector<float>(36 * 2 * 3 * 6), {1, 36, 2, 3, 6});
  EXPECT_THROW(model.forward(s, odd, {500.0f}, txt, upload(gpu.context(), fx.tensor("input.encoder_hidden_states_image"))),
               Error);  // height 3 does not divide by the patch
}

}  // namespace
}  // namespace lattice
