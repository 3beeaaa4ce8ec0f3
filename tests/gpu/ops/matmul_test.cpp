#include "gpu/ops/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
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
  Shape a_shape;  // [..., K]: leading dims are batch dims
  int64_t n;
};

constexpr DType kWeightTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F8E4M3FN, DType::F8E5M2};

// Every weight type, with and without bias, for each case. The reference sees the weights as the device
// does: rounded to the storage type by the host encoder (gpu/dtype.h).
// `a_type` is how the kernel rounds A before multiplying (f32: not at all).
void check_variant(Context& ctx, std::string_view variant, const std::vector<Case>& cases,
                   std::span<const DType> weight_types = kWeightTypes, DType a_type = DType::F32) {
  uint32_t seed = 500;
  for (const Case& c : cases) {
    int64_t k = c.a_shape.back(), m = numel(c.a_shape) / k;
    for (DType wt : weight_types) {
      auto a = testing::random_floats(static_cast<size_t>(m * k), seed++);
      Tensor ta = Tensor::from_floats(ctx, a, c.a_shape);
      std::vector<std::byte> a_raw(a.size() * dtype_bytes(a_type));
      encode(a_type, a, a_raw.data());
      decode(a_type, a_raw.data(), a);
      auto b = testing::random_floats(static_cast<size_t>(c.n * k), seed++);
      std::vector<std::byte> raw(b.size() * dtype_bytes(wt));
      encode(wt, b, raw.data());
      decode(wt, raw.data(), b);
      Tensor tb = Tensor::from_bytes(ctx, raw, {c.n, k}, wt);
      for (bool with_bias : {false, true}) {
        std::vector<float> bias = with_bias ? testing::random_floats(static_cast<size_t>(c.n), seed++) : std::vector<float>{};
        CommandStream s(ctx);
        Tensor out = matmul(s, ta, tb, with_bias ? Tensor::from_floats(ctx, bias, {c.n}) : Tensor{}, variant);
        s.finish();
        Shape want_shape = c.a_shape;
        want_shape.back() = c.n;
        ASSERT_EQ(out.shape(), want_shape);
        // f32 accumulation over K terms against a double reference.
        EXPECT_TRUE(testing::close_nmse(out.to_floats(), reference(a, b, bias, m, c.n, k), 1e-10))
            << variant << " A " << shape_string(c.a_shape) << " N " << c.n << " " << dtype_name(wt)
            << (with_bias ? " +bias" : "");
      }
    }
  }
}

TEST_F(GpuTest, MatmulPortableMatchesReference) {
  // Odd sizes that divide no tile, a K that is no multiple of 4, and batch dims.
  check_variant(ctx(), "portable", {{{1, 1}, 1}, {{17, 7}, 33}, {{2, 3, 20}, 5}});
}

TEST_F(GpuTest, MatmulTexelMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variant is for CPU devices";
  // K is a whole number of texels for every weight type (16 fp8 per texel); M and N divide no tile (16 x 128,
  // and f32's tall 32 x 64); the last case has batch dims and more than one row and column block of both. Every
  // buffer size is deliberately not a power of two: llvmpipe builds one shader variant per power-of-two-ness
  // of each texel buffer, ~1-3 s each for this kernel, and mixing them made this test 4x slower.
  check_variant(ctx(), "texel", {{{3, 16}, 3}, {{2, 19, 48}, 130}});
}

TEST_F(GpuTest, MatmulCoopmatNvMatchesReference) {
  if (!ctx().device().info().cooperative_matrix_nv_f16)
    GTEST_SKIP() << "device '" << ctx().device().info().name
                 << "' lacks VK_NV_cooperative_matrix with the 16x16x16 f16/f32 shape (coopmat_nv variant)";
  // Whole 16 x 16 x 16 tiles only (the variant's condition); A is rounded to f16 by the kernel.
  const DType f16[] = {DType::F16};
  check_variant(ctx(), "coopmat_nv", {{{16, 32}, 48}, {{2, 16, 64}, 32}}, f16, DType::F16);
}

