#include "gpu/ops/matmul.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Plain triple loop in double: C[m, n] = sum_k A[m, k] * B[n, k] + bias[n].
std::vector<float> reference(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& bias,
                             int64_t m, int64_t n, int64_t k) {
  std::vector<float> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias.empty() ? 0.0 : bias[static_cast<size_t>(j)];
      for (int64_t kk = 0; kk < k; ++kk) s += double(a[static_cast<size_t>(i * k + kk)]) * b[static_cast<size_t>(j * k + kk)];
      c[static_cast<size_t>(i * n + j)] = static_cast<float>(s);
    }
  return c;
}

struct Case {
  int64_t m, n, k;
};

void check_variant(Context& ctx, std::string_view variant, const std::vector<Case>& cases) {
  uint32_t seed = 500;
  for (const Case& c : cases) {
    for (DType wt : {DType::F32, DType::F16, DType::BF16}) {
      for (bool with_bias : {false, true}) {
        auto a = testing::random_floats(static_cast<size_t>(c.m * c.k), seed++);
        auto b = testing::random_floats(static_cast<size_t>(c.n * c.k), seed++);
        // The reference sees the weights as the device does: rounded to the storage type.
        std::vector<std::byte> raw(b.size() * dtype_bytes(wt));
        encode(wt, b, raw.data());
        decode(wt, raw.data(), b);
        std::vector<float> bias = with_bias ? testing::random_floats(static_cast<size_t>(c.n), seed++) : std::vector<float>{};
        Tensor ta = Tensor::from_floats(ctx, a, {c.m, c.k});
        Tensor tb = Tensor::from_bytes(ctx, raw, {c.n, c.k}, wt);
        Tensor tbias = with_bias ? Tensor::from_floats(ctx, bias, {c.n}) : Tensor{};
        CommandStream s(ctx);
        Tensor out = matmul(s, ta, tb, tbias, variant);
        s.finish();
        ASSERT_EQ(out.shape(), (Shape{c.m, c.n}));
        // f32 accumulation over K terms against a double reference.
        EXPECT_TRUE(testing::close_nmse(out.to_floats(), reference(a, b, bias, c.m, c.n, c.k), 1e-10))
            << variant << " " << c.m << "x" << c.n << "x" << c.k << " " << dtype_name(wt) << (with_bias ? " +bias" : "");
      }
    }
  }
}

TEST_F(GpuTest, MatmulPortableMatchesReference) {
  check_variant(ctx(), "portable", {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 48, 128}, {37, 70, 100}});
}

TEST_F(GpuTest, MatmulTexelMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variant is for CPU devices";
  check_variant(ctx(), "texel", {{1, 1, 4}, {3, 5, 8}, {17, 33, 64}, {64, 48, 128}, {37, 70, 100}});
}

TEST_F(GpuTest, MatmulBatchedLeadingDims) {
  auto a = testing::random_floats(2 * 3 * 8, 9), b = testing::random_floats(5 * 8, 10);
  CommandStream s(ctx());
  Tensor out = matmul(s, Tensor::from_floats(ctx(), a, {2, 3, 8}), Tensor::from_floats(ctx(), b, {5, 8}));
  s.finish();
  EXPECT_EQ(out.shape(), (Shape{2, 3, 5}));
  EXPECT_TRUE(testing::close_nmse(out.to_floats(), reference(a, b, {}, 6, 5, 8), 1e-10));
}

TEST_F(GpuTest, MatmulRefusesMismatchAndForcedInapplicableVariant) {
  Tensor a = Tensor::empty(ctx(), {4, 6}, DType::F32), b = Tensor::empty(ctx(), {3, 5}, DType::F32);
  Tensor b6 = Tensor::empty(ctx(), {3, 6}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(matmul(s, a, b), DeviceError);
  EXPECT_THROW(matmul(s, a, b6, {}, "texel"), DeviceError);  // K = 6 is not a multiple of 4
  EXPECT_THROW(matmul(s, a, b6, {}, "no-such-variant"), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
