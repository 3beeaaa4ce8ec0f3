// LtxVae::decode_frames (tiled decode) against decode() and LtxVae::encode_tiled against encode() on the
// reference tiny LTX-Video VAE, and the memory estimates that pick automatic tiles.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ostream>
#include <filesystem>
#include <random>

#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "gpu/ops/copy.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/models/vae/tiling.h"
#include "tests/nodes/models/ltx/max_diff.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// A tiny reference VAE (a golden fixture's weights) and a random latent of 3 frames, 3x3 latent pixels:
// 17 frames of 96x96. `noise` is what a noise-injecting (0.9.1) decoder draws.
class TinyLtxVae {
 protected:
  void load(const std::string& file, unsigned latent_seed) {
    fx = std::make_unique<Fixture>(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / file);
    src = std::make_unique<WeightSource>(fixture_weights(*fx));
    weights = std::make_unique<DeviceWeights>(*src, gpu.context());
    vae = std::make_unique<LtxVae>(ltx_vae_config_from_json(fx->config()), *weights);
    std::mt19937 rng(latent_seed);
    std::normal_distribution<float> n;
    std::vector<float> v(16 * 3 * 3 * 3);
    for (float& x : v) x = n(rng);
    z = gpu::Tensor::from_floats(gpu.context(), v, {1, 16, 3, 3, 3});
  }
  std::vector<float> decode(const gpu::Tensor& latent, const LtxDecodeNoise& n) {
    gpu::CommandStream s(gpu.context());
    const gpu::Tensor out = vae->decode(s, latent, {0.05f}, n);
    s.finish();
    return out.to_floats();
  }
  std::vector<float> whole() { return decode(z, noise); }
  // decode_frames' chunks, checked to arrive in order, gathered into [1, 3, 17, 96, 96].
  std::vector<float> tiled(const LtxDecodeTiling& t, std::vector<int64_t>* chunk_frames = nullptr) {
    gpu::CommandStream s(gpu.context());
    FrameCollector all(17);
    int64_t next = 0;
    vae->decode_frames(s, z, {0.05f}, t, [&](const HostTensor& frames, int64_t first) {
      EXPECT_EQ(first, next);
      next += frames.shape[2];
      if (chunk_frames) chunk_frames->push_back(frames.shape[2]);
      all.sink()(frames, first);
    }, {}, noise);
    EXPECT_EQ(next, 17);
    return all.take().to_f32();
  }
  // 2x2 latent tiles sharing one latent pixel: tiles at (0|1, 0|1), blended over 32 pixels: decode() of
  // each tile's latent (with its window of the noise fields), weighted by tile_blend_weights, summed.
  std::vector<float> blend_of_tile_decodes() {
    const int64_t th = 64, F = 17, S = 96;
    const std::vector<int64_t> starts{0, 32};
    const auto w = tile_blend_weights(S, S, th, th, starts, starts, 32);
    std::vector<float> expect(static_cast<size_t>(3 * F * S * S), 0.0f);
    for (size_t a = 0; a < 2; ++a)
      for (size_t b = 0; b < 2; ++b) {
        LtxDecodeNoise window = noise;
        window.y0 = static_cast<int64_t>(a), window.x0 = static_cast<int64_t>(b), window.full_h = 3, window.full_w = 3;
        gpu::CommandStream s(gpu.context());
        const gpu::Tensor part = gpu::contiguous(s, gpu::narrow(gpu::narrow(z, 3, static_cast<int64_t>(a), 2), 4, static_cast<int64_t>(b), 2));
        s.finish();
        const std::vector<float> v = decode(part, window);
        for (int64_t p = 0; p < 3 * F; ++p)
          for (int64_t i = 0; i < th; ++i)
            for (int64_t j = 0; j < th; ++j)
              expect[static_cast<size_t>((p * S + starts[a] + i) * S + starts[b] + j)] +=
                  w[a][b][static_cast<size_t>(i * th + j)] * v[static_cast<size_t>((p * th + i) * th + j)];
      }
    return expect;
  }