// Every fp8 code as a weight (NaN codes excluded), so each decode path, subnormals included, meets the host
// decoder exactly: with one-hot rows of A, C holds the decoded weights themselves.
// The epilogue activation computes exactly what the separate unary op computes on the plain product, and
// matmul_into writes only its view (a column range of a wider tensor), leaving the other columns alone.
TEST_F(GpuTest, MatmulEpilogueActivationAndStridedOutput) {
  const int64_t batch = 2, rows = 9, k = 48, n = 130, wide = 200, start = 37;
  const auto a = testing::random_floats(static_cast<size_t>(batch * rows * k), 901, -2.0f, 2.0f);
  const auto b = testing::random_floats(static_cast<size_t>(n * k), 902);
  const auto bias = testing::random_floats(static_cast<size_t>(n), 903);
  const Tensor ta = Tensor::from_floats(ctx(), a, {batch, rows, k});
  const Tensor tb = Tensor::from_floats(ctx(), b, {n, k});
  const Tensor tbias = Tensor::from_floats(ctx(), bias, {n});
  const std::vector<float> sentinel(static_cast<size_t>(batch * rows * wide), 7.5f);
  for (std::string_view variant : {"portable", "texel"}) {
    if (variant == "texel" && !ctx().device().info().is_cpu()) continue;
    for (UnaryOp op : kUnaryOps) {  // every activation the epilogue can fuse
      CommandStream s(ctx());
      const Tensor separate = unary(s, op, matmul(s, ta, tb, tbias, variant));
      const Tensor fused = matmul(s, ta, tb, tbias, variant, op);
      const Tensor dst = Tensor::from_floats(ctx(), sentinel, {batch, rows, wide});
      matmul_into(s, ta, tb, tbias, narrow(dst, -1, start, n), op, variant);
      s.finish();
      const std::vector<float> want = separate.to_floats();
      EXPECT_TRUE(testing::close_elementwise(fused.to_floats(), want, 0.0, 0.0)) << variant << " op " << int(op);
      const std::vector<float> got = dst.to_floats();
      std::vector<float> inside, outside;
      for (int64_t r = 0; r < batch * rows; ++r)
        for (int64_t c = 0; c < wide; ++c)
          (c >= start && c < start + n ? inside : outside).push_back(got[static_cast<size_t>(r * wide + c)]);
      EXPECT_TRUE(testing::close_elementwise(inside, want, 0.0, 0.0)) << variant << " op " << int(op);
      EXPECT_TRUE(testing::close_elementwise(outside, std::vector<float>(outside.size(), 7.5f), 0.0, 0.0)) << variant;
    }
  }
  CommandStream s(ctx());
  const Tensor dst = Tensor::empty(ctx(), {batch, rows, wide}, DType::F32);
  // Rows that are not evenly strided (a view across the batch gap) and a wrong width are refused.
  EXPECT_THROW(matmul_into(s, ta, tb, tbias, narrow(dst, -1, 0, n - 1)), DeviceError);
  EXPECT_THROW(matmul_into(s, ta, tb, tbias, permute(Tensor::empty(ctx(), {rows, batch, n}, DType::F32), {1, 0, 2})),
               DeviceError);
}

// matmul_into a column range of a [B, 1, W] tensor: the rows are the batch's, W apart, whatever the stride
// of the size-1 dimension says (a row-split Linear on one token per batch entry writes such views).
TEST_F(GpuTest, MatmulIntoColumnsAcrossASizeOneDimension) {
  const int64_t batch = 3, k = 20, n = 6, wide = 15, start = 4;
  const auto a = testing::random_floats(static_cast<size_t>(batch * k), 911), b = testing::random_floats(static_cast<size_t>(n * k), 912);
  const Tensor dst = Tensor::from_floats(ctx(), std::vector<float>(static_cast<size_t>(batch * wide), 7.5f), {batch, 1, wide});
  CommandStream s(ctx());
  matmul_into(s, Tensor::from_floats(ctx(), a, {batch, 1, k}), Tensor::from_floats(ctx(), b, {n, k}), {}, narrow(dst, -1, start, n));
  s.finish();
  const std::vector<float> got = dst.to_floats(), want = reference(a, b, {}, batch, n, k);
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t c = 0; c < wide; ++c) {
      const float expected = c >= start && c < start + n ? want[static_cast<size_t>(r * n + c - start)] : 7.5f;
      EXPECT_NEAR(got[static_cast<size_t>(r * wide + c)], expected, 1e-5) << r << " " << c;
    }
}

