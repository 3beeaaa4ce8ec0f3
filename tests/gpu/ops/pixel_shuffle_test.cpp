#include "gpu/ops/pixel_shuffle.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// depth_to_space by the explicit formula out[n, c, s·r + o] = x[n, c·∏r + o, s] (offsets row-major).
std::vector<float> reference(const std::vector<float>& x, const Shape& in, const std::vector<int64_t>& r) {
  size_t k = r.size();
  int64_t block = 1;
  for (int64_t v : r) block *= v;
  Shape out = {in[0], in[1] / block};
  for (size_t i = 0; i < k; ++i) out.push_back(in[2 + i] * r[i]);
  Shape xs = contiguous_strides(in);
  std::vector<float> y(static_cast<size_t>(numel(out)));
  for (int64_t o = 0; o < numel(out); ++o) {
    int64_t rest = o, off = 0, at = 0;
    std::vector<int64_t> co(out.size());
    for (size_t d = out.size(); d-- > 0;) {
      co[d] = rest % out[d];
      rest /= out[d];
    }
    for (size_t i = 0; i < k; ++i) {
      off = off * r[i] + co[2 + i] % r[i];
      at += (co[2 + i] / r[i]) * xs[2 + i];
    }
    at += co[0] * xs[0] + (co[1] * block + off) * xs[1];
    y[static_cast<size_t>(o)] = x[static_cast<size_t>(at)];
  }
  return y;
}

TEST_F(GpuTest, DepthToSpaceAndBackMatchIndexFormula) {
  struct Case {
    Shape in;
    std::vector<int64_t> r;
  };
  const Case cases[] = {{{1, 4, 3, 5}, {2, 2}},  {{2, 18, 5, 7}, {3, 3}}, {{1, 6, 4, 3}, {3, 2}},
                        {{2, 16, 2, 3, 5}, {2, 2, 2}}, {{1, 3, 7}, {3}}};
  uint32_t seed = 700;
  for (const Case& c : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(c.in)), seed++);
    Tensor t = Tensor::from_floats(ctx(), x, c.in);
    CommandStream s(ctx());
    Tensor y = depth_to_space(s, t, c.r);
    Tensor back = space_to_depth(s, y, c.r);
    s.finish();
    EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(x, c.in, c.r), 0, 0)) << shape_string(c.in);
    EXPECT_EQ(back.shape(), c.in);
    EXPECT_TRUE(testing::close_elementwise(back.to_floats(), x, 0, 0)) << shape_string(c.in);
  }
}

TEST_F(GpuTest, PixelShuffleIsTorchs) {
  // torch.pixel_shuffle([1, 4, 1, 1] = 0..3, 2) = [[0, 1], [2, 3]].
  Tensor t = Tensor::from_floats(ctx(), std::vector<float>{0, 1, 2, 3}, {1, 4, 1, 1});
  CommandStream s(ctx());
  Tensor y = pixel_shuffle(s, t, 2);
  Tensor z = pixel_unshuffle(s, y, 2);
  s.finish();
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_floats(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(z.to_floats(), (std::vector<float>{0, 1, 2, 3}));
}

TEST_F(GpuTest, PixelShuffleRefusesBadShapes) {
  CommandStream s(ctx());
  EXPECT_THROW(pixel_shuffle(s, Tensor::empty(ctx(), {1, 3, 2, 2}, DType::F32), 2), DeviceError);
  EXPECT_THROW(pixel_unshuffle(s, Tensor::empty(ctx(), {1, 3, 3, 2}, DType::F32), 2), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