  // What a decode holds on the device at once stays within kWorkingSetFactor of its largest tensor (the
  // estimate the automatic tiles rely on to keep a decode within half the budget).
  void expect_working_set_within_its_factor() {
    gpu::Context& ctx = gpu.context();
    const LtxVaeConfig& c = vae->config();
    for (auto [t, h, w] : {std::tuple<int64_t, int64_t, int64_t>{2, 2, 3}, {4, 3, 4}, {3, 5, 5}}) {
      std::mt19937 rng(3);
      std::normal_distribution<float> n;
      std::vector<float> v(static_cast<size_t>(c.latent_channels * t * h * w));
      for (float& x : v) x = n(rng);
      gpu::CommandStream s(ctx);
      const gpu::Tensor latent = gpu::Tensor::from_floats(ctx, v, {1, c.latent_channels, t, h, w});
      s.finish();
      const uint64_t base = ctx.allocator().current_device_bytes();
      ctx.allocator().reset_peak();
      vae->decode_frames(s, latent, {0.05f}, LtxDecodeTiling{}, [](const HostTensor&, int64_t) {}, {}, noise);
      s.finish();
      const uint64_t used = ctx.allocator().peak_device_bytes() - base;
      const uint64_t peak = c.decode_bytes_per_latent_pixel(t) * static_cast<uint64_t>(h * w);
      std::printf("  decode %lld frames of %lldx%lld: working set %.2f x the largest tensor\n", static_cast<long long>(t),
                  static_cast<long long>(h), static_cast<long long>(w), static_cast<double>(used) / static_cast<double>(peak));
      EXPECT_LE(used, LtxVaeConfig::kWorkingSetFactor * peak);
    }
  }

  GpuService gpu;
  std::unique_ptr<Fixture> fx;
  std::unique_ptr<WeightSource> src;
  std::unique_ptr<DeviceWeights> weights;
  std::unique_ptr<LtxVae> vae;
  gpu::Tensor z;
  LtxDecodeNoise noise;
};

class LtxVaeTiled : public ::testing::Test, protected TinyLtxVae {
 protected:
  void SetUp() override { load("ltx_vae.safetensors", 7); }
};

TEST_F(LtxVaeTiled, OneTileCoveringTheLatentIsDecodeExactly) {
  const std::vector<float> a = whole();
  EXPECT_EQ(tiled({}), a);
  EXPECT_EQ(tiled({3, 1, 3, 1}), a);
  EXPECT_EQ(tiled({8, 2, 0, 0}), a);
}

TEST_F(LtxVaeTiled, SpatialTilesAreTheBlendOfEachTilesDecode) { EXPECT_EQ(tiled({2, 1, 0, 0}), blend_of_tile_decodes()); }

TEST_F(LtxVaeTiled, MeasuredDifferenceOfTilesFromTheWholeDecode) {
  const std::vector<float> a = whole();
  float peak = 0;
  for (float v : a) peak = std::max(peak, std::fabs(v));
  // Measured on this random tiny VAE and 3x3x3 latent (peak |whole| 0.584): 2x2 spatial tiles sharing one
  // latent pixel differ from the whole decode by up to 0.474, 2-frame temporal tiles sharing one frame by
  // up to 0.529, both by up to 0.545. That is most of the signal: with tiles of two latent pixels every
  // output pixel is near a tile edge, where the convs see zeros (space) or repeated frames (time) instead
  // of the neighbours; the released VAE's default 16-latent tiles have a wide interior. The bounds hold
  // these figures with a small margin, so the test catches a change in what tiling does.
  const float space = test::max_diff(tiled({2, 1, 0, 0}), a);
  std::vector<int64_t> chunks;
  const float time = test::max_diff(tiled({0, 0, 2, 1}, &chunks), a);
  const float both = test::max_diff(tiled({2, 1, 2, 1}), a);
  std::printf("LTX tiled decode, max |tiled - whole| (peak |whole| %.3f): space %.4f, time %.4f, both %.4f\n", peak, space, time, both);
  EXPECT_GT(space, 0.0f);
  EXPECT_GT(time, 0.0f);
  EXPECT_LT(space, 0.50f);
  EXPECT_LT(time, 0.56f);
  EXPECT_LT(both, 0.58f);
  // Two temporal tiles (latent frames 0-1 and 1-2): the first hands over the frames before the second's
  // first (video frame 8), the second the rest.
  EXPECT_EQ(chunks, (std::vector<int64_t>{8, 9}));
}

