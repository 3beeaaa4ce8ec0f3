#include "gpu/ops/attention.h"

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/profile.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/attention_reference.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

using test::HostView;

// The reference with this file's argument order.
std::vector<float> reference(const HostView& q, const HostView& k, const HostView& v, int64_t batch, int64_t heads,
                             int64_t lq, int64_t lk, int64_t dim, double scale, const std::vector<float>& mask,
                             bool mask_per_batch, const std::vector<float>& bias, bool bias_per_head, bool causal,
                             std::vector<float>* lse = nullptr, int64_t causal_offset = 0) {
  return test::reference_attention(
      q, k, v, {batch, heads, lq, lk, dim, scale, mask, mask_per_batch, bias, bias_per_head, causal, causal_offset},
      lse);
}

enum class Layout { Bhld, Split, PackedQkv };  // [B,H,L,D]; split_heads of [B,L,H*D]; one [B,L,3*H*D]

struct Case {
  int64_t batch, heads, lq, lk, dim;
  Layout layout = Layout::Split;
  float mask_value = 0;  // 0: no mask; else the additive value on masked keys
  bool bias = false;
  bool causal = false;
  std::optional<float> scale;
  int64_t causal_offset = 0;
};

// Makes Q, K, V in `layout` and their host twins.
struct Operands {
  Tensor q, k, v;
  HostView hq, hk, hv;
};

Operands make_operands(Context& ctx, const Case& c, uint32_t seed) {
  const int64_t b = c.batch, h = c.heads, d = c.dim, hd = h * d;
  Operands o;
  auto make = [&](int64_t l, uint32_t s, Tensor& t, HostView& hv) {
    hv.data = testing::random_floats(static_cast<size_t>(b * l * hd), s, -2.0f, 2.0f);
    if (c.layout == Layout::Bhld) {
      t = Tensor::from_floats(ctx, hv.data, {b, h, l, d});
      hv.strides = contiguous_strides({b, h, l, d});
    } else {
      t = split_heads(Tensor::from_floats(ctx, hv.data, {b, l, hd}), h);
      hv.strides = t.strides();
    }
  };
  if (c.layout == Layout::PackedQkv) {
    // One fused projection output: token t holds [q | k | v], each H*D wide.
    auto qkv = testing::random_floats(static_cast<size_t>(b * c.lq * 3 * hd), seed, -2.0f, 2.0f);
    Tensor t = Tensor::from_floats(ctx, qkv, {b, c.lq, 3 * hd});
    Shape strides = {c.lq * 3 * hd, d, 3 * hd, 1};
    o.q = t.view({b, h, c.lq, d}, strides, 0);
    o.k = t.view({b, h, c.lq, d}, strides, hd);
    o.v = t.view({b, h, c.lq, d}, strides, 2 * hd);
    o.hq = {qkv, strides, 0};
    o.hk = {qkv, strides, hd};
    o.hv = {qkv, strides, 2 * hd};
    return o;
  }
  make(c.lq, seed, o.q, o.hq);
  make(c.lk, seed + 1, o.k, o.hk);
  make(c.lk, seed + 2, o.v, o.hv);
  return o;
}

void check_cases(Context& ctx, std::string_view variant, const std::vector<Case>& cases) {
  uint32_t seed = 1200;
  for (const Case& c : cases) {
    seed += 10;
    Operands o = make_operands(ctx, c, seed);
    AttentionOptions opt;
    opt.variant = variant;
    opt.scale = c.scale;
    opt.causal = c.causal;
    opt.causal_offset = c.causal_offset;
    std::vector<float> mask, bias;
    if (c.mask_value != 0) {
      // Keep-mask 1/0 turned additive; batch 0 keeps its first 60 % of keys, others random.
      auto r = testing::random_floats(static_cast<size_t>(c.batch * c.lk), seed + 5, 0.0f, 1.0f);
      mask.resize(r.size());
      for (size_t i = 0; i < r.size(); ++i) {
        bool keep = i < static_cast<size_t>(c.lk) ? i < static_cast<size_t>(c.lk * 6 / 10 + 1) : r[i] < 0.7f;
        mask[i] = keep ? 0.0f : c.mask_value;
      }
      opt.key_mask = Tensor::from_floats(ctx, mask, {c.batch, c.lk});
    }
    if (c.bias) {
      bias = testing::random_floats(static_cast<size_t>(c.heads * c.lq * c.lk), seed + 6, -3.0f, 3.0f);
      opt.bias = Tensor::from_floats(ctx, bias, {1, c.heads, c.lq, c.lk});
    }
    CommandStream s(ctx);
    Tensor out = attention(s, o.q, o.k, o.v, opt);
    s.finish();
    ASSERT_EQ(out.shape(), (Shape{c.batch, c.lq, c.heads, c.dim}));
    double scale = c.scale ? double(*c.scale) : 1.0 / std::sqrt(double(c.dim));
    auto want = reference(o.hq, o.hk, o.hv, c.batch, c.heads, c.lq, c.lk, c.dim, scale, mask, true, bias, true, c.causal,
                          nullptr, c.causal_offset);
    EXPECT_TRUE(testing::close_nmse(out.to_floats(), want, 1e-10))
        << variant << " B" << c.batch << " H" << c.heads << " Lq" << c.lq << " Lk" << c.lk << " D" << c.dim
        << " layout " << static_cast<int>(c.layout) << " mask " << c.mask_value << " bias " << c.bias << " causal "
        << c.causal << " offset " << c.causal_offset;
  }
}

