// LtxVae::decode_frames (tiled decode) against decode() on the reference tiny LTX-Video VAE, and the
// decoder memory estimate that picks an automatic tile.
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