// A random clip [1, 3, F, H, W] in [-1, 1], kept on the host as encode_tiled takes it.
std::vector<float> random_clip(int64_t F, int64_t H, int64_t W, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(3 * F * H * W));
  for (float& x : v) x = u(rng);
  return v;
}

class LtxVaeTiledEncode : public LtxVaeTiled {
 protected:
  // {mean, logvar} of encode() on frames [f0, f0 + n) of the clip, columns [x0, x0 + tw), rows [y0, y0 + th).
  std::pair<std::vector<float>, std::vector<float>> encode(const std::vector<float>& clip, const gpu::Shape& shape, int64_t f0,
                                                           int64_t n, int64_t y0, int64_t th, int64_t x0, int64_t tw) {
    const int64_t F = shape[2], H = shape[3], W = shape[4];
    std::vector<float> part;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = f0; t < f0 + n; ++t)
        for (int64_t y = y0; y < y0 + th; ++y)
          for (int64_t x = x0; x < x0 + tw; ++x) part.push_back(clip[static_cast<size_t>(((c * F + t) * H + y) * W + x)]);
    gpu::CommandStream s(gpu.context());
    const auto [m, l] = vae->encode(s, gpu::Tensor::from_floats(gpu.context(), part, {1, 3, n, th, tw}));
    return {m.to_floats(), l.to_floats()};
  }
  std::pair<std::vector<float>, std::vector<float>> tiled(const std::vector<float>& clip, const gpu::Shape& shape,
                                                          const LtxEncodeTiling& t, int* tiles = nullptr) {
    gpu::CommandStream s(gpu.context());
    const auto [m, l] = vae->encode_tiled(s, clip, shape, t, [&](int done, int) {
      if (tiles) *tiles = done;
    });
    return {m.to_floats(), l.to_floats()};
  }
};

TEST_F(LtxVaeTiledEncode, OneTileCoveringTheClipIsEncodeExactly) {
  const gpu::Shape shape{1, 3, 17, 96, 96};
  const std::vector<float> clip = random_clip(17, 96, 96, 5);
  const auto whole = encode(clip, shape, 0, 17, 0, 96, 0, 96);
  int tiles = 0;
  EXPECT_EQ(tiled(clip, shape, {}, &tiles), whole);
  EXPECT_EQ(tiles, 1);
  EXPECT_EQ(tiled(clip, shape, {3, 1, 3, 1}), whole);
}

TEST_F(LtxVaeTiledEncode, SpatialTilesAreTheBlendOfEachTilesEncode) {
  // 2x2 latent tiles of a 3x3 latent sharing one latent pixel: tiles at (0|1, 0|1), blended in latent space.
  const gpu::Shape shape{1, 3, 9, 96, 96};
  const std::vector<float> clip = random_clip(9, 96, 96, 6);
  const std::vector<int64_t> starts{0, 1};
  const auto w = tile_blend_weights(3, 3, 2, 2, starts, starts, 1);
  const int64_t C = vae->config().latent_channels, T = 2;
  std::vector<float> mean(static_cast<size_t>(C * T * 9), 0.0f), logvar(mean.size(), 0.0f);
  for (size_t a = 0; a < 2; ++a)
    for (size_t b = 0; b < 2; ++b) {
      const auto [m, l] = encode(clip, shape, 0, 9, starts[a] * 32, 64, starts[b] * 32, 64);
      auto add = [&](std::vector<float>& to, const std::vector<float>& from, int64_t planes) {
        for (int64_t p = 0; p < planes; ++p)
          for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 2; ++j)
              to[static_cast<size_t>((p * 3 + starts[a] + i) * 3 + starts[b] + j)] +=
                  w[a][b][static_cast<size_t>(i * 2 + j)] * from[static_cast<size_t>((p * 2 + i) * 2 + j)];
      };
      add(mean, m, C * T);
      add(logvar, l, C * T);
    }
  int tiles = 0;
  const auto [tm, tl] = tiled(clip, shape, {2, 1, 0, 0}, &tiles);
  EXPECT_EQ(tiles, 4);
  EXPECT_LT(test::max_diff(tm, mean), 1e-6f);
  // The log-variance is one channel blended before its clamp, the hand blend of clamped ones: the same here
  // (no value near the clamp).
  EXPECT_LT(test::max_diff(tl, logvar), 1e-6f);
}

