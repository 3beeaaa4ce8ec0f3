#include "gpu/ops/batched_matmul.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/dtype.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

/// Element of a row-major tensor of `shape` at the broadcast batch index `bi` (over `batch`) and (r, c).
double at(const std::vector<float>& v, const Shape& shape, const Shape& batch, const Shape& bi, int64_t r, int64_t c) {
  const size_t rank = shape.size(), nb = rank - 2;
  int64_t off = 0, stride = shape[rank - 1] * shape[rank - 2];
  for (size_t i = nb; i-- > 0;) {
    const int64_t d = shape[i], idx = d == 1 ? 0 : bi[i + batch.size() - nb];
    off += idx * stride;
    stride *= d;
  }
  return v[static_cast<size_t>(off + r * shape[rank - 1] + c)];
}

struct Case {
  Shape a, b;
  bool ta, tb;
  DType b_type = DType::F32;
  bool bias = false;
};

TEST_F(GpuTest, BatchedMatmulMatchesReference) {
  const Case cases[] = {
      {{2, 3, 5, 7}, {2, 3, 7, 9}, false, false},
      {{2, 3, 7, 5}, {3, 9, 7}, true, true},    // B broadcast over A's first batch dimension
      {{4, 5, 7}, {7, 9}, false, false},         // a plain matrix B for every batch entry
      {{1, 5, 7}, {3, 9, 7}, false, true},       // A broadcast
      {{2, 6, 16}, {2, 9, 16}, false, true, DType::F16},
      {{3, 33, 17}, {3, 17, 19}, false, false},  // sizes no tile divides
      {{2, 5, 7}, {2, 7, 9}, false, false, DType::F32, true},
      {{2, 3, 16, 5}, {3, 11, 16}, true, true, DType::BF16, true},
      {{2, 6, 32}, {2, 9, 32}, false, true, DType::F8E4M3FN},
      {{3, 6, 32}, {9, 32}, false, true, DType::F8E5M2, true},
  };
  uint32_t seed = 900;
  for (const Case& c : cases) {
    auto av = testing::random_floats(static_cast<size_t>(numel(c.a)), seed++);
    auto bv = testing::random_floats(static_cast<size_t>(numel(c.b)), seed++);
    std::vector<std::byte> braw(bv.size() * dtype_bytes(c.b_type));
    encode(c.b_type, bv, braw.data());
    decode(c.b_type, braw.data(), bv);
    const int64_t n_cols = c.tb ? c.b[c.b.size() - 2] : c.b.back();
    const auto biasv = c.bias ? testing::random_floats(static_cast<size_t>(n_cols), seed++) : std::vector<float>{};
    CommandStream s(ctx());
    const Tensor out = batched_matmul(s, Tensor::from_floats(ctx(), av, c.a), Tensor::from_bytes(ctx(), braw, c.b, c.b_type), c.ta,
                                      c.tb, c.bias ? Tensor::from_floats(ctx(), biasv, {n_cols}) : Tensor{});
    // One matmul per batch entry into its slice of the result, after at most one copy of each operand.
    const int64_t entries = numel(out.shape()) / (out.dim(-1) * out.dim(-2));
    EXPECT_LE(s.recorded(), static_cast<uint32_t>(entries + 2)) << shape_string(c.a) << " x " << shape_string(c.b);
    s.finish();
    const int64_t M = c.ta ? c.a.back() : c.a[c.a.size() - 2], K = c.ta ? c.a[c.a.size() - 2] : c.a.back();
    const int64_t N = c.tb ? c.b[c.b.size() - 2] : c.b.back();
    Shape batch(std::max(c.a.size(), c.b.size()) - 2, 1);
    for (size_t i = 0; i < batch.size(); ++i) {
      const size_t fa = batch.size() - (c.a.size() - 2), fb = batch.size() - (c.b.size() - 2);
      const int64_t da = i >= fa ? c.a[i - fa] : 1, db = i >= fb ? c.b[i - fb] : 1;
      batch[i] = std::max(da, db);
    }
    Shape want = batch;
    want.push_back(M);
    want.push_back(N);
    ASSERT_EQ(out.shape(), want) << out.describe();
    const auto got = out.to_floats();
    Shape bi(batch.size(), 0);
    float max_err = 0;
    for (int64_t n = 0; n < numel(batch); ++n) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double ref = c.bias ? biasv[static_cast<size_t>(j)] : 0.0;
          for (int64_t k = 0; k < K; ++k)
            ref += (c.ta ? at(av, c.a, batch, bi, k, i) : at(av, c.a, batch, bi, i, k)) *
                   (c.tb ? at(bv, c.b, batch, bi, j, k) : at(bv, c.b, batch, bi, k, j));
          max_err = std::max(max_err, static_cast<float>(std::fabs(got[static_cast<size_t>((n * M + i) * N + j)] - ref)));
        }
      for (size_t d = bi.size(); d-- > 0;) {
        if (++bi[d] < batch[d]) break;
        bi[d] = 0;
      }
    }
    EXPECT_LE(max_err, 1e-5f * static_cast<float>(K)) << shape_string(c.a) << " x " << shape_string(c.b);
  }
}

TEST_F(GpuTest, BatchedMatmulRefusesWhatItCannotDo) {
  CommandStream s(ctx());
  auto t = [&](Shape shape, DType d = DType::F32) { return Tensor::empty(ctx(), std::move(shape), d); };
  EXPECT_THROW(batched_matmul(s, t({2, 5, 7}), t({2, 8, 9})), DeviceError);         // K differs
  EXPECT_THROW(batched_matmul(s, t({2, 5, 7}), t({3, 7, 9})), DeviceError);         // batches do not broadcast
  EXPECT_THROW(batched_matmul(s, t({2, 5, 8}), t({2, 8, 9}, DType::F16)), DeviceError);  // f16 B as [K, N]
  EXPECT_THROW(batched_matmul(s, t({5}), t({5, 3})), DeviceError);
  EXPECT_THROW(batched_matmul(s, t({2, 5, 7}), t({2, 7, 9}), false, false, t({8})), DeviceError);     // bias of 8 for N = 9
  EXPECT_THROW(batched_matmul(s, t({2, 5, 7}), t({2, 7, 9}), false, false, t({9}, DType::F16)), DeviceError);  // not f32
}

}  // namespace
}  // namespace lattice::gpu
