// chunked_attention under a small device buffer limit: q, k and v given as token chunks, heads grouped so
// that each group's keys fit one buffer, against nn.h's attention() on the whole tensors with no limit.
#include "nodes/models/chunked_attention.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
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
  std::vector<float> whole(int64_t lq, bool with_mask, bool with_bias) {
    auto g = test::gpu_with_buffer_limit(0);
    gpu::Context& ctx = g->context();
    gpu::CommandStream s(ctx);
    const Tensor out = attention(s, rows_of(ctx, q, kC, 0, lq), rows_of(ctx, k, kC, 0, kLk), rows_of(ctx, v, kC, 0, kLk),
                                 kHeads, options(ctx, lq, with_mask, with_bias));
    s.finish();
    return out.to_floats();
  }
  gpu::AttentionOptions options(gpu::Context& ctx, int64_t lq, bool with_mask, bool with_bias) {
    gpu::AttentionOptions o;
    o.scale = 0.3f;
    if (with_mask) o.key_mask = Tensor::from_floats(ctx, mask, {1, kLk});
    if (with_bias) o.bias = Tensor::from_floats(ctx, bias, {kHeads, lq, kLk});
    return o;
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
                                       chunks_of(ctx, v, kC, key_cuts), kHeads, options(ctx, 40, with_mask, false));
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
                                     chunks_of(ctx, v, kC, {0, 20, 36}), kHeads, options(ctx, 4, true, true));
  s.finish();
  expect_near(joined(out), whole(4, true, true));
}

TEST_F(ChunkedAttention, KeysOfOneHeadLargerThanABufferAreAClearError) {
  auto g = test::gpu_with_buffer_limit(1000);  // one head's keys need 1,152 bytes
  gpu::Context& ctx = g->context();
  gpu::CommandStream s(ctx);
  const auto keys = chunks_of(ctx, k, kC, {0, 7, 14, 21, 28, 35, 36});
  try {
    chunked_attention(s, chunks_of(ctx, q, kC, {0, 7}), keys, keys, kHeads);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(e.what()).find("one head's keys [1, 36, 8] take 1152 bytes"), std::string::npos) << e.what();
  }
  gpu::AttentionOptions causal;
  causal.causal = true;
  auto big = test::gpu_with_buffer_limit(0);
  gpu::CommandStream bs(big->context());
  const auto two = chunks_of(big->context(), q, kC, {0, 3, 6});
  EXPECT_THROW(chunked_attention(bs, two, two, two, kHeads, causal), Error);
}

}  // namespace
}  // namespace lattice
