#include "gpu/ops/reduce.h"

#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Double-precision reference over a contiguous input.
std::vector<float> reference(ReduceOp op, const std::vector<float>& x, const Shape& shape, size_t dim) {
  int64_t outer = 1, inner = 1, n = shape[dim];
  for (size_t i = 0; i < dim; ++i) outer *= shape[i];
  for (size_t i = dim + 1; i < shape.size(); ++i) inner *= shape[i];
  std::vector<float> r(static_cast<size_t>(outer * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      double acc = op == ReduceOp::Max ? -INFINITY : 0.0;
      for (int64_t j = 0; j < n; ++j) {
        double v = x[static_cast<size_t>((o * n + j) * inner + k)];
        if (op == ReduceOp::Max) acc = std::isnan(v) || std::isnan(acc) ? NAN : std::max(acc, v);
        else acc += op == ReduceOp::L1 ? std::fabs(v) : v;
      }
      if (op == ReduceOp::Mean) acc /= static_cast<double>(n);
      r[static_cast<size_t>(o * inner + k)] = static_cast<float>(acc);
    }
  return r;
}

TEST_F(GpuTest, ReduceMatchesReferenceOnEveryAxis) {
  const Shape shapes[] = {{1}, {7}, {3, 5}, {2, 3, 5}, {33, 65}, {2, 1, 9, 4}, {5000, 3}, {1, 3, 7000}};
  uint32_t seed = 300;
  for (const Shape& shape : shapes) {
    auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, -2.0f, 2.0f);
    Tensor t = Tensor::from_floats(ctx(), x, shape);
    for (int dim = 0; dim < static_cast<int>(shape.size()); ++dim)
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::L1})
        for (bool keepdim : {false, true}) {
          CommandStream s(ctx());
          Tensor y = reduce(s, op, t, dim - static_cast<int>(shape.size()), keepdim);  // negative dims
          s.finish();
          Shape want_shape = shape;
          if (keepdim) want_shape[static_cast<size_t>(dim)] = 1;
          else want_shape.erase(want_shape.begin() + dim);
          if (want_shape.empty()) want_shape = {1};
          EXPECT_EQ(y.shape(), want_shape);
          // Compensated f32 sum vs double: relative error ~1e-7 of sum(|x|); max is exact.
          auto want = reference(op, x, shape, static_cast<size_t>(dim));
          double atol = op == ReduceOp::Max ? 0 : 2e-6 * (op != ReduceOp::Mean ? std::sqrt(shape[static_cast<size_t>(dim)]) : 1.0);
          EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, op == ReduceOp::Max ? 0 : 1e-6, atol))
              << shape_string(shape) << " dim " << dim << " op " << static_cast<int>(op);
        }
  }
}

TEST_F(GpuTest, ReduceReadsStridedViewsAndLongAxesAccurately) {
  // A permuted view, and a long axis of values whose running f32 sum would drift.
  const int64_t n = 40000;
  std::vector<float> x(static_cast<size_t>(2 * n));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f + static_cast<float>(i % 7) * 1e-3f;
  Tensor t = Tensor::from_floats(ctx(), x, {n, 2});
  Tensor tt = permute(t, {1, 0});  // [2, n], stride 2 along the axis
  CommandStream s(ctx());
  Tensor y = sum(s, tt, 1);
  s.finish();
  double want[2] = {0, 0};
  for (size_t i = 0; i < x.size(); ++i) want[i % 2] += x[i];
  auto got = y.to_floats();
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(got[static_cast<size_t>(i)], want[i], 1e-6 * want[i]);
}

TEST_F(GpuTest, ReducePropagatesNaNAndInf) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1.0f, nan, 2.0f, /**/ -inf, -1.0f, 3.0f, /**/ inf, 1.0f, 0.0f, /**/ -inf, -inf, -inf};
  Tensor t = Tensor::from_floats(ctx(), x, {4, 3});
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::L1}) {
    CommandStream s(ctx());
    Tensor y = reduce(s, op, t, 1);
    s.finish();
    auto got = y.to_floats();
    auto want = reference(op, x, {4, 3}, 1);
    for (size_t i = 0; i < 4; ++i) {
      if (std::isnan(want[i])) EXPECT_TRUE(std::isnan(got[i])) << i << " op " << static_cast<int>(op);
      else EXPECT_EQ(got[i], want[i]) << i << " op " << static_cast<int>(op);
    }
  }
}

TEST_F(GpuTest, ReduceRefusesBadRequests) {
  CommandStream s(ctx());
  EXPECT_THROW(sum(s, Tensor::empty(ctx(), {3}, DType::F16), 0), DeviceError);
  EXPECT_THROW(sum(s, Tensor::empty(ctx(), {3, 4}, DType::F32), 2), DeviceError);
  EXPECT_THROW(sum(s, Tensor::empty(ctx(), {3, 4}, DType::F32), -3), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
