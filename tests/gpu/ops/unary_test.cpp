#include "gpu/ops/unary.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

double reference(UnaryOp op, double x) {
  switch (op) {
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

TEST_F(GpuTest, UnaryRefusesNonF32) {
  Tensor h = Tensor::empty(ctx(), {4}, DType::F16);
  CommandStream s(ctx());
  EXPECT_THROW(silu(s, h), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