// Key lengths straddle the 16-key block and query counts the 64-invocation workgroup.
const std::vector<Case> kCases = {
    {1, 1, 1, 1, 4, Layout::Bhld},
    {2, 3, 17, 17, 16, Layout::Split},                           // FLUX head dim
    {1, 2, 19, 19, 16, Layout::PackedQkv},                       // fused QKV projection
    {1, 2, 19, 33, 64, Layout::Split, -10000.0f},                // LTX cross-attention text padding
    {2, 2, 23, 40, 64, Layout::Bhld, -FLT_MAX, true, false, 1.0f},  // T5: bias, -FLT_MAX mask, no scaling
    {1, 4, 77, 77, 8, Layout::Split, 0, false, true},            // CLIP causal
    {1, 2, 70, 70, 128, Layout::Split},                          // FLUX/Wan head dim
    {1, 2, 9, 100, 256, Layout::Bhld},                           // largest head dim
    {1, 2, 65, 1, 32, Layout::Split},                            // a single key
};

// Split in two because llvmpipe takes seconds to compile the portable kernel for D >= 64 (per-lane
// storage loads expand a lot), and each test should stay well under 10 s.
TEST_F(GpuTest, AttentionPortableMatchesReference) {
  std::vector<Case> cases = {kCases[0], kCases[1], kCases[2], kCases[5]};
  cases.push_back({1, 1, 5, 21, 256, Layout::Bhld});
  cases.push_back({2, 3, 11, 29, 7, Layout::Split, -10000.0f});  // head dims the texel variant cannot take
  cases.push_back({1, 2, 5, 18, 13, Layout::Bhld, 0, true});
  check_cases(ctx(), "portable", cases);
}

TEST_F(GpuTest, AttentionPortableLargeHeadsMatchesReference) {
  check_cases(ctx(), "portable", {kCases[4], {1, 1, 20, 37, 128, Layout::Split, -10000.0f}});
}

TEST_F(GpuTest, AttentionTexelMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variant is for CPU devices";
  check_cases(ctx(), "texel", kCases);
}

// The texel_tile variant (8 query rows x 16 keys per score tile, 4 rows above head dim 128) on every case whose
// head dim it takes (multiples of 4), plus a causal diagonal offset that moves across row groups and key blocks.
TEST_F(GpuTest, AttentionTexelTileMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variants are for CPU devices";
  std::vector<Case> cases;
  for (const Case& c : kCases)
    if (c.dim <= 128) cases.push_back(c);
  cases.push_back({1, 2, 37, 45, 16, Layout::Split, 0, false, true, {}, 5});
  check_cases(ctx(), "texel_tile", cases);
  AttentionOptions opt;
  opt.variant = "texel_tile";
  CommandStream s(ctx());
  Tensor odd = Tensor::from_floats(ctx(), std::vector<float>(6, 0.0f), {1, 1, 1, 6});
  EXPECT_THROW(attention(s, odd, odd, odd, opt), DeviceError) << "texel_tile takes head dims that are whole texels";
}

// Head dims 129..256 (4 query rows per invocation): Lq straddles the 4-row groups and the 64-invocation
// workgroup, Lk the 16-key blocks; mask, bias and a causal offset in one case (each pipeline compiles for
// seconds in llvmpipe).
TEST_F(GpuTest, AttentionTexelTileLargeHeadsMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variants are for CPU devices";
  check_cases(ctx(), "texel_tile", {{1, 2, 67, 35, 256, Layout::Split, -10000.0f, true, true, {}, 3},
                                    {2, 1, 18, 18, 160, Layout::PackedQkv}});
}

