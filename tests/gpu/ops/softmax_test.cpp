#include "gpu/ops/softmax.h"

#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Softmax of each row of length n, in double, written as the definition (max subtracted for range only).
std::vector<float> reference(const std::vector<float>& x, int64_t n) {
  std::vector<float> y(x.size());
  for (size_t r = 0; r < x.size() / static_cast<size_t>(n); ++r) {
    const float* row = &x[r * static_cast<size_t>(n)];
    double m = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; ++j) m = std::max(m, double(row[j]));
    for (int64_t j = 0; j < n; ++j) sum += std::exp(row[j] - m);
    for (int64_t j = 0; j < n; ++j) y[r * static_cast<size_t>(n) + static_cast<size_t>(j)] = static_cast<float>(std::exp(row[j] - m) / sum);
  }
  return y;
}

TEST_F(GpuTest, SoftmaxMatchesReference) {
  // Odd row lengths and row counts that do not fill the 64-invocation workgroup.
  const Shape shapes[] = {{1}, {7}, {3, 5}, {65, 33}, {2, 3, 257}, {4, 1000}};
  uint32_t seed = 700;
  for (const Shape& shape : shapes) {
    // Large logits: without the max subtraction exp() overflows to inf.
    auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, -20.0f, 100.0f);
    CommandStream s(ctx());
    Tensor y = softmax(s, Tensor::from_floats(ctx(), x, shape));
    s.finish();
    EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(x, shape.back()), 1e-5, 1e-6)) << shape_string(shape);
  }
}

TEST_F(GpuTest, SoftmaxMaskedEntriesAndFullyMaskedRow) {
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> x = {1, ninf, 2, ninf, ninf, ninf, ninf, ninf};
  CommandStream s(ctx());
  Tensor y = softmax(s, Tensor::from_floats(ctx(), x, {2, 4}));
  s.finish();
  double e = std::exp(-1.0);
  std::vector<float> want = {float(e / (1 + e)), 0, float(1 / (1 + e)), 0, 0, 0, 0, 0};
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-6, 1e-7));
}

TEST_F(GpuTest, SoftmaxOffsetViewAndRefusals) {
  auto x = testing::random_floats(12, 9);
  Tensor t = Tensor::from_floats(ctx(), x, {12});
  CommandStream s(ctx());
  Tensor y = softmax(s, t.view({2, 3}, {3, 1}, 6));  // the last 6 values as a [2, 3] view
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(std::vector<float>(x.begin() + 6, x.end()), 3), 1e-5, 1e-6));
  EXPECT_THROW(softmax(s, t.view({3, 2}, {1, 3}, 0)), DeviceError);  // not contiguous
  EXPECT_THROW(softmax(s, Tensor::empty(ctx(), {4}, DType::F16)), DeviceError);
}

// In place over the first n columns of padded rows (row stride past the width, an offset), scaled and masked
// (one key fully masked); the padding columns come out 0 whatever they held, the gaps between rows untouched.
TEST_F(GpuTest, SoftmaxRowsInplaceScaledMaskedPadded) {
  const float ninf = -std::numeric_limits<float>::infinity();
  struct Case { int64_t rows, n, width, ld, offset; bool masked; };
  uint32_t seed = 720;
  for (const Case& c : {Case{5, 13, 16, 20, 8, true}, Case{70, 64, 64, 64, 0, false}, Case{3, 1, 4, 4, 4, true},
                        Case{2, 301, 304, 308, 0, true}}) {
    const int64_t total = c.offset + c.rows * c.ld;
    std::vector<float> x = testing::random_floats(static_cast<size_t>(total), seed++, -20.0f, 30.0f);
    std::vector<float> mask = testing::random_floats(static_cast<size_t>(c.n), seed++, -3.0f, 3.0f);
    if (c.n > 2) mask[1] = ninf;
    const float scale = 0.125f;
    std::vector<float> logits, want = x;
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t j = 0; j < c.n; ++j)
        logits.push_back(scale * x[static_cast<size_t>(c.offset + r * c.ld + j)] + (c.masked ? mask[static_cast<size_t>(j)] : 0.0f));
    const std::vector<float> y = reference(logits, c.n);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t j = 0; j < c.width; ++j)
        want[static_cast<size_t>(c.offset + r * c.ld + j)] = j < c.n ? y[static_cast<size_t>(r * c.n + j)] : 0.0f;
    Tensor t = Tensor::from_floats(ctx(), x, {total});
    CommandStream s(ctx());
    softmax_rows_inplace(s, t.view({c.rows, c.width}, {c.ld, 1}, c.offset), c.n, scale,
                         c.masked ? Tensor::from_floats(ctx(), mask, {c.n}) : Tensor());
    s.finish();
    EXPECT_TRUE(testing::close_elementwise(t.to_floats(), want, 1e-5, 1e-6)) << c.rows << "x" << c.n;
  }
}

TEST_F(GpuTest, SoftmaxRowsInplaceRefusals) {
  Tensor t = Tensor::empty(ctx(), {4, 8}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(softmax_rows_inplace(s, t.view({4, 6}, {8, 1}, 0), 6), DeviceError);  // width no multiple of 4
  EXPECT_THROW(softmax_rows_inplace(s, t.view({2, 8}, {8, 1}, 2), 8), DeviceError);  // offset
  EXPECT_THROW(softmax_rows_inplace(s, t, 9), DeviceError);
  EXPECT_THROW(softmax_rows_inplace(s, t, 8, 1.0f, Tensor::empty(ctx(), {7}, DType::F32)), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
