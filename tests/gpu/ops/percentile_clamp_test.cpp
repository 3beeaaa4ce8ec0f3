#include "gpu/ops/percentile_clamp.h"

#include <algorithm>
#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// numpy.quantile(|row|, percentile/100) (method 'linear') by sorting: rank in double, numpy's _lerp in f32.
float quantile_of_magnitudes(const float* row, size_t n, double percentile) {
  std::vector<float> m(row, row + n);
  for (float& v : m) v = std::fabs(v);
  std::sort(m.begin(), m.end());
  const double rank = percentile / 100.0 * static_cast<double>(n - 1);
  const auto below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, n - 1);
  const float t = static_cast<float>(rank - static_cast<double>(below)), a = m[below], b = m[above], d = b - a;
  return t >= 0.5f ? b - d * (1.0f - t) : a + d * t;
}

std::vector<float> reference(const std::vector<float>& x, size_t rows, double percentile, float floor_value) {
  const size_t n = x.size() / rows;
  std::vector<float> y(x.size());
  for (size_t r = 0; r < rows; ++r) {
    const float s = std::max(floor_value, quantile_of_magnitudes(&x[r * n], n, percentile));
    for (size_t i = 0; i < n; ++i) y[r * n + i] = std::clamp(x[r * n + i], -s, s);
  }
  return y;
}

std::vector<float> run(Context& ctx, const std::vector<float>& x, const Shape& shape, double percentile, float floor_value) {
  CommandStream s(ctx);
  Tensor y = percentile_clamp(s, Tensor::from_floats(ctx, x, shape), percentile, floor_value);
  s.finish();
  EXPECT_EQ(y.shape(), shape);
  return y.to_floats();
}

TEST_F(GpuTest, PercentileClampEqualsTheSortedReferenceBitForBit) {
  // Odd row lengths, one element per row, rows longer than the 256 invocations many times over.
  const Shape shapes[] = {{1, 1}, {3}, {1, 7}, {2, 5, 3}, {4, 257}, {2, 16, 4, 5}, {1, 70001}};
  uint32_t seed = 900;
  for (const Shape& shape : shapes) {
    auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, -4.0f, 4.0f);
    // Rows of different scales: each row's own percentile.
    const size_t n = x.size() / static_cast<size_t>(shape[0]);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= static_cast<float>(1 + i / n);
    for (double p : {0.0, 12.5, 50.0, 90.0, 99.5, 100.0})
      for (float floor_value : {0.0f, 1.0f}) {
        const std::vector<float> want = reference(x, static_cast<size_t>(shape[0]), p, floor_value);
        EXPECT_EQ(run(ctx(), x, shape, p, floor_value), want) << shape_string(shape) << " percentile " << p << " floor " << floor_value;
      }
  }
}

TEST_F(GpuTest, PercentileClampHandlesTiesAndSignedZeros) {
  // Few distinct magnitudes (many elements tie at every order statistic), both signs, zeros of both signs:
  // the value above the rank is the tied one or the next larger distinct one.
  std::vector<float> x(2 * 999);
  for (size_t i = 0; i < x.size(); ++i) {
    const float m = static_cast<float>((i * 7) % 5) * 0.75f;
    x[i] = (i % 3 == 0) ? -m : m;
  }
  x[5] = -0.0f;
  for (double p : {0.0, 10.0, 33.3, 50.0, 60.1, 79.9, 80.0, 95.0, 100.0}) {
    const std::vector<float> want = reference(x, 2, p, 0.0f);
    EXPECT_EQ(run(ctx(), x, {2, 999}, p, 0.0f), want) << "percentile " << p;
  }
  // Two values: the rank falls between them, the quantile is interpolated.
  const std::vector<float> two = {-1.0f, 3.0f};
  const std::vector<float> got = run(ctx(), two, {1, 2}, 25.0, 0.0f);
  EXPECT_EQ(got, (std::vector<float>{-1.0f, 1.5f}));  // q = 1 + 0.25*(3-1)
}

TEST_F(GpuTest, PercentileClampRefusesBadArguments) {
  CommandStream s(ctx());
  const Tensor x = Tensor::from_floats(ctx(), std::vector<float>(6, 1.0f), {2, 3});
  EXPECT_THROW(percentile_clamp(s, x, 100.5), DeviceError);
  EXPECT_THROW(percentile_clamp(s, x, -1.0), DeviceError);
  EXPECT_THROW(percentile_clamp(s, x, NAN), DeviceError);
  EXPECT_THROW(percentile_clamp(s, x.view({3, 2}, {1, 3}, 0), 50.0), DeviceError);  // not contiguous
}

}  // namespace
}  // namespace lattice::gpu
