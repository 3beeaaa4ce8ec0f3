#include "gpu/ops/attention_merge.h"

#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/attention_reference.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The merge in double, row by row: weights exp(lse - max), zeros where both lse are -inf.
void host_merge(std::vector<float>& o1, std::vector<float>& l1, const std::vector<float>& o2,
                const std::vector<float>& l2, size_t dim) {
  for (size_t r = 0; r < l1.size(); ++r) {
    const double m = std::max(l1[r], l2[r]);
    if (std::isinf(m)) continue;
    const double w1 = std::exp(l1[r] - m), w2 = std::exp(l2[r] - m);
    for (size_t d = 0; d < dim; ++d) o1[r * dim + d] = static_cast<float>((w1 * o1[r * dim + d] + w2 * o2[r * dim + d]) / (w1 + w2));
    l1[r] = static_cast<float>(m + std::log(w1 + w2));
  }
}

TEST_F(GpuTest, AttentionMergeMatchesHostMerge) {
  // 2 x 7 x 3 rows of 20 values; lse from -30 to 30 with -inf on one side, the other, or both.
  const Shape out_shape{2, 7, 3, 20}, lse_shape{2, 7, 3};
  auto o1 = testing::random_floats(840, 1), o2 = testing::random_floats(840, 2);
  auto l1 = testing::random_floats(42, 3, -30.0f, 30.0f), l2 = testing::random_floats(42, 4, -30.0f, 30.0f);
  l1[0] = kNegInf;
  l2[1] = kNegInf;
  l1[2] = l2[2] = kNegInf;
  for (size_t d = 0; d < 20; ++d) o1[2 * 20 + d] = 0.0f;  // a partial with lse -inf is all zeros
  AttentionPartial acc{Tensor::from_floats(ctx(), o1, out_shape), Tensor::from_floats(ctx(), l1, lse_shape)};
  AttentionPartial part{Tensor::from_floats(ctx(), o2, out_shape), Tensor::from_floats(ctx(), l2, lse_shape)};
  CommandStream s(ctx());
  attention_merge(s, acc, part);
  s.finish();
  host_merge(o1, l1, o2, l2, 20);
  EXPECT_TRUE(testing::close_elementwise(acc.out.to_floats(), o1, 1e-6, 1e-6));
  const auto lse = acc.lse.to_floats();
  EXPECT_TRUE(std::isinf(lse[2]) && lse[2] < 0) << lse[2];
  for (size_t r = 0; r < lse.size(); ++r) {
    if (r == 2) continue;
    EXPECT_NEAR(lse[r], l1[r], 1e-5 * std::max(1.0f, std::abs(l1[r]))) << "row " << r;
  }
}

TEST_F(GpuTest, AttentionMergeOfKeyRangesIsTheWholeAttention) {
  // Keys 0..40 in three uneven ranges; batch 1 masks all of the middle range and batch 0 a few keys, so one
  // partial row has lse -inf and must not disturb the others. A per-head bias is sliced the same way.
  const int64_t B = 2, H = 2, Lq = 11, Lk = 40, D = 16;
  const double scale = 0.25;
  auto qd = testing::random_floats(static_cast<size_t>(B * Lq * H * D), 10, -2.0f, 2.0f);
  auto kd = testing::random_floats(static_cast<size_t>(B * Lk * H * D), 11, -2.0f, 2.0f);
  auto vd = testing::random_floats(static_cast<size_t>(B * Lk * H * D), 12, -2.0f, 2.0f);
  auto bias = testing::random_floats(static_cast<size_t>(H * Lq * Lk), 13, -1.0f, 1.0f);
  std::vector<float> mask(static_cast<size_t>(B * Lk), 0.0f);
  for (int64_t j = 0; j < Lk; ++j) {
    if (j % 7 == 3) mask[static_cast<size_t>(j)] = kNegInf;
    if (j >= 9 && j < 25) mask[static_cast<size_t>(Lk + j)] = kNegInf;
  }
  const Shape packed_strides_q{Lq * H * D, D, H * D, 1}, packed_strides_k{Lk * H * D, D, H * D, 1};
  const auto want = test::reference_attention({qd, packed_strides_q}, {kd, packed_strides_k}, {vd, packed_strides_k},
                                              {B, H, Lq, Lk, D, scale, mask, true, bias, true, false});

  const Tensor q = split_heads(Tensor::from_floats(ctx(), qd, {B, Lq, H * D}), H);
  CommandStream s(ctx());
  AttentionPartial acc;
  const int64_t cuts[] = {0, 9, 25, 40};
  for (int r = 0; r < 3; ++r) {
    const int64_t j0 = cuts[r], n = cuts[r + 1] - cuts[r];
    std::vector<float> ks, vs, ms, bs;
    for (int64_t b = 0; b < B; ++b) {
      const auto first = static_cast<size_t>((b * Lk + j0) * H * D), count = static_cast<size_t>(n * H * D);
      ks.insert(ks.end(), kd.begin() + first, kd.begin() + first + count);
      vs.insert(vs.end(), vd.begin() + first, vd.begin() + first + count);
      ms.insert(ms.end(), mask.begin() + b * Lk + j0, mask.begin() + b * Lk + j0 + n);
    }
    for (int64_t hi = 0; hi < H * Lq; ++hi) bs.insert(bs.end(), bias.begin() + hi * Lk + j0, bias.begin() + hi * Lk + j0 + n);
    AttentionOptions opt;
    opt.scale = static_cast<float>(scale);
    opt.key_mask = Tensor::from_floats(ctx(), ms, {B, n});
    opt.bias = Tensor::from_floats(ctx(), bs, {H, Lq, n});
    const Tensor k = split_heads(Tensor::from_floats(ctx(), ks, {B, n, H * D}), H);
    const Tensor v = split_heads(Tensor::from_floats(ctx(), vs, {B, n, H * D}), H);
    AttentionPartial part = attention_partial(s, q, k, v, opt);
    if (r == 0) {
      acc = part;
    } else {
      attention_merge(s, acc, part);
    }
  }
  s.finish();
  EXPECT_TRUE(testing::close_nmse(acc.out.to_floats(), want, 1e-10));
}

TEST_F(GpuTest, AttentionMergeRefusesMismatchedPartials) {
  AttentionPartial a{Tensor::empty(ctx(), {1, 4, 2, 8}, DType::F32), Tensor::empty(ctx(), {1, 4, 2}, DType::F32)};
  AttentionPartial b{Tensor::empty(ctx(), {1, 5, 2, 8}, DType::F32), Tensor::empty(ctx(), {1, 5, 2}, DType::F32)};
  AttentionPartial bad_lse{a.out, Tensor::empty(ctx(), {1, 4, 3}, DType::F32)};
  CommandStream s(ctx());
  EXPECT_THROW(attention_merge(s, a, b), DeviceError);
  EXPECT_THROW(attention_merge(s, a, bad_lse), DeviceError);
  EXPECT_THROW(attention_merge(s, a, AttentionPartial{a.out, Tensor()}), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
