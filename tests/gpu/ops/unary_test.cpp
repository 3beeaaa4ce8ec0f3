#include "gpu/ops/unary.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/binary.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

double reference(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::Identity: return x;
    case UnaryOp::GeluErf: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::GeluTanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::Silu: return x / (1.0 + std::exp(-x));
    case UnaryOp::Exp: return std::exp(x);
  }
  return 0;
}

TEST_F(GpuTest, UnaryMatchesReference) {
  const Shape shapes[] = {{1}, {7}, {3, 5}, {257}, {33, 65}, {2, 3, 4, 5}};
  uint32_t seed = 100;
  for (const Shape& shape : shapes) {
    auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, -8.0f, 8.0f);
    x[0] = 0.0f;
    if (x.size() > 2) {
      x[1] = 60.0f;  // large arguments: tanh/exp must not overflow into NaN
      x[2] = -60.0f;
    }
    Tensor t = Tensor::from_floats(ctx(), x, shape);
    for (UnaryOp op : kUnaryOps) {
      CommandStream s(ctx());
      Tensor y = unary(s, op, t);
      s.finish();
      std::vector<float> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = static_cast<float>(reference(op, x[i]));
      EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-5, 1e-6))
          << shape_string(shape) << " op " << static_cast<int>(op);
    }
  }
}

// torch.clamp: NaN stays NaN, everything else (infinities included) is limited to [lo, hi].
float clamp_reference(float x, float lo, float hi) { return std::isnan(x) ? x : std::min(std::max(x, lo), hi); }

TEST_F(GpuTest, UnaryScaledAndBoundedMatchesReference) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const UnaryParams cases[] = {{0.5f, -2.0f, 3.0f}, {-1.7f, -inf, 0.25f}, {3.0f, 1.5f, 1.5f}};
  const Shape shapes[] = {{1}, {7}, {257}, {33, 65}};
  uint32_t seed = 200;
  for (const Shape& shape : shapes) {
    const int64_t n = numel(shape);
    // One element more than the shape, read from offset 1: the op takes any offset of a contiguous tensor.
    const auto x = testing::random_floats(static_cast<size_t>(n + 1), seed++, -6.0f, 6.0f);
    const Tensor whole = Tensor::from_floats(ctx(), x, {n + 1});
    const Tensor t = whole.view(shape, contiguous_strides(shape), 1);
    std::vector<UnaryOp> ops(std::begin(kUnaryOps), std::end(kUnaryOps));
    ops.push_back(UnaryOp::Identity);
    for (UnaryOp op : ops)
      for (const UnaryParams& p : cases) {
        CommandStream s(ctx());
        const Tensor y = unary(s, op, t, p);
        s.finish();
        std::vector<float> want(static_cast<size_t>(n));
        for (size_t i = 0; i < want.size(); ++i)
          want[i] = clamp_reference(static_cast<float>(reference(op, p.scale * x[i + 1])), p.lo, p.hi);
        EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-5, 1e-6))
            << shape_string(shape) << " op " << static_cast<int>(op) << " scale " << p.scale << " [" << p.lo << ", " << p.hi << "]";
      }
  }
}

// The scale is the f32 multiply a binary mul by a one-element tensor does: exp(0.5 · x) is bit for bit exp of the
// product (what sample_latent computed with an uploaded 0.5 before).
TEST_F(GpuTest, UnaryScaleIsTheBinaryMultiplyBitForBit) {
  const auto x = testing::random_floats(333, 11, -30.0f, 20.0f);
  const Tensor t = Tensor::from_floats(ctx(), x, {9, 37});
  CommandStream s(ctx());
  const Tensor half = Tensor::from_floats(ctx(), std::vector<float>{0.5f}, {1});
  const Tensor fused = unary(s, UnaryOp::Exp, t, {.scale = 0.5f}), separate = unary(s, UnaryOp::Exp, mul(s, t, half));
  s.finish();
  EXPECT_EQ(fused.to_floats(), separate.to_floats());
}

TEST_F(GpuTest, ClampIsExactKeepsNaNAndBoundsInfinities) {
  constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto x = testing::random_floats(1001, 7, -50.0f, 50.0f);
  const float planted[] = {nan, inf, -inf, -0.0f, 0.0f, -30.0f, 20.0f, std::nextafter(20.0f, inf),
                           std::nextafter(-30.0f, -inf), std::numeric_limits<float>::max(), -nan};
  for (size_t i = 0; i < std::size(planted); ++i) x[i * 97] = planted[i];  // spread over the workgroups
  const Tensor t = Tensor::from_floats(ctx(), x, {7, 11, 13});
  for (const auto& [lo, hi] : {std::pair{-30.0f, 20.0f}, std::pair{-inf, 0.0f}, std::pair{1.0f, inf}}) {
    CommandStream s(ctx());
    const Tensor y = clamp(s, t, lo, hi);
    s.finish();
    EXPECT_EQ(y.shape(), t.shape());
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = clamp_reference(x[i], lo, hi);
    EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 0.0, 0.0)) << "[" << lo << ", " << hi << "]";
  }
}

TEST_F(GpuTest, UnaryRefusesBoundsThatAreNoInterval) {
  const Tensor t = Tensor::from_floats(ctx(), std::vector<float>{1.0f, 2.0f, 3.0f}, {3});
  CommandStream s(ctx());
  EXPECT_THROW(clamp(s, t, 1.0f, -1.0f), DeviceError);
  EXPECT_THROW(clamp(s, t, std::numeric_limits<float>::quiet_NaN(), 1.0f), DeviceError);
  EXPECT_THROW(unary(s, UnaryOp::Exp, t, {.hi = std::numeric_limits<float>::quiet_NaN()}), DeviceError);
}

TEST_F(GpuTest, UnaryRefusesNonF32) {
  Tensor h = Tensor::empty(ctx(), {4}, DType::F16);
  CommandStream s(ctx());
  EXPECT_THROW(silu(s, h), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