TEST_F(GpuTest, MatmulDecodesEveryFp8Code) {
  for (DType wt : {DType::F8E4M3FN, DType::F8E5M2}) {
    const int64_t k = 256, m = 5;  // sizes not powers of two: see MatmulTexelMatchesReference
    std::vector<std::byte> codes(k);
    for (int64_t i = 0; i < k; ++i) codes[static_cast<size_t>(i)] = static_cast<std::byte>(i);
    std::vector<float> w(k);
    decode(wt, codes.data(), w);
    for (int64_t i = 0; i < k; ++i)
      if (std::isnan(w[static_cast<size_t>(i)])) codes[static_cast<size_t>(i)] = std::byte{0};  // NaN would poison sums
    decode(wt, codes.data(), w);
    // A row r is one-hot at column (r % 4) * 65; B row j holds the codes rotated by j, so the 65 rows
    // times 4 probes see every code: C[r, j] = B[j, (r % 4) * 65].
    const int64_t n = 65;
    std::vector<std::byte> raw(static_cast<size_t>(n * k));
    std::vector<float> b(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t kk = 0; kk < k; ++kk) {
        size_t src = static_cast<size_t>((kk + j) % k);
        raw[static_cast<size_t>(j * k + kk)] = codes[src];
        b[static_cast<size_t>(j * k + kk)] = w[src];
      }
    std::vector<float> a(static_cast<size_t>(m * k), 0.0f);
    for (int64_t r = 0; r < m; ++r) a[static_cast<size_t>(r * k + (r % 4) * 65)] = 1.0f;
    for (std::string_view variant : {"portable", "texel"}) {
      if (variant == "texel" && !ctx().device().info().is_cpu()) continue;
      CommandStream s(ctx());
      Tensor out = matmul(s, Tensor::from_floats(ctx(), a, {m, k}), Tensor::from_bytes(ctx(), raw, {n, k}, wt), {}, variant);
      s.finish();
      EXPECT_TRUE(testing::close_elementwise(out.to_floats(), reference(a, b, {}, m, n, k), 0.0, 0.0))
          << variant << " " << dtype_name(wt);
    }
  }
}

// The packed layout stated element by element: column block c0 (128 rows, fewer at the end) holds, step by
// step, one 16-byte texel of each of its rows; unpacking restores the input.
TEST(MatmulPack, LayoutAndRoundTrip) {
  const int64_t n = 130, k = 12;  // f32: 3 texels (steps) a row; blocks of 128 and 2 rows
  std::vector<float> b(static_cast<size_t>(n * k));
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i);
  std::vector<float> packed(b.size()), back(b.size());
  pack_matmul_weights(std::as_bytes(std::span(b)), std::as_writable_bytes(std::span(packed)), n, k, DType::F32);
  auto texel_at = [&](int64_t t) { return packed[static_cast<size_t>(t * 4)]; };
  for (int64_t row = 0; row < n; ++row)
    for (int64_t s = 0; s < 3; ++s) {
      const int64_t c0 = row / 128 * 128, width = std::min<int64_t>(128, n - c0);
      ASSERT_EQ(texel_at(c0 * 3 + s * width + (row - c0)), b[static_cast<size_t>(row * k + s * 4)]) << row << " " << s;
    }
  unpack_matmul_weights(std::as_bytes(std::span(packed)), std::as_writable_bytes(std::span(back)), n, k, DType::F32);
  EXPECT_EQ(back, b);
  std::vector<float> odd(static_cast<size_t>(n * 10));  // K = 10 is no whole number of f32 texels
  EXPECT_THROW(pack_matmul_weights(std::as_bytes(std::span(odd)), std::as_writable_bytes(std::span(odd)), n, 10, DType::F32),
               DeviceError);
}