TEST_F(LtxVaeTiledEncode, TemporalTilesEncodeEachLatentFrameWithTheFramesBeforeIt) {
  // 33 frames (5 latent frames) of 64x64, tiles of 2 latent frames sharing one: starts 0, 1, 2, 3. Tile a > 0
  // encodes video frames [8(a - 1), 8(a + 1)] and keeps its last two latent frames.
  const gpu::Shape shape{1, 3, 33, 64, 64};
  const std::vector<float> clip = random_clip(33, 64, 64, 7);
  const int64_t C = vae->config().latent_channels, T = 5, hw = 4;
  const std::vector<int64_t> starts{0, 1, 2, 3};
  const auto w = tile_blend_weights(1, T, 1, 2, {0}, starts, 1)[0];
  std::vector<float> mean(static_cast<size_t>(C * T * hw), 0.0f);
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = starts[k], drop = a > 0, f0 = a > 0 ? 8 * (a - 1) : 0, n = 1 + 8 * (1 + drop);
    const std::vector<float> m = encode(clip, shape, f0, n, 0, 64, 0, 64).first;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < 2; ++j)
        for (int64_t i = 0; i < hw; ++i)
          mean[static_cast<size_t>((c * T + a + j) * hw + i)] += w[k][static_cast<size_t>(j)] * m[static_cast<size_t>((c * (2 + drop) + j + drop) * hw + i)];
  }
  int tiles = 0;
  const std::vector<float> tm = tiled(clip, shape, {0, 0, 2, 1}, &tiles).first;
  EXPECT_EQ(tiles, 4);
  EXPECT_LT(test::max_diff(tm, mean), 1e-6f);
  // The encoder is causal: latent frames 0 and 1 (video frames 0-8) are what the whole encode gives them;
  // later ones miss the frames more than 8 before their own and differ.
  const std::vector<float> whole = encode(clip, shape, 0, 33, 0, 64, 0, 64).first;
  float early = 0, late = 0, peak = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < hw; ++i) {
        const size_t at = static_cast<size_t>((c * T + t) * hw + i);
        (t < 2 ? early : late) = std::max(t < 2 ? early : late, std::fabs(tm[at] - whole[at]));
        peak = std::max(peak, std::fabs(whole[at]));
      }
  std::printf("  LTX temporal tiled encode, max |tiled - whole| of the means (peak %.3f): frames 0-1 %.2e, 2-4 %.4f\n", peak, early, late);
  EXPECT_LT(early, 1e-5f);
  EXPECT_GT(late, 0.0f);
}

TEST_F(LtxVaeTiledEncode, BadTilingsAndClipsAreRefused) {
  gpu::CommandStream s(gpu.context());
  const std::vector<float> clip = random_clip(17, 96, 96, 8);
  EXPECT_THROW(vae->encode_tiled(s, clip, {1, 3, 17, 96, 96}, {2, 2, 0, 0}), Error);   // overlap = tile
  EXPECT_THROW(vae->encode_tiled(s, clip, {1, 3, 17, 96, 96}, {0, 0, 2, 2}), Error);   // overlap_frames = tile_frames
  EXPECT_THROW(vae->encode_tiled(s, clip, {1, 3, 16, 96, 96}, {}), Error);             // not 8k + 1 frames
  EXPECT_THROW(vae->encode_tiled(s, clip, {1, 3, 17, 96, 100}, {}), Error);            // not a multiple of 32 wide
  EXPECT_THROW(vae->encode_tiled(s, std::span<const float>(clip).first(clip.size() - 1), {1, 3, 17, 96, 96}, {}), Error);
}

