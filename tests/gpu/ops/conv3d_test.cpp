#include "gpu/ops/conv3d.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/gpu/ops/conv_reference.h"

namespace lattice::gpu {
namespace {

using testing::ConvDims;
using testing::GpuTest;

// f32 accumulation over Cin*kt*kh*kw <= 300 terms against a double reference: errors ~1e-7 relative.
constexpr double kMaxNmse = 1e-10;

struct Inputs {
  std::vector<float> x, w, bias, cache;
  Tensor tx, tw, tbias, tcache;
};

Inputs make_inputs(Context& ctx, const ConvDims& d, DType wt, bool with_bias, uint32_t seed) {
  Inputs r;
  r.x = testing::random_floats(static_cast<size_t>(d.n * d.cin * d.t * d.h * d.w), seed);
  r.tx = Tensor::from_floats(ctx, r.x, {d.n, d.cin, d.t, d.h, d.w});
  r.tw = testing::random_weights(ctx, {d.cout, d.cin, d.kt, d.kh, d.kw}, seed + 1, wt, r.w);
  if (with_bias) {
    r.bias = testing::random_floats(static_cast<size_t>(d.cout), seed + 2);
    r.tbias = Tensor::from_floats(ctx, r.bias, {d.cout});
  }
  if (d.tc > 0) {
    r.cache = testing::random_floats(static_cast<size_t>(d.n * d.cin * d.tc * d.h * d.w), seed + 3);
    r.tcache = Tensor::from_floats(ctx, r.cache, {d.n, d.cin, d.tc, d.h, d.w});
  }
  return r;
}

struct Case {
  const char* what;
  ConvDims d;
  Conv3dParams p;
};

Conv3dParams strided(Conv3dParams p, int st, int sh, int sw) {
  p.stride_t = st;
  p.stride_h = sh;
  p.stride_w = sw;
  return p;
}

TEST_F(GpuTest, Conv3dMatchesReference) {
  const TimePadding rep = TimePadding::Replicate;
  const Case cases[] = {
      {"zeros both sides", {2, 3, 5, 7, 9, 5, 3, 3, 3}, Conv3dParams::same(1, 1, 1)},
      {"1x1x1", {1, 8, 3, 4, 5, 12, 1, 1, 1}, {}},
      {"stride 2 all axes", {1, 4, 7, 9, 8, 6, 3, 3, 3}, strided(Conv3dParams::same(1, 1, 1), 2, 2, 2)},
      {"Wan causal, no cache", {1, 5, 4, 6, 7, 9, 3, 3, 3}, Conv3dParams::causal(3, 1, 1)},
      {"Wan causal, 2-frame cache", {1, 5, 4, 6, 7, 9, 3, 3, 3, 2}, Conv3dParams::causal(3, 1, 1)},
      {"Wan causal, 1-frame cache", {1, 5, 1, 6, 7, 9, 3, 3, 3, 1}, Conv3dParams::causal(3, 1, 1)},
      {"LTX encoder causal replicate", {1, 4, 5, 6, 6, 8, 3, 3, 3}, Conv3dParams::causal(3, 1, 1, rep)},
      {"replicate with 1-frame cache", {1, 4, 3, 5, 6, 8, 3, 3, 3, 1}, Conv3dParams::causal(3, 1, 1, rep)},
      {"LTX decoder replicate both", {1, 4, 4, 5, 6, 8, 3, 3, 3}, Conv3dParams::same(1, 1, 1, rep)},
      {"Wan time downsample 3x1x1 stride 2", {1, 8, 5, 4, 4, 8, 3, 1, 1}, strided(Conv3dParams::causal(3, 0, 0), 2, 1, 1)},
      {"general k 2x4x3, asymmetric pad", {1, 3, 4, 7, 6, 5, 2, 4, 3}, [] {
         Conv3dParams p;
         p.pad_back = 1;
         p.pad_top = 2;
         p.pad_left = 1;
         p.pad_right = 2;
         return p;
       }()},
  };
  uint32_t seed = 900;
  for (std::string_view v : testing::conv_variants(ctx()))
    for (const Case& c : cases)
      for (DType wt : {DType::F32, DType::F16}) {
        bool with_bias = wt == DType::F32;
        Inputs r = make_inputs(ctx(), c.d, wt, with_bias, seed += 4);
        CommandStream s(ctx());
        Tensor y = conv3d(s, r.tx, r.tw, r.tbias, c.p, r.tcache, v);
        s.finish();
        auto want = testing::conv3d_reference(c.d, c.p, r.x, r.w, r.bias, r.cache);
        EXPECT_EQ(y.numel(), static_cast<int64_t>(want.size())) << c.what;
        EXPECT_TRUE(testing::close_nmse(y.to_floats(), want, kMaxNmse)) << v << ": " << c.what << " " << dtype_name(wt);
      }
}

TEST_F(GpuTest, Conv3dBf16WeightsDefaultVariant) {
  ConvDims d{1, 6, 3, 5, 5, 7, 3, 3, 3};
  Conv3dParams p = Conv3dParams::causal(3, 1, 1);
  Inputs r = make_inputs(ctx(), d, DType::BF16, true, 77);
  CommandStream s(ctx());
  Tensor y = conv3d(s, r.tx, r.tw, r.tbias, p);
  s.finish();
  EXPECT_EQ(y.shape(), (Shape{1, 7, 3, 5, 5}));
  EXPECT_TRUE(testing::close_nmse(y.to_floats(), testing::conv3d_reference(d, p, r.x, r.w, r.bias, {}), kMaxNmse));
}

// Wan decodes one latent frame at a time: chunks of 1, 4, 4 frames, each causal conv given the last two
// input frames seen so far. The concatenated outputs must equal the causal conv of the whole sequence.
TEST_F(GpuTest, Conv3dChunkedWithCacheEqualsWholeSequence) {
  const int64_t c = 6, h = 5, w = 7, cout = 5;
  const int64_t chunks[] = {1, 4, 4};
  const int64_t total = 9;
  Conv3dParams p = Conv3dParams::causal(3, 1, 1);
  for (std::string_view v : testing::conv_variants(ctx())) {
    Inputs whole = make_inputs(ctx(), {1, c, total, h, w, cout, 3, 3, 3}, DType::F32, true, 31);
    CommandStream s(ctx());
    Tensor y_whole = conv3d(s, whole.tx, whole.tw, whole.tbias, p, {}, v);
    std::vector<Tensor> outs;
    Tensor cache;
    int64_t t0 = 0;
    for (int64_t len : chunks) {
      // A contiguous chunk: upload the frames [t0, t0 + len) of each channel.
      std::vector<float> part(static_cast<size_t>(c * len * h * w));
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < len * h * w; ++i)
          part[static_cast<size_t>(ch * len * h * w + i)] = whole.x[static_cast<size_t>((ch * total + t0) * h * w + i)];
      Tensor x = Tensor::from_floats(ctx(), part, {1, c, len, h, w});
      outs.push_back(conv3d(s, x, whole.tw, whole.tbias, p, cache, v));
      cache = conv3d_cache_tail(s, x, cache, 2);
      EXPECT_EQ(cache.dim(2), std::min<int64_t>(2, t0 + len));
      t0 += len;
    }
    s.finish();
    auto want = y_whole.to_floats();
    EXPECT_TRUE(testing::close_nmse(want, testing::conv3d_reference({1, c, total, h, w, cout, 3, 3, 3}, p, whole.x,
                                                                    whole.w, whole.bias, {}),
                                    kMaxNmse));
    std::vector<float> got(want.size());
    t0 = 0;
    for (size_t k = 0; k < outs.size(); ++k) {
      auto o = outs[k].to_floats();
      int64_t len = chunks[k];
      for (int64_t co = 0; co < cout; ++co)
        for (int64_t i = 0; i < len * h * w; ++i)
          got[static_cast<size_t>((co * total + t0) * h * w + i)] = o[static_cast<size_t>(co * len * h * w + i)];
      t0 += len;
    }
    // Same kernel, same summation order: only the packing differs, so the results agree to rounding.
    EXPECT_TRUE(testing::close_elementwise(got, want, 1e-6, 1e-6)) << v;
  }
}

TEST_F(GpuTest, Conv3dCacheTailTakesLastFramesAcrossChunks) {
  auto a = testing::random_floats(2 * 3 * 2 * 2, 5), b = testing::random_floats(2 * 1 * 2 * 2, 6);
  CommandStream s(ctx());
  Tensor ta = Tensor::from_floats(ctx(), a, {1, 2, 3, 2, 2}), tb = Tensor::from_floats(ctx(), b, {1, 2, 1, 2, 2});
  Tensor first = conv3d_cache_tail(s, ta, {}, 2);     // frames 1, 2 of a
  Tensor second = conv3d_cache_tail(s, tb, first, 2);  // frame 2 of a, then b's only frame
  s.finish();
  std::vector<float> want_first, want_second;
  for (int ch = 0; ch < 2; ++ch) {
    want_first.insert(want_first.end(), a.begin() + (ch * 3 + 1) * 4, a.begin() + (ch * 3 + 3) * 4);
    want_second.insert(want_second.end(), a.begin() + (ch * 3 + 2) * 4, a.begin() + (ch * 3 + 3) * 4);
    want_second.insert(want_second.end(), b.begin() + ch * 4, b.begin() + ch * 4 + 4);
  }
  EXPECT_EQ(first.shape(), (Shape{1, 2, 2, 2, 2}));
  EXPECT_EQ(first.to_floats(), want_first);
  EXPECT_EQ(second.to_floats(), want_second);
}

TEST_F(GpuTest, Conv3dRefusesBadCacheAndShapes) {
  CommandStream s(ctx());
  Tensor x = Tensor::empty(ctx(), {1, 4, 3, 5, 5}, DType::F32);
  Tensor w = Tensor::empty(ctx(), {2, 4, 3, 3, 3}, DType::F32);
  Tensor cache3 = Tensor::empty(ctx(), {1, 4, 3, 5, 5}, DType::F32);
  Tensor cache_wrong = Tensor::empty(ctx(), {1, 4, 2, 5, 6}, DType::F32);
  Conv3dParams causal = Conv3dParams::causal(3, 1, 1);
  EXPECT_THROW(conv3d(s, x, w, {}, causal, cache3), DeviceError);       // more cache frames than pad_front
  EXPECT_THROW(conv3d(s, x, w, {}, causal, cache_wrong), DeviceError);  // cache width differs
  EXPECT_THROW(conv3d(s, x, Tensor::empty(ctx(), {2, 3, 3, 3, 3}, DType::F32)), DeviceError);  // Cin differs
  EXPECT_THROW(conv3d(s, Tensor::empty(ctx(), {1, 4, 3, 5, 5}, DType::F16), w), DeviceError);  // f16 input
}

}  // namespace
}  // namespace lattice::gpu
