// AutoencoderKL::encode_tiled on the golden FLUX VAE weights: one tile is encode() exactly; where only one
// tile reaches, the tiled latent is that tile's lone encode (the blend adds nothing); and
// encode_peak_tensor_bytes is the largest device buffer the encoder makes, so the auto tile of vae.encode
// fits a device's buffer limit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/ops/copy.h"
#include "nodes/models/fixture.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/models/vae/autoencoder_kl.h"
#include "tests/support/gpu_limits.h"

namespace lattice {
namespace {

const std::filesystem::path kFixture = std::filesystem::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_vae.safetensors";

template <class Body>
auto with_buffer_limit(uint64_t limit, Body&& body) {
  const Fixture fx(kFixture);
  auto gpu = test::gpu_with_buffer_limit(limit);
  gpu::Context& ctx = gpu->context();
  WeightSource src = fixture_weights(fx);
  DeviceWeights weights(src, ctx);
  const AutoencoderKL vae(autoencoder_kl_config_from_json(fx.config()), weights);
  gpu::CommandStream s(ctx);
  return body(vae, s, ctx);
}

std::vector<float> image(int64_t H, int64_t W, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(3 * H * W));
  for (float& x : v) x = u(rng);
  return v;
}

TEST(VaeTiledEncode, OneTileIsEncodeAndTilesBlendOnlyWhereTheyOverlap) {
  with_buffer_limit(0, [](const AutoencoderKL& vae, gpu::CommandStream& s, gpu::Context& ctx) {
    const int64_t f = vae.config().downscale(), h = 7, w = 5, H = h * f, W = w * f;
    const gpu::Tensor x = gpu::Tensor::from_floats(ctx, image(H, W, 3), {1, 3, H, W});
    const auto [mean, logvar] = vae.encode(s, x);
    const std::vector<float> ref = mean.to_floats();
    EXPECT_EQ(vae.encode_tiled(s, x, 0, 0).first.to_floats(), ref);
    EXPECT_EQ(vae.encode_tiled(s, x, 7, 2).first.to_floats(), ref);
    EXPECT_EQ(vae.encode_tiled(s, x, 7, 2).second.to_floats(), logvar.to_floats());

    const auto [tiled, tiled_lv] = vae.encode_tiled(s, x, 3, 1);
    EXPECT_EQ(tiled.shape(), mean.shape());
    // Latent pixels [0, 2) x [0, 2) only the top-left tile covers: its lone encode there, exactly.
    const gpu::Tensor corner = gpu::contiguous(s, gpu::narrow(gpu::narrow(x, 2, 0, 3 * f), 3, 0, 3 * f));
    const std::vector<float> lone = vae.encode(s, corner).first.to_floats(), t = tiled.to_floats();
    const int64_t C = mean.dim(1);
    double diff = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < h; ++r)
        for (int64_t q = 0; q < w; ++q) {
          const size_t i = static_cast<size_t>((c * h + r) * w + q);
          if (r < 2 && q < 2) {
            EXPECT_EQ(t[i], lone[static_cast<size_t>((c * 3 + r) * 3 + q)]);
          }
          diff = std::max<double>(diff, std::fabs(t[i] - ref[i]));
        }
    // Elsewhere the tiles differ from the whole encode (GroupNorm statistics, the mid attention and the
    // convs' zero padding see one tile), but stay the same kind of latent.
    std::printf("  tiled (3, overlap 1) vs whole encode: max |diff| of the mean %.4g\n", diff);
    EXPECT_GT(diff, 0.0);
    EXPECT_THROW(vae.encode_tiled(s, x, 3, 3), Error);
    return 0;
  });
}

