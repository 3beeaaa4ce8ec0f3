// chunked_attention under a small device buffer limit: q, k and v given as token chunks, heads grouped so
// that each group's keys fit one buffer, or keys split into ranges when one head's do not, against nn.h's
// attention() on the whole tensors with no limit and against the plain C++ definition.
#include "nodes/models/chunked_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "tests/support/attention_reference.h"
#include "tests/support/gpu_limits.h"
#include "nodes/models/nn.h"

namespace lattice {
namespace {

using gpu::Tensor;

std::vector<float> random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01;
  std::vector<float> v(n);
  for (auto& x : v) x = n01(rng);
  return v;
}

// Rows [begin, end) of a host [1, L, C] as a device tensor.
Tensor rows_of(gpu::Context& ctx, const std::vector<float>& all, int64_t c, int64_t begin, int64_t end) {
  return Tensor::from_floats(ctx, {all.data() + begin * c, static_cast<size_t>((end - begin) * c)}, {1, end - begin, c});
}

std::vector<Tensor> chunks_of(gpu::Context& ctx, const std::vector<float>& all, int64_t c, const std::vector<int64_t>& cuts) {
  std::vector<Tensor> out;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) out.push_back(rows_of(ctx, all, c, cuts[i], cuts[i + 1]));
  return out;
}

constexpr int64_t kHeads = 4, kDim = 8, kC = kHeads * kDim, kLk = 36;

