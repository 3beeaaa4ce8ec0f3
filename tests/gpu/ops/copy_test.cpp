#include "gpu/ops/copy.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/concat.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Plain reference: the elements of the view (shape, strides, offset) of `base`, in row-major order.
std::vector<float> gather(const std::vector<float>& base, const Tensor& view) {
  std::vector<float> out(static_cast<size_t>(view.numel()));
  for (int64_t i = 0; i < view.numel(); ++i) {
    int64_t rest = i, at = view.offset();
    for (int d = view.rank() - 1; d >= 0; --d) {
      at += (rest % view.dim(d)) * view.strides()[static_cast<size_t>(d)];
      rest /= view.dim(d);
    }
    out[static_cast<size_t>(i)] = base[static_cast<size_t>(at)];
  }
  return out;
}

// Copies are exact: every comparison here is bit-for-bit (tolerance 0).
::testing::AssertionResult same_bits(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], 4) != 0 && !(std::isnan(got[i]) && std::isnan(want[i])))
      return ::testing::AssertionFailure() << "at " << i << ": " << got[i] << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

// Host round trip through `dtype`, the rounding the shader must reproduce.
std::vector<float> through(DType dtype, const std::vector<float>& v) {
  std::vector<std::byte> bytes(v.size() * dtype_bytes(dtype));
  encode(dtype, v, bytes.data());
  std::vector<float> out(v.size());
  decode(dtype, bytes.data(), out);
  return out;
}

TEST_F(GpuTest, CopyMaterialisesPermutedAndNarrowedViews) {
  struct Case {
    Shape shape;
    std::vector<int> perm;
  };
  const Case cases[] = {{{7}, {0}},
                        {{3, 5}, {1, 0}},
                        {{2, 3, 5}, {2, 0, 1}},
                        {{1, 17, 33}, {0, 2, 1}},
                        {{2, 3, 4, 5, 6, 7}, {5, 3, 1, 0, 2, 4}},
                        {{2, 2, 3, 2, 3, 2, 2, 3}, {7, 6, 5, 4, 3, 2, 1, 0}}};  // rank 8, nothing merges
  uint32_t seed = 10;
  for (const Case& c : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++);
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      auto xr = through(dt, x);
      Tensor t = Tensor::from_floats(ctx(), xr, c.shape, dt);
      Tensor p = permute(t, c.perm);
      CommandStream s(ctx());
      Tensor y = contiguous(s, p);
      // A narrowed view of the permuted one: odd start and length on the first dim with room.
      Tensor n = p.dim(0) > 2 ? narrow(p, 0, 1, p.dim(0) - 2) : p;
      Tensor z = contiguous(s, n);
      s.finish();
      EXPECT_EQ(y.shape(), p.shape());
      EXPECT_TRUE(y.contiguous() && y.dtype() == dt);
      EXPECT_TRUE(same_bits(y.to_floats(), gather(xr, p))) << shape_string(c.shape) << " " << dtype_name(dt);
      EXPECT_TRUE(same_bits(z.to_floats(), gather(xr, n))) << shape_string(c.shape) << " " << dtype_name(dt);
    }
  }
}

TEST_F(GpuTest, CopyTexelVariantMovesPermutedRowsBitExactly) {
  // Views whose innermost dimension is contiguous with 4-aligned sizes, strides and offsets: the texel variant
  // applies on CPU devices; every variant must move the same bits (NaN payloads and subnormals included).
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "the texel variant is for CPU devices";
  struct Case {
    Shape shape;
    std::vector<int> perm;
  };
  const Case cases[] = {{{2, 6, 3, 8}, {0, 2, 1, 3}},  // [B, L, H, D] -> [B, H, L, D], as the DiT heads
                        {{5, 12}, {0, 1}},
                        {{3, 4, 16}, {1, 0, 2}}};
  uint32_t seed = 40;
  for (const Case& c : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++);
    const uint32_t odd_bits[] = {0x7FC01234u, 0x00000001u, 0x807FFFFFu, 0xFF800000u};  // NaN payload, subnormals, -inf
    for (size_t i = 0; i < 4; ++i) std::memcpy(&x[i * 3], &odd_bits[i], 4);
    Tensor t = Tensor::from_floats(ctx(), x, c.shape);
    Tensor p = permute(t, c.perm);
    Tensor n = narrow(p, 0, 1, p.dim(0) - 1);  // an offset of one outer row: a multiple of 4
    for (const char* v : {"texel", "portable"}) {
      const test::ScopedKernelVariant forced("COPY", v);
      CommandStream s(ctx());
      Tensor y = cast(s, p, DType::F32), z = cast(s, n, DType::F32);
      s.finish();
      for (const auto& [got, want] : {std::pair{y.to_floats(), gather(x, p)}, std::pair{z.to_floats(), gather(x, n)}}) {
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << shape_string(c.shape) << " " << v;
      }
    }
  }
  // Not 4-aligned innermost rows, or a conversion: the texel variant refuses, the automatic choice falls back.
  Tensor odd = Tensor::from_floats(ctx(), testing::random_floats(3 * 6, 50), {3, 6});
  CommandStream s(ctx());
  {
    const test::ScopedKernelVariant forced("COPY", "texel");
    EXPECT_THROW(cast(s, permute(odd, std::vector<int>{1, 0}), DType::F32), DeviceError);
    EXPECT_THROW(cast(s, odd, DType::F16), DeviceError);
  }
  Tensor y = cast(s, permute(odd, std::vector<int>{1, 0}), DType::F32);
  s.finish();
  EXPECT_TRUE(same_bits(y.to_floats(), gather(odd.to_floats(), permute(odd, std::vector<int>{1, 0}))));
}