// The matmul variant (K and V packed on the device, scores by the texel matmul, a row softmax, P.V) on every case
// it takes (no bias, no causal mask, head dims of whole texels), and odd sizes: Lq != Lk, lengths that are no
// multiple of 4 or 16 (padded keys), batch 2 with per-batch masks, -inf masks (rows that see no key get 0).
TEST_F(GpuTest, AttentionMatmulMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "the matmul variant is for CPU devices";
  std::vector<Case> cases;
  for (const Case& c : kCases)
    if (c.dim % 4 == 0 && !c.bias && !c.causal) cases.push_back(c);
  cases.push_back({2, 3, 150, 301, 64, Layout::Split, -10000.0f});
  cases.push_back({2, 2, 33, 45, 128, Layout::Split, -INFINITY});
  cases.push_back({2, 2, 23, 40, 64, Layout::Bhld, -FLT_MAX, false, false, 1.0f});
  cases.push_back({1, 2, 130, 130, 128, Layout::PackedQkv});
  check_cases(ctx(), "matmul", cases);
  AttentionOptions opt;
  opt.variant = "matmul";
  opt.causal = true;
  CommandStream s(ctx());
  Tensor x = Tensor::from_floats(ctx(), std::vector<float>(8, 0.0f), {1, 1, 2, 4});
  EXPECT_THROW(attention(s, x, x, x, opt), DeviceError) << "causal masks go to the attention kernels";
}

// Under a small buffer limit the scores are made in blocks of query rows (here 19, 19 and 2 rows).
TEST(AttentionMatmul, ScoresInBlocksOfQueryRows) {
  setenv("LATTICE_GPU_MAX_BUFFER_BYTES", "3072", 1);
  Context ctx;
  unsetenv("LATTICE_GPU_MAX_BUFFER_BYTES");
  if (!ctx.device().info().is_cpu()) GTEST_SKIP() << "the matmul variant is for CPU devices";
  check_cases(ctx, "matmul", {{1, 1, 40, 37, 16, Layout::Bhld, -10000.0f}});
}

// On CPU devices the automatic choice is the matmul composition above head dim 128 with at least 128 keys and
// above 64 with at least 2,048, texel_tile elsewhere above head dim 64 (and for what the composition does not
// take: causal masks), texel below (where neither measured faster); the profile names the kernels each call ran.
TEST_F(GpuTest, AttentionChoosesByHeadDimAndKeysOnCpu) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variants are for CPU devices";
  test::ScopedKernelVariant automatic("ATTENTION", "");
  const bool was = profile::enabled();
  profile::set_enabled(true);
  struct Want { int64_t dim, keys; bool causal; std::string_view kernel; };
  for (const Want& w : {Want{64, 3, false, "attention_texel"}, Want{64, 200, false, "attention_texel"},
                        Want{128, 3, false, "attention_texel_tile"}, Want{256, 3, false, "attention_texel_tile"},
                        Want{128, 200, false, "attention_texel_tile"}, Want{128, 2048, false, "matmul_texel_packed"},
                        Want{256, 130, false, "matmul_texel_packed"}, Want{256, 130, true, "attention_texel_tile"}}) {
    profile::reset();
    {
      CommandStream s(ctx());
      Tensor x = Tensor::from_floats(ctx(), testing::random_floats(static_cast<size_t>(w.keys * w.dim), 7, -1.0f, 1.0f),
                                     {1, 1, w.keys, w.dim});
      AttentionOptions opt;
      opt.causal = w.causal;
      attention(s, x, x, x, opt);
      s.finish();
    }
    const std::string report = profile::report();
    EXPECT_NE(report.find(w.kernel), std::string::npos) << "D " << w.dim << ", " << w.keys << " keys\n" << report;
    EXPECT_EQ(report.find("attention_texel_tile") != std::string::npos, w.kernel == "attention_texel_tile")
        << "D " << w.dim << ", " << w.keys << " keys\n" << report;
  }
  profile::reset();
  profile::set_enabled(was);
}

// A slice of a longer causal sequence: query i sees keys j <= i + offset. Offsets move the diagonal past
// 8-row query groups and 16-key blocks; negative ones leave the first rows with no key (zeros), offsets past
// Lk or below -Lq are clamped (all keys, no keys). Head dims 16 and 64 (8 rows per invocation), 128 (4 rows)
// and 256 (2 rows).
const std::vector<Case> kCausalOffsetCases = {
    {1, 2, 21, 45, 16, Layout::Split, 0, false, true, {}, 24},
    {2, 1, 19, 30, 64, Layout::Bhld, -10000.0f, false, true, {}, -5},
    {1, 2, 13, 37, 128, Layout::Split, 0, true, true, {}, 17},
    {1, 1, 9, 20, 256, Layout::Bhld, 0, false, true, {}, 3},
    {1, 1, 6, 10, 8, Layout::Split, 0, false, true, {}, 1000},
    {1, 1, 6, 10, 8, Layout::Split, 0, false, true, {}, -1000},
};