// Packed weights of every type give the texel kernel's plain-layout result bit for bit (the same
// arithmetic in the same order), so also the reference: N in one, two and three column blocks with partial
// last blocks, batch dims, bias, each epilogue activation, and matmul_into a column range. upload_matmul_weights
// packs exactly where matmul_packs_weights says so; a K that is no whole number of texels stays plain.
TEST_F(GpuTest, MatmulPackedWeightsMatchPlainLayout) {
  if (!ctx().device().info().is_cpu()) {
    EXPECT_FALSE(matmul_packs_weights(ctx().device(), DType::F16, 256, 256)) << "GPUs keep the plain layout";
    GTEST_SKIP() << "packed weights are for the texel variant (CPU devices)";
  }
  const std::vector<Case> cases = {{{3, 16}, 3}, {{2, 9, 48}, 130}, {{5, 32}, 300}};
  uint32_t seed = 700;
  for (const Case& c : cases) {
    const int64_t k = c.a_shape.back(), m = numel(c.a_shape) / k;
    const auto a = testing::random_floats(static_cast<size_t>(m * k), seed++);
    const Tensor ta = Tensor::from_floats(ctx(), a, c.a_shape);
    for (DType wt : kWeightTypes) {
      auto b = testing::random_floats(static_cast<size_t>(c.n * k), seed++);
      std::vector<std::byte> raw(b.size() * dtype_bytes(wt));
      encode(wt, b, raw.data());
      decode(wt, raw.data(), b);
      ASSERT_TRUE(matmul_packs_weights(ctx().device(), wt, c.n, k)) << dtype_name(wt);
      const MatmulWeights packed = upload_matmul_weights(ctx(), raw, c.n, k, wt);
      ASSERT_TRUE(packed.packed);
      EXPECT_EQ(packed.to_floats(), b) << "to_floats unpacks";
      const Tensor plain = Tensor::from_bytes(ctx(), raw, {c.n, k}, wt);
      const auto bias = testing::random_floats(static_cast<size_t>(c.n), seed++);
      const Tensor tbias = Tensor::from_floats(ctx(), bias, {c.n});
      const std::string what = shape_string(c.a_shape) + " N " + std::to_string(c.n) + " " + dtype_name(wt);
      std::vector<std::optional<UnaryOp>> ops = {std::nullopt};
      ops.insert(ops.end(), std::begin(kUnaryOps), std::end(kUnaryOps));
      for (std::optional<UnaryOp> op : ops) {
        CommandStream s(ctx());
        const Tensor want = matmul(s, ta, plain, tbias, "texel", op);
        const Tensor got = matmul(s, ta, packed, tbias, {}, op);
        const Tensor no_bias = matmul(s, ta, packed);
        Shape wide_shape = c.a_shape;
        wide_shape.back() = c.n + 7;
        const Tensor wide = Tensor::from_floats(ctx(), std::vector<float>(static_cast<size_t>(m * (c.n + 7)), 7.5f), wide_shape);
        matmul_into(s, ta, packed, tbias, narrow(wide, -1, 5, c.n), op);
        s.finish();
        EXPECT_TRUE(testing::close_elementwise(got.to_floats(), want.to_floats(), 0.0, 0.0)) << what;
        const std::vector<float> all = wide.to_floats();
        std::vector<float> inside;
        for (int64_t r = 0; r < m; ++r)
          inside.insert(inside.end(), all.begin() + r * (c.n + 7) + 5, all.begin() + r * (c.n + 7) + 5 + c.n);
        EXPECT_TRUE(testing::close_elementwise(inside, want.to_floats(), 0.0, 0.0)) << what;
        if (!op) {
          EXPECT_TRUE(testing::close_nmse(got.to_floats(), reference(a, b, bias, m, c.n, k), 1e-10)) << what;
          EXPECT_TRUE(testing::close_nmse(no_bias.to_floats(), reference(a, b, {}, m, c.n, k), 1e-10)) << what;
        }
      }
    }
  }
  // K = 20 is no whole number of f16 texels (8 a texel): the weights stay plain and the portable kernel runs.
  const std::vector<float> b = testing::random_floats(3 * 20, 790), a = testing::random_floats(2 * 20, 791);
  std::vector<std::byte> raw(b.size() * 2);
  encode(DType::F16, b, raw.data());
  std::vector<float> b16(b.size());
  decode(DType::F16, raw.data(), b16);
  EXPECT_FALSE(matmul_packs_weights(ctx().device(), DType::F16, 3, 20));
  const MatmulWeights w = upload_matmul_weights(ctx(), raw, 3, 20, DType::F16);
  EXPECT_FALSE(w.packed);
  CommandStream s(ctx());
  const Tensor out = matmul(s, Tensor::from_floats(ctx(), a, {2, 20}), w);
  s.finish();
  EXPECT_TRUE(testing::close_nmse(out.to_floats(), reference(a, b16, {}, 2, 3, 20), 1e-10));
}