TEST_F(GpuTest, CopyExpandsBroadcastViews) {
  auto x = testing::random_floats(5, 3);
  Tensor t = Tensor::from_floats(ctx(), x, {5, 1});
  Tensor e = expand(t, {5, 7});
  CommandStream s(ctx());
  Tensor y = contiguous(s, e);
  s.finish();
  EXPECT_TRUE(same_bits(y.to_floats(), gather(x, e)));
}

TEST_F(GpuTest, CastRoundsLikeTheHost) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto x = testing::random_floats(1001, 4, -70000.0f, 70000.0f);  // odd count: a trailing half word
  const float specials[] = {0.0f, -0.0f, inf, -inf, nan, 65504.0f, 65519.0f, 65520.0f, -65520.0f,
                            1e-8f, -3e-6f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 1.0009765625f + 0.00048828125f,
                            1.0f + 0.00048828125f, 1e-40f, 3.4e38f, 1.00390625f, 1.01171875f};
  for (size_t i = 0; i < std::size(specials); ++i) x[i] = specials[i];
  for (size_t i = 100; i < 400; ++i) x[i] *= 1e-4f;  // small values, f16 subnormals
  for (DType from : {DType::F32, DType::F16, DType::BF16}) {
    auto xr = through(from, x);
    Tensor t = Tensor::from_floats(ctx(), xr, {1001}, from);
    for (DType to : {DType::F32, DType::F16, DType::BF16}) {
      CommandStream s(ctx());
      Tensor y = cast(s, t, to);
      s.finish();
      EXPECT_EQ(y.dtype(), to);
      EXPECT_TRUE(same_bits(y.to_floats(), through(to, xr))) << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST_F(GpuTest, ConcatAlongEveryAxis) {
  const Shape base = {3, 5, 7};
  uint32_t seed = 50;
  for (DType dt : {DType::F32, DType::F16}) {  // f16: slices start at odd elements, halves share words
    for (int dim = 0; dim < 3; ++dim) {
      const int64_t extents[] = {1, 2, 3};
      std::vector<Tensor> inputs;
      std::vector<std::vector<float>> values;
      for (int64_t e : extents) {
        Shape s = base;
        s[static_cast<size_t>(dim)] = e;
        values.push_back(through(dt, testing::random_floats(static_cast<size_t>(numel(s)), seed++)));
        inputs.push_back(Tensor::from_floats(ctx(), values.back(), s, dt));
      }
      // One input is a non-contiguous view: concat reads any strides.
      Tensor tr = permute(inputs[1], {2, 1, 0});
      std::vector<float> trv = gather(values[1], tr);
      CommandStream s(ctx());
      Tensor out = concat(s, inputs, dim);
      s.finish();
      Shape want_shape = base;
      want_shape[static_cast<size_t>(dim)] = 6;
      ASSERT_EQ(out.shape(), want_shape);
      auto got = out.to_floats();
      // Reference: index each output element back into its input.
      std::vector<float> want(got.size());
      Shape os = contiguous_strides(want_shape);
      for (int64_t i = 0; i < numel(want_shape); ++i) {
        int64_t c[3] = {i / os[0], (i / os[1]) % want_shape[1], i % want_shape[2]};
        int64_t k = c[dim], which = k < 1 ? 0 : k < 3 ? 1 : 2;
        c[dim] -= which == 0 ? 0 : which == 1 ? 1 : 3;
        Shape in = inputs[static_cast<size_t>(which)].shape();
        want[static_cast<size_t>(i)] = values[static_cast<size_t>(which)][static_cast<size_t>((c[0] * in[1] + c[1]) * in[2] + c[2])];
      }
      EXPECT_TRUE(same_bits(got, want)) << "dim " << dim << " " << dtype_name(dt);
      // Splitting the output gives the inputs back.
      const int64_t sizes[] = {1, 2, 3};
      auto parts = split(out, dim, sizes);
      CommandStream s2(ctx());
      Tensor mid = contiguous(s2, parts[1]);
      s2.finish();
      EXPECT_TRUE(same_bits(mid.to_floats(), values[1])) << "split dim " << dim;
    }
  }
}

TEST_F(GpuTest, CopyRefusesBadRequests) {
  Tensor a = Tensor::empty(ctx(), {3, 4}, DType::F32), b = Tensor::empty(ctx(), {4, 3}, DType::F32);
  Tensor q = Tensor::empty(ctx(), {3, 4}, DType::F8E4M3FN);
  CommandStream s(ctx());
  EXPECT_THROW(copy_into(s, a, b), DeviceError);
  EXPECT_THROW(cast(s, a, DType::F8E4M3FN), DeviceError);
  EXPECT_THROW(contiguous(s, permute(q, {1, 0})), DeviceError);
  EXPECT_THROW(copy_into(s, a, expand(Tensor::empty(ctx(), {3, 1}, DType::F32), {3, 4})), DeviceError);
  EXPECT_THROW(concat(s, {a, b}, 0), DeviceError);
  EXPECT_THROW(permute(a, {0, 0}), DeviceError);
  EXPECT_THROW(narrow(a, 1, 2, 3), DeviceError);
  EXPECT_EQ(s.recorded(), 0u);
}

}  // namespace
}  // namespace lattice::gpu
