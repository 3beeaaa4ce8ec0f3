#include "gpu/ops/conv2d.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/ops/conv_reference.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

struct Case {
  int64_t n, cin, h, w, cout, kh, kw;
  Conv2dParams p;
};

// f32 accumulation over Cin*kh*kw <= 500 terms against a double reference: errors ~1e-7 relative.
constexpr double kMaxNmse = 1e-10;

void check(Context& ctx, std::string_view variant, const Case& c, DType wt, bool with_bias, uint32_t seed) {
  auto x = testing::random_floats(static_cast<size_t>(c.n * c.cin * c.h * c.w), seed);
  std::vector<float> w;
  Tensor tw = testing::random_weights(ctx, {c.cout, c.cin, c.kh, c.kw}, seed + 1, wt, w);
  std::vector<float> bias = with_bias ? testing::random_floats(static_cast<size_t>(c.cout), seed + 2) : std::vector<float>{};
  CommandStream s(ctx);
  Tensor y = conv2d(s, Tensor::from_floats(ctx, x, {c.n, c.cin, c.h, c.w}), tw,
                    with_bias ? Tensor::from_floats(ctx, bias, {c.cout}) : Tensor{}, c.p, variant);
  s.finish();
  Conv3dParams p3;
  p3.stride_h = c.p.stride_h;
  p3.stride_w = c.p.stride_w;
  p3.pad_top = c.p.pad_top;
  p3.pad_bottom = c.p.pad_bottom;
  p3.pad_left = c.p.pad_left;
  p3.pad_right = c.p.pad_right;
  auto want = testing::conv3d_reference({c.n, c.cin, 1, c.h, c.w, c.cout, 1, c.kh, c.kw}, p3, x, w, bias, {});
  int64_t oh = (c.h + c.p.pad_top + c.p.pad_bottom - c.kh) / c.p.stride_h + 1;
  int64_t ow = (c.w + c.p.pad_left + c.p.pad_right - c.kw) / c.p.stride_w + 1;
  ASSERT_EQ(y.shape(), (Shape{c.n, c.cout, oh, ow}));
  EXPECT_TRUE(testing::close_nmse(y.to_floats(), want, kMaxNmse))
      << variant << " x [" << c.n << "," << c.cin << "," << c.h << "," << c.w << "] k " << c.kh << "x" << c.kw << " -> "
      << c.cout << " stride " << c.p.stride_h << " " << dtype_name(wt) << (with_bias ? " +bias" : "");
}

TEST_F(GpuTest, Conv2dMatchesReference) {
  Conv2dParams flux_down{2, 2, 0, 1, 0, 1};  // FLUX encoder: pad right/bottom by one, stride 2, 3x3
  const Case cases[] = {
      {1, 4, 8, 8, 8, 1, 1, {}},                          // 1x1 (shortcuts, quant convs)
      {2, 3, 7, 9, 5, 3, 3, Conv2dParams::uniform(1)},    // odd sizes, Cin not a multiple of 4 (RGB conv_in)
      {1, 16, 9, 11, 12, 3, 3, Conv2dParams::uniform(1)}, // Cout not a multiple of the 8-wide tile
      {1, 8, 9, 12, 8, 3, 3, flux_down},
      {1, 6, 10, 10, 4, 3, 3, Conv2dParams::uniform(1, 2)},
      {1, 5, 11, 8, 3, 5, 5, Conv2dParams::uniform(2)},   // general k
      {1, 4, 6, 9, 6, 3, 1, {1, 2, 1, 1, 0, 0}},         // non-square kernel, unequal strides
  };
  uint32_t seed = 700;
  for (std::string_view v : testing::conv_variants(ctx()))
    for (const Case& c : cases) {
      check(ctx(), v, c, DType::F32, true, seed += 3);
      check(ctx(), v, c, DType::F16, false, seed += 3);
    }
  check(ctx(), "", cases[2], DType::BF16, true, seed += 3);  // the default variant, bf16 weights
}

TEST_F(GpuTest, Conv2dReadsInputAtAnOffset) {
  // A batch-1 view into a [2, C, H, W] tensor: the kernels must honour x's element offset.
  auto all = testing::random_floats(2 * 4 * 5 * 6, 11);
  Tensor t = Tensor::from_floats(ctx(), all, {2, 4, 5, 6});
  Tensor second = t.view({1, 4, 5, 6}, {120, 30, 6, 1}, 120);
  std::vector<float> w;
  Tensor tw = testing::random_weights(ctx(), {3, 4, 3, 3}, 12, DType::F32, w);
  std::vector<float> x(all.begin() + 120, all.end());
  Conv3dParams p3 = Conv3dParams::same(0, 1, 1);
  auto want = testing::conv3d_reference({1, 4, 1, 5, 6, 3, 1, 3, 3}, p3, x, w, {}, {});
  for (std::string_view v : testing::conv_variants(ctx())) {
    CommandStream s(ctx());
    Tensor y = conv2d(s, second, tw, {}, Conv2dParams::uniform(1), v);
    s.finish();
    EXPECT_TRUE(testing::close_nmse(y.to_floats(), want, kMaxNmse)) << v;
  }
}

TEST_F(GpuTest, Conv2dRefusesBadShapes) {
  CommandStream s(ctx());
  Tensor x = Tensor::empty(ctx(), {1, 4, 5, 5}, DType::F32);
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx(), {2, 3, 3, 3}, DType::F32)), DeviceError);  // Cin differs
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx(), {2, 4, 7, 7}, DType::F32)), DeviceError);  // kernel > input
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx(), {2, 4, 3, 3}, DType::F32), Tensor::empty(ctx(), {3}, DType::F32)),
               DeviceError);  // bias size
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx(), {2, 4, 3, 3}, DType::F32), {}, {}, "no-such-variant"), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
