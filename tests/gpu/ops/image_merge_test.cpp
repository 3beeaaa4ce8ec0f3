// image_merge (the image.merge node's pixel work) against its CPU twin image_merge_cpu().
#include "gpu/ops/image_merge.h"

#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

struct Img {
  std::vector<float> px;
  int h, w, c;
  ImageView view() const { return {px, w, h, c}; }
};

std::vector<float> run_gpu(Context& ctx, const Img& a, const Img& b, MergeMode m, float mix) {
  Tensor ta = Tensor::from_floats(ctx, a.px, {a.h, a.w, a.c});
  Tensor tb = Tensor::from_floats(ctx, b.px, {b.h, b.w, b.c});
  CommandStream s(ctx);
  Tensor y = image_merge(s, ta, tb, m, mix);
  s.finish();
  return y.to_floats();
}

std::vector<float> run_cpu(const Img& a, const Img& b, MergeMode m, float mix) {
  std::vector<float> y(static_cast<size_t>(a.h) * a.w * 4);
  image_merge_cpu(a.view(), b.view(), m, mix, y);
  return y;
}

// Only adds and multiplies, all marked precise in the shader: the twins should agree bit for bit; the
// brief's 1e-6 relative + 1e-6 absolute is asserted so a driver that flushes denormals still passes.
constexpr double kRtol = 1e-6, kAtol = 1e-6;

TEST_F(GpuTest, ImageMergeMatchesCpuTwin) {
  // B smaller, larger and crossing A, so both "inside" and "outside b keeps a" are hit.
  const int sizes[][4] = {{1, 1, 1, 1}, {7, 5, 3, 9}, {17, 33, 19, 11}, {9, 3, 4, 2}};
  uint32_t seed = 900;
  for (auto [ah, aw, bh, bw] : sizes)
    for (int ac = 1; ac <= 4; ++ac)
      for (int bc = 1; bc <= 4; ++bc) {
        Img a{testing::random_floats(static_cast<size_t>(ah * aw * ac), seed++, -0.2f, 1.2f), ah, aw, ac};
        Img b{testing::random_floats(static_cast<size_t>(bh * bw * bc), seed++, -0.2f, 1.2f), bh, bw, bc};
        for (MergeMode m : {MergeMode::Over, MergeMode::Add, MergeMode::Multiply, MergeMode::Screen})
          for (float mix : {1.0f, 0.37f, 0.0f})
            EXPECT_TRUE(testing::close_elementwise(run_gpu(ctx(), a, b, m, mix), run_cpu(a, b, m, mix), kRtol, kAtol))
                << "a " << ah << "x" << aw << "x" << ac << " b " << bh << "x" << bw << "x" << bc << " mode "
                << static_cast<int>(m) << " mix " << mix;
      }
}

TEST_F(GpuTest, ImageMergeNanAndInfBehaveLikeTheCpu) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Img a{{0.5f, inf, 0.2f, 1.0f, nan, 0.1f, -inf, 0.5f, 0.3f, 0.3f, 0.3f, 0.3f}, 1, 3, 4};
  Img b{{inf, 0.5f, nan, 0.5f, 0.2f, 0.4f, 0.6f, inf}, 1, 2, 4};
  for (MergeMode m : {MergeMode::Over, MergeMode::Add, MergeMode::Multiply, MergeMode::Screen})
    for (float mix : {1.0f, 0.5f}) {
      auto got = run_gpu(ctx(), a, b, m, mix);
      auto want = run_cpu(a, b, m, mix);
      for (size_t i = 0; i < want.size(); ++i) {
        if (std::isnan(want[i])) {
          EXPECT_TRUE(std::isnan(got[i])) << "mode " << static_cast<int>(m) << " at " << i << ": got " << got[i];
        } else if (std::isinf(want[i])) {
          EXPECT_EQ(got[i], want[i]) << "mode " << static_cast<int>(m) << " at " << i;
        } else {
          EXPECT_NEAR(got[i], want[i], kAtol + kRtol * std::fabs(want[i])) << "mode " << static_cast<int>(m) << " at " << i;
        }
      }
    }
}

TEST_F(GpuTest, ImageMergeRefusesBadShapes) {
  CommandStream s(ctx());
  Tensor ok = Tensor::empty(ctx(), {2, 2, 3}, DType::F32);
  EXPECT_THROW(image_merge(s, ok, Tensor::empty(ctx(), {2, 2, 5}, DType::F32), MergeMode::Over, 1), DeviceError);
  EXPECT_THROW(image_merge(s, Tensor::empty(ctx(), {4}, DType::F32), ok, MergeMode::Over, 1), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