std::vector<float> joined(const std::vector<Tensor>& chunks) {
  std::vector<float> all;
  for (const auto& t : chunks) {
    const auto part = t.to_floats();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

class ChunkedAttention : public ::testing::Test {
 protected:
  std::vector<float> q = random(40 * kC, 1), k = random(kLk * kC, 2), v = random(kLk * kC, 3);
  std::vector<float> mask = random(kLk, 4), bias = random(kHeads * 4 * kLk, 5);

  /// One attention call over the first `lq` queries and every key, on a device without a small limit.
  std::vector<float> whole(int64_t lq, bool with_mask, bool with_bias, bool causal = false) {
    auto g = test::gpu_with_buffer_limit(0);
    gpu::Context& ctx = g->context();
    gpu::CommandStream s(ctx);
    const Tensor out = attention(s, rows_of(ctx, q, kC, 0, lq), rows_of(ctx, k, kC, 0, kLk), rows_of(ctx, v, kC, 0, kLk),
                                 kHeads, options(ctx, lq, with_mask, with_bias ? kHeads : 0, causal));
    s.finish();
    return out.to_floats();
  }
  /// bias_heads: 0 none, 1 one bias for every head, kHeads one per head (the first rows of `bias`).
  gpu::AttentionOptions options(gpu::Context& ctx, int64_t lq, bool with_mask, int64_t bias_heads, bool causal = false) {
    gpu::AttentionOptions o;
    o.scale = 0.3f;
    o.causal = causal;
    if (with_mask) o.key_mask = Tensor::from_floats(ctx, mask, {1, kLk});
    if (bias_heads)
      o.bias = Tensor::from_floats(ctx, {bias.data(), static_cast<size_t>(bias_heads * lq * kLk)}, {bias_heads, lq, kLk});
    return o;
  }
  /// The definition in double over the first `lq` queries, as [1, lq, H*D].
  std::vector<float> definition(int64_t lq, bool with_mask, int64_t bias_heads, bool causal = false) {
    const std::vector<int64_t> qs{lq * kC, kDim, kC, 1}, ks{kLk * kC, kDim, kC, 1};
    test::AttentionProblem p{1, kHeads, lq, kLk, kDim, 0.3};
    if (with_mask) p.mask = mask;
    if (bias_heads) p.bias.assign(bias.begin(), bias.begin() + bias_heads * lq * kLk);
    p.bias_per_head = bias_heads > 1;
    p.causal = causal;
    return test::reference_attention({q, qs}, {k, ks}, {v, ks}, p);
  }
  static void expect_near(const std::vector<float>& got, const std::vector<float>& expected) {
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-5f) << "element " << i;
  }
};

TEST_F(ChunkedAttention, OneHeadPerGroupAndQueryChunksGiveTheWholeResult) {
  // 1,200 bytes per buffer: one head's keys [1, 36, 8] take 1,152, so each head is its own group, and a
  // chunk holds at most 9 rows of 32 channels: q, k and v (40, 36, 36 rows) exist only as chunks.
  auto g = test::gpu_with_buffer_limit(1200);
  gpu::Context& ctx = g->context();
  for (bool with_mask : {false, true}) {
    gpu::CommandStream s(ctx);
    const std::vector<int64_t> key_cuts = {0, 5, 14, 23, 32, 36};
    const auto out = chunked_attention(s, chunks_of(ctx, q, kC, {0, 9, 18, 27, 36, 40}), chunks_of(ctx, k, kC, key_cuts),
                                       chunks_of(ctx, v, kC, key_cuts), kHeads, options(ctx, 40, with_mask, 0));
    s.finish();
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(out[4].shape(), (gpu::Shape{1, 4, kC}));
    expect_near(joined(out), whole(40, with_mask, false));
  }
}

TEST_F(ChunkedAttention, PerHeadBiasIsSlicedByQueryChunkAndHeadGroup) {
  // 3,000 bytes: two heads' keys (2,304) fit, so two groups of two; the bias [4, 4, 36] (2,304) fits too.
  auto g = test::gpu_with_buffer_limit(3000);
  gpu::Context& ctx = g->context();
  gpu::CommandStream s(ctx);
  const auto out = chunked_attention(s, chunks_of(ctx, q, kC, {0, 1, 4}), chunks_of(ctx, k, kC, {0, 20, 36}),
                                     chunks_of(ctx, v, kC, {0, 20, 36}), kHeads, options(ctx, 4, true, kHeads));
  s.finish();
  expect_near(joined(out), whole(4, true, true));
}

TEST_F(ChunkedAttention, KeysOfOneHeadLargerThanABufferAreSplitAndMerged) {
  // One head's keys [1, 36, 8] take 1,152 bytes. At 500 bytes each head attends to key ranges of 15, 15 and 6
  // rows (gathered across the 3-row k/v chunks) and merges the partial results, at 1,100 to ranges of 34 and 2;
  // q comes in chunks of 3 rows. Keys 15..29 masked with -inf leave the middle range of 500 all -inf.
  for (int64_t limit : {500, 1100}) {
    auto g = test::gpu_with_buffer_limit(static_cast<uint64_t>(limit));
    gpu::Context& ctx = g->context();
    for (float& m : mask) m = 0.0f;
    for (size_t j = 15; j < 30; ++j) mask[j] = -INFINITY;
    gpu::CommandStream s(ctx);
    const std::vector<int64_t> key_cuts = {0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36};
    const auto out = chunked_attention(s, chunks_of(ctx, q, kC, {0, 3, 6, 9, 12, 13}), chunks_of(ctx, k, kC, key_cuts),
                                       chunks_of(ctx, v, kC, key_cuts), kHeads, options(ctx, 13, true, 0));
    s.finish();
    ASSERT_EQ(out.size(), 5u);
    expect_near(joined(out), whole(13, true, false));
    expect_near(joined(out), definition(13, true, 0));
  }
}

TEST_F(ChunkedAttention, BiasIsSlicedByKeyRangeWhenKeysAreSplit) {
  // 1,100 bytes: key ranges of 34 and 2 rows; a bias shared by all heads [1, 7, 36] (1,008 bytes) and a mask.
  auto g = test::gpu_with_buffer_limit(1100);
  gpu::Context& ctx = g->context();
  gpu::CommandStream s(ctx);
  const std::vector<int64_t> key_cuts = {0, 8, 16, 24, 32, 36};
  const auto out = chunked_attention(s, chunks_of(ctx, q, kC, {0, 3, 6, 7}), chunks_of(ctx, k, kC, key_cuts),
                                     chunks_of(ctx, v, kC, key_cuts), kHeads, options(ctx, 7, true, 1));
  s.finish();
  expect_near(joined(out), definition(7, true, 1));
}

TEST_F(ChunkedAttention, CausalOverQueryChunksAndKeyRanges) {
  // Top-left causal over the whole sequences: each q chunk (rows from `row`) against each key range (keys from
  // j0) is offset by row - j0. At 1,200 bytes heads are single groups, the keys one range, and q comes in
  // chunks of 9 rows; at 500 q comes in chunks of 3 and the keys in ranges of 15, 15 and 6, so chunks [0, 3) ..
  // [12, 15) never see the second range (skipped), [15, 18) sees part of it, and rows 30.. see all three.
  // 40 queries against 36 keys leave the last rows seeing every key.
  for (int64_t limit : {1200, 500}) {
    auto g = test::gpu_with_buffer_limit(static_cast<uint64_t>(limit));
    gpu::Context& ctx = g->context();
    std::vector<int64_t> q_cuts;
    for (int64_t r = 0; r < 40; r += limit == 500 ? 3 : 9) q_cuts.push_back(r);
    q_cuts.push_back(40);
    for (bool with_mask : {false, true}) {
      gpu::CommandStream s(ctx);
      const std::vector<int64_t> key_cuts = {0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36};
      const auto out = chunked_attention(s, chunks_of(ctx, q, kC, q_cuts), chunks_of(ctx, k, kC, key_cuts),
                                         chunks_of(ctx, v, kC, key_cuts), kHeads, options(ctx, 40, with_mask, 0, true));
      s.finish();
      ASSERT_EQ(out.size(), q_cuts.size() - 1);
      const auto got = joined(out);
      expect_near(got, whole(40, with_mask, false, true));
      expect_near(got, definition(40, with_mask, 0, true));
    }
  }
}

TEST_F(ChunkedAttention, CausalWithAnOffsetBiasAndMaskWhenKeysAreSplit) {
  // 1,100 bytes: key ranges of 34 and 2 rows; a bias shared by the heads [1, 7, 36] (1,008 bytes) sliced by chunk
  // and range, and a mask. Offset 30:
  // query i sees keys j <= i + 30, so rows 0..3 never reach the second range and rows 4..6 do.
  auto g = test::gpu_with_buffer_limit(1100);
  gpu::Context& ctx = g->context();
  gpu::CommandStream s(ctx);
  gpu::AttentionOptions o = options(ctx, 7, true, 1, true);
  o.causal_offset = 30;
  const std::vector<int64_t> key_cuts = {0, 8, 16, 24, 32, 36};
  const auto out = chunked_attention(s, chunks_of(ctx, q, kC, {0, 3, 6, 7}), chunks_of(ctx, k, kC, key_cuts),
                                     chunks_of(ctx, v, kC, key_cuts), kHeads, o);
  s.finish();
  const std::vector<int64_t> qs{7 * kC, kDim, kC, 1}, ks{kLk * kC, kDim, kC, 1};
  test::AttentionProblem p{1, kHeads, 7, kLk, kDim, 0.3};
  p.mask = mask;
  p.bias.assign(bias.begin(), bias.begin() + 7 * kLk);
  p.bias_per_head = false;
  p.causal = true;
  p.causal_offset = 30;
  expect_near(joined(out), test::reference_attention({q, qs}, {k, ks}, {v, ks}, p));
}

TEST(SplitRows, BatchOneChunksAreViewsAndLargerBatchesAreCopied) {
  // A row range of a [1, L, C] tensor is contiguous (Tensor::contiguous ignores the size-1 batch stride), so
  // split_rows returns views of it; with B = 2 each chunk's rows are 2 runs apart and are copied.
  auto g = test::gpu_with_buffer_limit(0);
  gpu::Context& ctx = g->context();
  for (int64_t batch : {1, 2}) {
    const std::vector<float> all = random(static_cast<size_t>(batch * 10 * 3), 7);
    const Tensor x = Tensor::from_floats(ctx, all, {batch, 10, 3});
    gpu::CommandStream s(ctx);
    const std::vector<Tensor> parts = split_rows(s, x, 4);
    s.finish();
    ASSERT_EQ(parts.size(), 3u);
    for (size_t i = 0; i < parts.size(); ++i) {
      const int64_t r0 = static_cast<int64_t>(i) * 4, n = std::min<int64_t>(4, 10 - r0);
      EXPECT_TRUE(parts[i].contiguous());
      EXPECT_EQ(parts[i].buffer() == x.buffer(), batch == 1) << "batch " << batch << " chunk " << i;
      std::vector<float> want;
      for (int64_t b = 0; b < batch; ++b)
        want.insert(want.end(), all.begin() + (b * 10 + r0) * 3, all.begin() + (b * 10 + r0 + n) * 3);
      EXPECT_EQ(parts[i].to_floats(), want) << "batch " << batch << " chunk " << i;
    }
  }
}

}  // namespace
}  // namespace lattice
