#include "gpu/ops/patchify.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// tokens[b, (f·H' + h)·W' + w, ch] = x[b, c, f·pt + t, h·ph + i, w·pw + j] with ch per the order.
std::vector<float> reference(const std::vector<float>& x, const Shape& s, Patch p, PatchOrder order) {
  int64_t B = s[0], C = s[1], F = s[2] / p.t, H = s[3] / p.h, W = s[4] / p.w, P = p.t * p.h * p.w;
  std::vector<float> y(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t fz = 0; fz < s[2]; ++fz)
        for (int64_t hy = 0; hy < s[3]; ++hy)
          for (int64_t wx = 0; wx < s[4]; ++wx) {
            int64_t token = ((fz / p.t) * H + hy / p.h) * W + wx / p.w;
            int64_t off = ((fz % p.t) * p.h + hy % p.h) * p.w + wx % p.w;
            int64_t ch = order == PatchOrder::ChannelMajor ? c * P + off : off * C + c;
            y[static_cast<size_t>((b * F * H * W + token) * C * P + ch)] =
                x[static_cast<size_t>((((b * C + c) * s[2] + fz) * s[3] + hy) * s[4] + wx)];
          }
  return y;
}

TEST_F(GpuTest, PatchifyAndUnpatchifyMatchIndexFormulas) {
  struct Case {
    Shape shape;
    Patch p;
  };
  const Case cases[] = {{{1, 3, 1, 4, 6}, {1, 2, 2}},   // FLUX-like
                        {{2, 5, 3, 6, 2}, {1, 2, 2}},   // Wan 1x2x2, odd frame count
                        {{2, 3, 4, 2, 6}, {2, 2, 2}},   // 2x2x2: rank 8 after splitting
                        {{1, 2, 3, 3, 3}, {1, 3, 1}}};
  uint32_t seed = 800;
  for (const Case& c : cases)
    for (PatchOrder order : {PatchOrder::ChannelMajor, PatchOrder::PatchMajor}) {
      auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++);
      Tensor t = Tensor::from_floats(ctx(), x, c.shape);
      PatchGrid g{c.shape[2] / c.p.t, c.shape[3] / c.p.h, c.shape[4] / c.p.w};
      CommandStream s(ctx());
      Tensor tok = patchify(s, t, c.p, order);
      Tensor back = unpatchify(s, tok, g, c.p, c.shape[1], order);
      s.finish();
      Shape want = {c.shape[0], g.f * g.h * g.w, c.shape[1] * c.p.t * c.p.h * c.p.w};
      EXPECT_EQ(tok.shape(), want);
      EXPECT_TRUE(testing::close_elementwise(tok.to_floats(), reference(x, c.shape, c.p, order), 0, 0))
          << shape_string(c.shape) << " order " << static_cast<int>(order);
      EXPECT_EQ(back.shape(), c.shape);
      EXPECT_TRUE(testing::close_elementwise(back.to_floats(), x, 0, 0)) << shape_string(c.shape);
    }
}

TEST_F(GpuTest, PackLatentsIsFluxsPacking) {
  // FluxPipeline._pack_latents: packed channel c·4 + dy·2 + dx, tokens row-major over (h/2, w/2).
  const int64_t B = 2, C = 3, h = 4, w = 6;
  auto x = testing::random_floats(B * C * h * w, 9);
  Tensor t = Tensor::from_floats(ctx(), x, {B, C, h, w});
  CommandStream s(ctx());
  Tensor packed = pack_latents(s, t);
  Tensor back = unpack_latents(s, packed, h, w);
  s.finish();
  ASSERT_EQ(packed.shape(), (Shape{B, (h / 2) * (w / 2), 4 * C}));
  auto got = packed.to_floats();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          int64_t token = (y / 2) * (w / 2) + xx / 2, ch = c * 4 + (y % 2) * 2 + xx % 2;
          ASSERT_EQ(got[static_cast<size_t>((b * (h / 2) * (w / 2) + token) * 4 * C + ch)],
                    x[static_cast<size_t>(((b * C + c) * h + y) * w + xx)]);
        }
  EXPECT_EQ(back.shape(), (Shape{B, C, h, w}));
  EXPECT_EQ(back.to_floats(), x);
}

TEST_F(GpuTest, PatchifyRefusesBadShapes) {
  CommandStream s(ctx());
  EXPECT_THROW(patchify(s, Tensor::empty(ctx(), {1, 2, 1, 3, 4}, DType::F32), {1, 2, 2}, PatchOrder::ChannelMajor),
               DeviceError);
  EXPECT_THROW(unpatchify(s, Tensor::empty(ctx(), {1, 6, 8}, DType::F32), {1, 2, 2}, {1, 2, 2}, 2,
                          PatchOrder::PatchMajor),
               DeviceError);
  EXPECT_THROW(pack_latents(s, Tensor::empty(ctx(), {1, 2, 3, 4}, DType::F32)), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