// In two because each case compiles a new causal variant (tens of seconds in llvmpipe at D >= 128 under load).
TEST_F(GpuTest, AttentionCausalOffsetMatchesReference) {
  check_cases(ctx(), "portable", {kCausalOffsetCases[0], kCausalOffsetCases[4], kCausalOffsetCases[5]});
  if (ctx().device().info().is_cpu())
    check_cases(ctx(), "texel", {kCausalOffsetCases[0], kCausalOffsetCases[1], kCausalOffsetCases[4], kCausalOffsetCases[5]});
}

TEST_F(GpuTest, AttentionCausalOffsetLargeHeadsMatchesReference) {
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "texel variant is for CPU devices";
  check_cases(ctx(), "texel", {kCausalOffsetCases[2], kCausalOffsetCases[3]});
}

TEST_F(GpuTest, AttentionPartialOfRowsThatSeeNoKey) {
  // Offset -4: rows 0..3 see no key, so their output is zeros and their lse -inf (what attention_merge skips).
  Case c{1, 2, 11, 19, 8, Layout::Split};
  Operands o = make_operands(ctx(), c, 1550);
  AttentionOptions opt;
  opt.causal = true;
  opt.causal_offset = -4;
  CommandStream s(ctx());
  AttentionPartial p = attention_partial(s, o.q, o.k, o.v, opt);
  s.finish();
  std::vector<float> want_lse;
  const auto want = reference(o.hq, o.hk, o.hv, 1, 2, 11, 19, 8, 1.0 / std::sqrt(8.0), {}, true, {}, true, true,
                              &want_lse, -4);
  EXPECT_TRUE(testing::close_nmse(p.out.to_floats(), want, 1e-10));
  const auto lse = p.lse.to_floats();
  for (size_t i = 0; i < lse.size(); ++i) {
    if (i < 8) {
      EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "row " << i / 2 << ": " << lse[i];
    } else {
      EXPECT_NEAR(lse[i], want_lse[i], 1e-5 * std::max(1.0f, std::abs(want_lse[i]))) << "row " << i / 2;
    }
  }
}

TEST_F(GpuTest, AttentionFullyMaskedRows) {
  // -FLT_MAX on every key (T5 padding) gives PyTorch's uniform average; -inf on every key gives zeros.
  for (float masked : {-FLT_MAX, -std::numeric_limits<float>::infinity()}) {
    Case c{2, 2, 5, 20, 8, Layout::Bhld};
    Operands o = make_operands(ctx(), c, 1300);
    std::vector<float> mask(40, 0.0f);
    for (size_t j = 20; j < 40; ++j) mask[j] = masked;  // batch 1: all keys masked
    AttentionOptions opt;
    opt.key_mask = Tensor::from_floats(ctx(), mask, {2, 20});
    CommandStream s(ctx());
    Tensor out = attention(s, o.q, o.k, o.v, opt);
    s.finish();
    auto want = reference(o.hq, o.hk, o.hv, 2, 2, 5, 20, 8, 1.0 / std::sqrt(8.0), mask, true, {}, true, false);
    EXPECT_TRUE(testing::close_nmse(out.to_floats(), want, 1e-10)) << masked;
  }
}

TEST_F(GpuTest, AttentionLeadingMaskedKeyBlocks) {
  // The first two 16-key blocks are -inf for every query: each row's running max stays -inf until the
  // third block and must not turn into NaN; 13 queries leave a partial group of rows per invocation.
  Case c{1, 2, 13, 45, 16, Layout::Split};
  Operands o = make_operands(ctx(), c, 1350);
  std::vector<float> mask(45, 0.0f);
  for (size_t j = 0; j < 35; ++j) mask[j] = -std::numeric_limits<float>::infinity();
  AttentionOptions opt;
  opt.key_mask = Tensor::from_floats(ctx(), mask, {1, 45});
  CommandStream s(ctx());
  Tensor out = attention(s, o.q, o.k, o.v, opt);
  s.finish();
  auto want = reference(o.hq, o.hk, o.hv, 1, 2, 13, 45, 16, 0.25, mask, false, {}, true, false);
  EXPECT_TRUE(testing::close_nmse(out.to_floats(), want, 1e-10));
}