// What an encode holds on the device at once stays within kEncodeWorkingSetFactor of its largest tensor.
TEST_F(LtxVaeTiledEncode, EncodeWorkingSetStaysWithinItsFactor) {
  gpu::Context& ctx = gpu.context();
  const LtxVaeConfig& c = vae->config();
  for (auto [t, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 2, 3}, {2, 3, 2}, {3, 2, 2}}) {
    const int64_t F = 1 + 8 * (t - 1);
    const std::vector<float> clip = random_clip(F, h * 32, w * 32, 9);
    gpu::CommandStream s(ctx);
    const uint64_t base = ctx.allocator().current_device_bytes();
    ctx.allocator().reset_peak();
    {
      const auto moments = vae->encode_tiled(s, clip, {1, 3, F, h * 32, w * 32}, {});
      s.finish();
    }
    const uint64_t used = ctx.allocator().peak_device_bytes() - base;
    const uint64_t peak = c.encode_peak_tensor_bytes(t, h, w);
    std::printf("  encode %lld latent frames of %lldx%lld: working set %.2f x the largest tensor\n", static_cast<long long>(t),
                static_cast<long long>(h), static_cast<long long>(w), static_cast<double>(used) / static_cast<double>(peak));
    EXPECT_LE(used, LtxVaeConfig::kEncodeWorkingSetFactor * peak);
  }
}

TEST(LtxVaeConfig, AutoEncodeTilingFitsTheReleasedEncoderInLavapipesBuffers) {
  const LtxVaeConfig released;
  const uint64_t gib4 = uint64_t{4} << 30, lavapipe = uint64_t{128} << 20;
  // 121 frames of 704x480 (a 16-frame 15x22 latent): the first resnet's packed input alone is 128 channels of
  // 123 frames of 122x178 (176x120 with the causal frames and a pixel around), 1.37 GB.
  EXPECT_EQ(released.encode_peak_tensor_bytes(16, 15, 22), uint64_t{128} * 123 * 122 * 178 * 4);
  EXPECT_EQ(ltx_auto_encode_tiling(released, {0, 2, 0, 1}, gib4, 16, 15, 22).tile, 0);
  const LtxEncodeTiling a = ltx_auto_encode_tiling(released, {0, 2, 0, 1}, lavapipe, 16, 15, 22);
  std::printf("  encode 704x480x121 at 128 MiB buffers: %lld latent frames per temporal tile, spatial tile %lld\n",
              static_cast<long long>(a.tile_frames), static_cast<long long>(a.tile));
  ASSERT_GE(a.tile_frames, 2);
  ASSERT_LT(a.tile_frames, 16);
  EXPECT_EQ(a.overlap_frames, 1);
  // A later temporal tile encodes one latent frame more than it keeps; its tensors fit the buffer.
  const int64_t th = a.tile ? std::min<int64_t>(a.tile, 15) : 15, tw = a.tile ? std::min<int64_t>(a.tile, 22) : 22;
  EXPECT_LE(released.encode_peak_tensor_bytes(a.tile_frames + 1, th, tw), lavapipe);
  // A single image (one latent frame) at 768x512 is encoded whole. At 1024x1024 the third down block's
  // space-to-depth conv packs 512 channels of 4 frames (the prepended one and two causal ones) at 130x130,
  // 138 MB: just over one lavapipe buffer, so the image is encoded in two 31-pixel tiles a side.
  EXPECT_EQ(ltx_auto_encode_tiling(released, {0, 2, 0, 1}, lavapipe, 1, 16, 24).tile, 0);
  EXPECT_EQ(released.encode_peak_tensor_bytes(1, 32, 32), uint64_t{512} * 4 * 130 * 130 * 4);
  EXPECT_EQ(ltx_auto_encode_tiling(released, {0, 2, 0, 1}, lavapipe, 1, 32, 32).tile, 31);
}