// Packed weights have only the texel kernel, so an A larger than one texel buffer runs in row ranges that fit
// (a device whose texel buffers hold 64 texels = 256 floats: 16 rows of K = 16 at a time), not an error.
TEST_F(GpuTest, MatmulPackedWeightsSplitAnALargerThanATexelBuffer) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "packed weights are for the texel variant (CPU devices)";
  setenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS", "64", 1);
  const auto small = std::make_unique<Context>();
  unsetenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS");
  ASSERT_EQ(small->device().info().max_texel_buffer_elements, 64u);
  const int64_t n = 5, k = 16;
  const std::vector<float> b = testing::random_floats(static_cast<size_t>(n * k), 801);
  const std::vector<float> bias = testing::random_floats(static_cast<size_t>(n), 802);
  const MatmulWeights packed = upload_matmul_weights(*small, std::as_bytes(std::span(b)), n, k, DType::F32);
  ASSERT_TRUE(packed.packed);
  const Tensor tbias = Tensor::from_floats(*small, bias, {n});
  for (const Shape& shape : {Shape{40, k}, Shape{3, 13, k}}) {  // 40 rows: 16 + 16 + 8; 39 rows in 3 ranges
    const int64_t m = numel(shape) / k;
    const std::vector<float> a = testing::random_floats(static_cast<size_t>(m * k), 803);
    // A as a view at offset 2 of a larger buffer: copied in row ranges as well.
    std::vector<float> padded(2, 9.f);
    padded.insert(padded.end(), a.begin(), a.end());
    const Tensor whole = Tensor::from_floats(*small, padded, {static_cast<int64_t>(padded.size())});
    const Tensor ta = whole.view(shape, contiguous_strides(shape), 2);
    CommandStream s(*small);
    const Tensor got = matmul(s, ta, packed, tbias);
    s.finish();
    EXPECT_EQ(got.shape()[0], shape[0]);
    EXPECT_TRUE(testing::close_nmse(got.to_floats(), reference(a, b, bias, m, n, k), 1e-10)) << shape_string(shape);
  }
}

TEST_F(GpuTest, MatmulPackedWeightsRefuseOtherVariants) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "packed weights are for the texel variant (CPU devices)";
  const std::vector<float> b(static_cast<size_t>(5 * 16), 0.5f);
  const MatmulWeights packed = upload_matmul_weights(ctx(), std::as_bytes(std::span(b)), 5, 16, DType::F32);
  ASSERT_TRUE(packed.packed);
  CommandStream s(ctx());
  const Tensor a = Tensor::empty(ctx(), {4, 16}, DType::F32);
  try {
    matmul(s, a, packed, {}, "portable");
    ADD_FAILURE() << "portable read packed weights";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("texel variant only"), std::string::npos) << e.what();
  }
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
