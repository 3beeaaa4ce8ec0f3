#include "gpu/ops/rope.h"

#include <cmath>
#include <string_view>

#include "core/safetensors.h"
#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// The rotation written out per pair, in double: pairs (2k, 2k+1) or (k, k + W/2) of each W-wide chunk.
std::vector<float> reference(const std::vector<float>& x, int64_t seq, int64_t channels, const std::vector<float>& cos,
                             const std::vector<float>& sin, int64_t width, RopePairing pairing) {
  std::vector<float> y(x.size());
  for (size_t row = 0; row < x.size() / static_cast<size_t>(channels); ++row) {
    const size_t tab = (row % static_cast<size_t>(seq)) * static_cast<size_t>(width);
    for (int64_t chunk = 0; chunk < channels / width; ++chunk)
      for (int64_t k = 0; k < width / 2; ++k) {
        int64_t i = pairing == RopePairing::Interleaved ? 2 * k : k;
        int64_t j = pairing == RopePairing::Interleaved ? 2 * k + 1 : k + width / 2;
        size_t a = row * static_cast<size_t>(channels) + static_cast<size_t>(chunk * width + i);
        size_t b = row * static_cast<size_t>(channels) + static_cast<size_t>(chunk * width + j);
        double xa = x[a], xb = x[b];
        y[a] = static_cast<float>(xa * cos[tab + static_cast<size_t>(i)] - xb * sin[tab + static_cast<size_t>(i)]);
        y[b] = static_cast<float>(xb * cos[tab + static_cast<size_t>(j)] + xa * sin[tab + static_cast<size_t>(j)]);
      }
  }
  return y;
}

TEST_F(GpuTest, RopeMatchesReference) {
  struct Case {
    Shape x;
    int64_t width;
  };
  // Per-head tables (W = head dim) and whole-inner-dim tables (W = C, LTX); odd L and pair counts.
  const Case cases[] = {{{1, 1, 2}, 2},       {{2, 19, 32}, 16},  {{1, 7, 3, 10}, 10}, {{1, 33, 48}, 48},
                        {{2, 65, 384}, 128},  {{1, 5, 2048}, 2048}};
  // Automatic, then each variant forced; the texel variant (CPU devices) takes interleaved pairs with W a
  // multiple of 4 only.
  for (const char* variant : {"", "portable", "texel"}) {
    const bool texel = std::string_view(variant) == "texel";
    if (texel && !ctx().device().info().is_cpu()) continue;
    const test::ScopedKernelVariant forced("ROPE", variant);
    uint32_t seed = 1500;
    for (const Case& c : cases) {
      if (texel && c.width % 4 != 0) continue;
      int64_t seq = c.x[c.x.size() - 2], channels = c.x.back();
      auto x = testing::random_floats(static_cast<size_t>(numel(c.x)), seed++, -3.0f, 3.0f);
      auto angles = testing::random_floats(static_cast<size_t>(seq * c.width), seed++, -10.0f, 10.0f);
      std::vector<float> cos(angles.size()), sin(angles.size());
      for (size_t i = 0; i < angles.size(); ++i) {  // distinct per column, so a wrong column shows
        cos[i] = std::cos(angles[i]);
        sin[i] = std::sin(angles[i]);
      }
      Tensor tx = Tensor::from_floats(ctx(), x, c.x);
      Tensor tc = Tensor::from_floats(ctx(), cos, {seq, c.width}), ts = Tensor::from_floats(ctx(), sin, {seq, c.width});
      for (RopePairing pairing : {RopePairing::Interleaved, RopePairing::HalfSplit}) {
        if (texel && pairing != RopePairing::Interleaved) continue;
        CommandStream s(ctx());
        Tensor y = rope(s, tx, tc, ts, pairing);
        s.finish();
        EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(x, seq, channels, cos, sin, c.width, pairing), 1e-6, 1e-6))
            << "'" << variant << "' " << shape_string(c.x) << " W " << c.width << " pairing " << static_cast<int>(pairing);
      }
    }
  }
}

TEST_F(GpuTest, RopeRefusesMismatchedTables) {
  Tensor x = Tensor::empty(ctx(), {1, 4, 12}, DType::F32);
  Tensor t5 = Tensor::empty(ctx(), {4, 5}, DType::F32), t8 = Tensor::empty(ctx(), {4, 8}, DType::F32);
  Tensor t6 = Tensor::empty(ctx(), {3, 6}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(rope(s, x, t5, t5), DeviceError);  // odd width
  EXPECT_THROW(rope(s, x, t8, t8), DeviceError);  // 8 does not divide 12
  EXPECT_THROW(rope(s, x, t6, t6), DeviceError);  // 3 rows for 4 tokens
}

std::vector<float> load_floats(const SafetensorsFile& f, const char* name) { return f.load(name).to_f32(); }

// FLUX's 3-axis tables built from the fixture's ids match diffusers' FluxPosEmbed output bit for bit
// (both take the angles in float64 and round once to float32).
TEST(RopeTables, FluxMatchesFixturePosEmbed) {
  SafetensorsFile f(std::string(LATTICE_SOURCE_DIR) + "/tests/golden/flux_transformer.safetensors");
  auto txt = load_floats(f, "input.txt_ids"), img = load_floats(f, "input.img_ids");
  std::vector<float> ids = txt;
  ids.insert(ids.end(), img.begin(), img.end());  // ids = cat(txt_ids, img_ids)
  const int64_t axes[] = {4, 6, 6};
  RopeTables t = flux_rope_tables(ids, axes);
  EXPECT_EQ(t.length, 19);
  EXPECT_EQ(t.width, 16);
  auto want_cos = load_floats(f, "intermediate.pos_embed.0"), want_sin = load_floats(f, "intermediate.pos_embed.1");
  ASSERT_EQ(t.cos.size(), want_cos.size());
  double max_diff = 0;
  for (size_t i = 0; i < want_cos.size(); ++i)
    max_diff = std::max({max_diff, std::fabs(double(t.cos[i]) - want_cos[i]), std::fabs(double(t.sin[i]) - want_sin[i])});
  // libm's and PyTorch's float64 cos/sin may differ in the last double bit, which can flip one float
  // rounding: allow one f32 ulp at magnitude 1.
  EXPECT_LE(max_diff, 6e-8);
  EXPECT_THROW(flux_rope_tables(ids, std::vector<int64_t>{4, 5, 7}), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