TEST_F(LtxVaeTiled, OverlapsMustBeSmallerThanTiles) {
  gpu::CommandStream s(gpu.context());
  auto none = [](const HostTensor&, int64_t) {};
  EXPECT_THROW(vae->decode_frames(s, z, {0.05f}, {2, 2, 0, 0}, none), Error);
  EXPECT_THROW(vae->decode_frames(s, z, {0.05f}, {0, 0, 2, 2}, none), Error);
}

// What a decode holds on the device at once stays within kWorkingSetFactor of its largest tensor, which
// the automatic tiles rely on to keep a decode within half the budget.
TEST_F(LtxVaeTiled, DecodeWorkingSetStaysWithinItsFactor) {
  expect_working_set_within_its_factor();
  // The limit automatic tiling works to: one buffer, or a sixteenth of the budget when that is less.
  EXPECT_EQ(auto_tile_tensor_limit(uint64_t{128} << 20, uint64_t{24} << 30, LtxVaeConfig::kWorkingSetFactor), uint64_t{128} << 20);
  EXPECT_EQ(auto_tile_tensor_limit(uint64_t{4} << 30, uint64_t{8} << 30, LtxVaeConfig::kWorkingSetFactor), uint64_t{512} << 20);
}

// The 0.9.0 (no timestep, plain upsamplers) and 0.9.1 (noise-injecting) layouts tile the same way; the
// 0.9.1 tiles take their windows of the whole latent's seeded noise fields.
struct Layout {
  const char* file;
  float space, time;  // bounds on max |tiled - whole| for 2x2 spatial and 2-frame temporal tiles
};
void PrintTo(const Layout& l, std::ostream* os) { *os << l.file; }

class LtxVaeTiledLayouts : public ::testing::TestWithParam<Layout>, protected TinyLtxVae {
 protected:
  void SetUp() override {
    load(GetParam().file, 11);
    noise.seed = 1234;
  }
};

TEST_P(LtxVaeTiledLayouts, OneTileIsDecodeAndSpatialTilesBlendEachTilesWindow) {
  const std::vector<float> a = whole();
  EXPECT_EQ(tiled({}), a);
  EXPECT_EQ(tiled({3, 1, 3, 1}), a);
  const std::vector<float> space = tiled({2, 1, 0, 0});
  EXPECT_EQ(space, blend_of_tile_decodes());
  // Measured, as for the 0.9.5 VAE (MeasuredDifferenceOfTilesFromTheWholeDecode): 0.9.0 peak 0.861, space
  // 0.784, time 0.876; 0.9.1 peak 1.429, space 0.993, time 1.000. Two-pixel tiles are all edge, so this is
  // most of the signal; the bounds hold the figures with a small margin to catch a change in what tiling does.
  float peak = 0;
  for (float v : a) peak = std::max(peak, std::fabs(v));
  const float d_space = test::max_diff(space, a), d_time = test::max_diff(tiled({0, 0, 2, 1}), a);
  std::printf("  %s tiled decode, max |tiled - whole| (peak %.3f): space %.4f, time %.4f\n", GetParam().file, peak, d_space, d_time);
  EXPECT_GT(d_space, 0.0f);
  EXPECT_GT(d_time, 0.0f);
  EXPECT_LT(d_space, GetParam().space);
  EXPECT_LT(d_time, GetParam().time);
  expect_working_set_within_its_factor();
}

INSTANTIATE_TEST_SUITE_P(Ltx, LtxVaeTiledLayouts,
                         ::testing::Values(Layout{"ltx_vae_090.safetensors", 0.82f, 0.92f}, Layout{"ltx_vae_091.safetensors", 1.04f, 1.05f}),
                         [](const ::testing::TestParamInfo<Layout>& i) { return std::string(i.param.file).substr(8, 3); });