TEST(VaeTiledEncode, PeakTensorBytesIsTheLargestBufferTheEncoderMakes) {
  const AutoencoderKLConfig c = autoencoder_kl_config_from_json(Fixture(kFixture).config());
  const int64_t f = c.downscale(), h = 6, w = 5, H = h * f, W = w * f;
  const std::vector<float> v = image(H, W, 4);
  const uint64_t peak = c.encode_peak_tensor_bytes(h, w);
  auto encode_with_limit = [&](uint64_t limit) {
    return with_buffer_limit(limit, [&](const AutoencoderKL& vae, gpu::CommandStream& s, gpu::Context& ctx) {
      return vae.encode(s, gpu::Tensor::from_floats(ctx, v, {1, 3, H, W})).first.shape();
    });
  };
  EXPECT_EQ(encode_with_limit(peak), (gpu::Shape{1, c.latent_channels, h, w}));
  EXPECT_THROW(encode_with_limit(peak * 3 / 4), Error);
  EXPECT_EQ(c.largest_encode_tile(peak, h, w), h);
  EXPECT_LT(c.largest_encode_tile(peak - 1, h, w), h);
  EXPECT_EQ(c.largest_encode_tile(1, h, w), 1);

  // FLUX's VAE at 1024x1024 (a 128x128 latent) under lavapipe's 128 MiB buffers: the first level's packed
  // 128-channel input at full resolution decides.
  const AutoencoderKLConfig flux;
  const uint64_t lavapipe = uint64_t{128} << 20;
  const int64_t tile = flux.largest_encode_tile(lavapipe, 128, 128);
  std::printf("  FLUX VAE encoder, 1024x1024: whole needs %.0f MiB, auto tile %lld latent pixels\n",
              static_cast<double>(flux.encode_peak_tensor_bytes(128, 128)) / (1 << 20), static_cast<long long>(tile));
  EXPECT_EQ(flux.encode_peak_tensor_bytes(tile, tile), static_cast<uint64_t>(128 * (8 * tile + 2) * (8 * tile + 2)) * 4);
  EXPECT_LE(flux.encode_peak_tensor_bytes(tile, tile), lavapipe);
  EXPECT_GT(flux.encode_peak_tensor_bytes(tile + 1, tile + 1), lavapipe);
}

// A whole decode or encode holds every layer's tensors until it is submitted: within kWorkingSetFactor of
// the largest one, which the automatic tiles rely on to keep a pass within half the budget.
TEST(VaeTiledEncode, WorkingSetStaysWithinItsFactor) {
  with_buffer_limit(0, [](const AutoencoderKL& vae, gpu::CommandStream& s, gpu::Context& ctx) {
    const AutoencoderKLConfig& c = vae.config();
    const int64_t f = c.downscale();
    for (auto [h, w] : {std::pair<int64_t, int64_t>{8, 8}, {16, 12}}) {
      auto working = [&](auto&& pass) {
        s.finish();
        const uint64_t base = ctx.allocator().current_device_bytes();
        ctx.allocator().reset_peak();
        pass();
        s.finish();
        return ctx.allocator().peak_device_bytes() - base;
      };
      std::vector<float> zv(static_cast<size_t>(c.latent_channels * h * w), 0.25f);
      const gpu::Tensor latent = gpu::Tensor::from_floats(ctx, zv, {1, c.latent_channels, h, w});
      const uint64_t dec = working([&] { vae.decode(s, latent); });
      const gpu::Tensor x = gpu::Tensor::from_floats(ctx, image(h * f, w * f, 6), {1, 3, h * f, w * f});
      const uint64_t enc = working([&] { vae.encode(s, x); });
      const double dpeak = static_cast<double>(c.decode_bytes_per_latent_pixel() * static_cast<uint64_t>(h * w));
      std::printf("  %lldx%lld latent: decode working set %.1f x its largest tensor, encode %.1f x\n", static_cast<long long>(h),
                  static_cast<long long>(w), static_cast<double>(dec) / dpeak,
                  static_cast<double>(enc) / static_cast<double>(c.encode_peak_tensor_bytes(h, w)));
      EXPECT_LE(static_cast<double>(dec), AutoencoderKLConfig::kWorkingSetFactor * dpeak);
      EXPECT_LE(enc, AutoencoderKLConfig::kWorkingSetFactor * c.encode_peak_tensor_bytes(h, w));
    }
    return 0;
  });
  // On a 24 GB card (19.2 GB budget) the largest tensor may take 300 MB: FLUX at 1024x1024 decodes in tiles.
  const AutoencoderKLConfig flux;
  const uint64_t limit = auto_tile_tensor_limit(uint64_t{4} << 30, uint64_t{19200} << 20, AutoencoderKLConfig::kWorkingSetFactor);
  EXPECT_LT(flux.largest_decode_tile(limit), 128);
  EXPECT_EQ(auto_tile_tensor_limit(uint64_t{128} << 20, uint64_t{19200} << 20, AutoencoderKLConfig::kWorkingSetFactor), uint64_t{128} << 20);
}

}  // namespace
}  // namespace lattice
