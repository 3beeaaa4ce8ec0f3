#include "gpu/ops/upsample.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// out[n, c, i..] = x[n, c, i / f..], over contiguous x.
std::vector<float> reference(const std::vector<float>& x, const Shape& shape, const std::vector<int64_t>& f) {
  Shape out = shape;
  for (size_t i = 0; i < f.size(); ++i) out[i + 2] *= f[i];
  Shape xs = contiguous_strides(shape);
  std::vector<float> r(static_cast<size_t>(numel(out)));
  for (int64_t o = 0; o < numel(out); ++o) {
    int64_t rest = o, at = 0;
    for (size_t d = out.size(); d-- > 0;) {
      int64_t c = rest % out[d];
      rest /= out[d];
      at += (d >= 2 ? c / f[d - 2] : c) * xs[d];
    }
    r[static_cast<size_t>(o)] = x[static_cast<size_t>(at)];
  }
  return r;
}

TEST_F(GpuTest, UpsampleNearestMatchesIndexFormula) {
  struct Case {
    Shape shape;
    std::vector<int64_t> f;
  };
  const Case cases[] = {{{1, 1, 1, 1}, {2, 2}},       {{2, 3, 5, 7}, {2, 2}},  {{1, 4, 3, 9}, {3, 1}},
                        {{2, 3, 2, 3, 5}, {2, 2, 2}}, {{1, 2, 3, 4, 5}, {1, 2, 3}}, {{3, 2, 7}, {4}}};
  uint32_t seed = 600;
  for (const Case& c : cases)
    for (DType dt : {DType::F32, DType::BF16}) {
      auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++);
      Tensor t = Tensor::from_floats(ctx(), x, c.shape, dt);
      auto xr = t.to_floats();
      CommandStream s(ctx());
      Tensor y = upsample_nearest(s, t, c.f);
      s.finish();
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(xr, c.shape, c.f), 0, 0)) << shape_string(c.shape);
    }
}

TEST_F(GpuTest, UpsampleNearestReadsStridedViews) {
  auto x = testing::random_floats(2 * 3 * 4, 3);
  Tensor t = Tensor::from_floats(ctx(), x, {1, 2, 4, 3});
  Tensor tt = permute(t, {0, 1, 3, 2});  // [1, 2, 3, 4]
  CommandStream s(ctx());
  Tensor y = upsample_nearest(s, tt, {2, 2});
  Tensor ref = contiguous(s, tt);
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(ref.to_floats(), {1, 2, 3, 4}, {2, 2}), 0, 0));
}

TEST_F(GpuTest, UpsampleNearestRefusesBadRequests) {
  CommandStream s(ctx());
  EXPECT_THROW(upsample_nearest(s, Tensor::empty(ctx(), {2, 3}, DType::F32), {2}), DeviceError);
  EXPECT_THROW(upsample_nearest(s, Tensor::empty(ctx(), {1, 2, 3, 4}, DType::F32), {2}), DeviceError);
  EXPECT_THROW(upsample_nearest(s, Tensor::empty(ctx(), {1, 2, 3, 4}, DType::F32), {0, 2}), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