TEST(LtxVaeConfig, DecodeTileFollowsTheBufferLimit) {
  const LtxVaeConfig released;  // 0.9.5 defaults
  // The last up block dominates: 1024 channels at 8x the latent's side... per latent pixel and frame of
  // the 8x-upsampled video, about 128 channels x 64 pixels x 4 bytes.
  const uint64_t per_pixel = released.decode_bytes_per_latent_pixel(16);
  EXPECT_GE(per_pixel, uint64_t{128} * 64 * (1 + 8 * 15) * 4);
  // 128 MiB buffers (lavapipe) cannot hold a 16-frame 512x768 decode (16x24 latent) whole.
  const int64_t tile = released.largest_decode_tile(uint64_t{128} << 20, 16);
  EXPECT_LT(tile, 16);
  EXPECT_GE(tile, 1);
  EXPECT_LE(static_cast<double>(tile * tile * per_pixel) * 1.1, static_cast<double>(uint64_t{128} << 20));
  EXPECT_EQ(released.largest_decode_tile(1, 16), 1);
  // Fewer frames per temporal tile: bigger spatial tiles.
  EXPECT_GT(released.largest_decode_tile(uint64_t{128} << 20, 2), tile);
}

TEST(LtxVaeConfig, AutoTilingTradesFramesForSpace) {
  const LtxVaeConfig released;
  const uint64_t gib4 = uint64_t{4} << 30, lavapipe = uint64_t{128} << 20;
  // 121 frames of 704x480: a 16-frame 15x22 latent. A 4 GiB buffer holds it whole; under lavapipe's 128 MiB
  // the whole clip would allow only tiny spatial tiles.
  const LtxDecodeTiling whole = ltx_auto_decode_tiling(released, {0, 2, 0, 1}, gib4, 16, 15, 22);
  EXPECT_EQ(whole.tile, 0);
  EXPECT_EQ(whole.tile_frames, 0);
  EXPECT_LT(released.largest_decode_tile(lavapipe, 16), 8);
  const LtxDecodeTiling a = ltx_auto_decode_tiling(released, {0, 2, 0, 1}, lavapipe, 16, 15, 22);
  std::printf("  704x480x121 at 128 MiB buffers: %lld latent frames per temporal tile, spatial tile %lld (whole clip: %lld)\n",
              static_cast<long long>(a.tile_frames), static_cast<long long>(a.tile),
              static_cast<long long>(released.largest_decode_tile(lavapipe, 16)));
  ASSERT_GE(a.tile_frames, 2);
  ASSERT_LT(a.tile_frames, 16);
  EXPECT_EQ(a.overlap_frames, 1);
  // The most frames that still allow 15-pixel tiles (all of the latent's height).
  EXPECT_GE(released.largest_decode_tile(lavapipe, a.tile_frames), 15);
  EXPECT_LT(released.largest_decode_tile(lavapipe, a.tile_frames + 1), 15);
  EXPECT_EQ(a.tile, released.largest_decode_tile(lavapipe, a.tile_frames));
  EXPECT_EQ(a.overlap, 2);
  // A buffer too small for the target even at two frames: two frames, and the largest tile they allow.
  const uint64_t tiny = uint64_t{16} << 20;
  const LtxDecodeTiling b = ltx_auto_decode_tiling(released, {0, 2, 0, 1}, tiny, 16, 15, 22);
  EXPECT_EQ(b.tile_frames, 2);
  EXPECT_EQ(b.tile, released.largest_decode_tile(tiny, 2));
  EXPECT_EQ(b.overlap, std::min<int64_t>(2, b.tile - 1));
  // What the user set stays: their temporal tiles, their spatial tile.
  EXPECT_EQ(ltx_auto_decode_tiling(released, {0, 2, 8, 1}, lavapipe, 16, 15, 22).tile_frames, 8);
  EXPECT_EQ(ltx_auto_decode_tiling(released, {0, 2, 8, 1}, lavapipe, 16, 15, 22).tile, released.largest_decode_tile(lavapipe, 8));
  EXPECT_EQ(ltx_auto_decode_tiling(released, {4, 2, 0, 1}, lavapipe, 16, 15, 22).tile_frames, 0);
}

}  // namespace
}  // namespace lattice