TEST_F(GpuTest, AttentionBroadcastMaskAndBias) {
  Case c{2, 3, 6, 21, 8, Layout::Split};
  Operands o = make_operands(ctx(), c, 1400);
  auto mask = testing::random_floats(21, 1401, -5.0f, 0.0f), bias = testing::random_floats(6 * 21, 1402);
  AttentionOptions opt;
  opt.key_mask = Tensor::from_floats(ctx(), mask, {1, 21});
  opt.bias = Tensor::from_floats(ctx(), bias, {1, 6, 21});
  CommandStream s(ctx());
  Tensor out = attention(s, o.q, o.k, o.v, opt);
  s.finish();
  auto want = reference(o.hq, o.hk, o.hv, 2, 3, 6, 21, 8, 1.0 / std::sqrt(8.0), mask, false, bias, false, false);
  EXPECT_TRUE(testing::close_nmse(out.to_floats(), want, 1e-10));
}

TEST_F(GpuTest, AttentionPartialGivesEachRowsLogSumExp) {
  // Batch 1 masks every key with -inf: its rows are zeros with lse -inf. Batch 0 masks a few keys, plus a bias.
  const int64_t B = 2, H = 3, Lq = 13, Lk = 37, D = 16;
  Case c{B, H, Lq, Lk, D, Layout::Split};
  Operands o = make_operands(ctx(), c, 1500);
  std::vector<float> mask(B * Lk, 0.0f);
  for (int64_t j = 0; j < Lk; ++j) mask[static_cast<size_t>(j)] = j % 5 == 2 ? -INFINITY : 0.0f;
  for (int64_t j = Lk; j < B * Lk; ++j) mask[static_cast<size_t>(j)] = -INFINITY;
  const auto bias = testing::random_floats(static_cast<size_t>(H * Lq * Lk), 1501, -2.0f, 2.0f);
  std::vector<float> want_lse;
  const auto want = reference(o.hq, o.hk, o.hv, B, H, Lq, Lk, D, 0.25, mask, true, bias, true, false, &want_lse);
  for (std::string_view variant : {"portable", "texel", "texel_tile"}) {
    if (variant != "portable" && !ctx().device().info().is_cpu()) continue;
    AttentionOptions opt;
    opt.variant = variant;
    opt.key_mask = Tensor::from_floats(ctx(), mask, {B, Lk});
    opt.bias = Tensor::from_floats(ctx(), bias, {H, Lq, Lk});
    CommandStream s(ctx());
    AttentionPartial p = attention_partial(s, o.q, o.k, o.v, opt);
    s.finish();
    ASSERT_EQ(p.lse.shape(), (Shape{B, Lq, H}));
    EXPECT_TRUE(testing::close_nmse(p.out.to_floats(), want, 1e-10)) << variant;
    const auto lse = p.lse.to_floats();
    for (size_t i = 0; i < lse.size(); ++i) {
      if (std::isinf(want_lse[i])) {
        EXPECT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << variant << " row " << i << ": " << lse[i];
      } else {
        EXPECT_NEAR(lse[i], want_lse[i], 1e-5 * std::max(1.0f, std::abs(want_lse[i]))) << variant << " row " << i;
      }
    }
  }
}

TEST_F(GpuTest, AttentionRefusesBadShapes) {
  Tensor q = Tensor::empty(ctx(), {1, 2, 4, 8}, DType::F32), k = Tensor::empty(ctx(), {1, 2, 5, 8}, DType::F32);
  Tensor k3 = Tensor::empty(ctx(), {1, 3, 5, 8}, DType::F32), big = Tensor::empty(ctx(), {1, 1, 2, 260}, DType::F32);
  Tensor q6 = Tensor::empty(ctx(), {1, 2, 4, 6}, DType::F32), k6 = Tensor::empty(ctx(), {1, 2, 5, 6}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(attention(s, q, k3, k3), DeviceError);    // head counts differ
  EXPECT_THROW(attention(s, big, big, big), DeviceError);  // head dim over 256
  AttentionOptions bad_mask;
  bad_mask.key_mask = Tensor::empty(ctx(), {1, 4}, DType::F32);  // Lk is 5
  EXPECT_THROW(attention(s, q, k, k, bad_mask), DeviceError);
  AttentionOptions texel;
  texel.variant = "texel";
  if (ctx().device().info().is_cpu()) {
    EXPECT_THROW(attention(s, q6, k6, k6, texel), DeviceError);  // D % 4 != 0
  }
  EXPECT_THROW(split_heads(Tensor::empty(ctx(), {1, 4, 10}, DType::F32), 3), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
