#include "gpu/ops/texel_operands.h"

#include <cstdlib>
#include <memory>

#include "gpu/allocator.h"
#include "gpu/ops/binary.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, TexelOperandsNeedEveryCountAMultipleOfFour) {
  const Device& d = ctx().device();
  if (!TexelOperands(d)) GTEST_SKIP() << "texel operands are for CPU devices with RGBA32F texel buffers";
  EXPECT_TRUE(TexelOperands(d).aligned({0, 4, 64, 3072}));
  EXPECT_FALSE(TexelOperands(d).aligned({4, 6, 8}));
  const uint32_t strides[] = {8, 12, 2};
  EXPECT_TRUE(TexelOperands(d).aligned({strides[0], strides[1]}));
  EXPECT_FALSE(TexelOperands(d).aligned({strides[0], strides[1], strides[2]}));
  // A failed condition stays failed whatever follows.
  EXPECT_FALSE(TexelOperands(d).require(false).aligned({4}));
  EXPECT_FALSE(TexelOperands(d).aligned({5}).require(true).aligned({4}));
}

TEST_F(GpuTest, TexelOperandsRowsNeedAContiguousInnermostDimensionInEveryView) {
  const Device& d = ctx().device();
  if (!TexelOperands(d)) GTEST_SKIP() << "texel operands are for CPU devices with RGBA32F texel buffers";
  const uint32_t shape[] = {3, 5, 8}, packed[] = {40, 8, 1}, permuted[] = {8, 24, 1}, broadcast[] = {0, 8, 0};
  const uint32_t odd_stride[] = {42, 8, 1}, odd_shape[] = {3, 5, 6}, odd_packed[] = {30, 6, 1};
  EXPECT_TRUE(TexelOperands(d).rows(3, shape, {packed, permuted}));
  EXPECT_FALSE(TexelOperands(d).rows(3, shape, {packed, broadcast})) << "innermost stride 0";
  EXPECT_FALSE(TexelOperands(d).rows(3, shape, {odd_stride})) << "outer stride 42";
  EXPECT_FALSE(TexelOperands(d).rows(3, odd_shape, {odd_packed})) << "innermost size 6";
  EXPECT_FALSE(TexelOperands(d).rows(0, shape, {packed})) << "rank 0";
}

TEST_F(GpuTest, TexelOperandsNeedEveryBufferToFitOneView) {
  if (!TexelOperands(ctx().device())) GTEST_SKIP() << "texel operands are for CPU devices with RGBA32F texel buffers";
  // A device whose texel buffers hold 16 texels (64 floats).
  setenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS", "16", 1);
  const auto small = std::make_unique<Context>();
  unsetenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS");
  const Tensor fits = Tensor::empty(*small, {64}, DType::F32), too_big = Tensor::empty(*small, {1024}, DType::F32);
  const Tensor absent;
  ASSERT_LE(fits.buffer()->size() / 16, 16u) << "the allocator rounded a 256-byte buffer past 16 texels";
  EXPECT_TRUE(TexelOperands(small->device()).bound({&fits, &absent}));
  EXPECT_FALSE(TexelOperands(small->device()).bound({&fits, &too_big}));
}

TEST_F(GpuTest, TexelArgBindsTheFormatOnlyForTexelVariants) {
  const Tensor t = Tensor::empty(ctx(), {8}, DType::F32);
  EXPECT_EQ(texel_arg(t.buffer(), true).texel_format, kTexelFormat);
  EXPECT_EQ(texel_arg(t.buffer(), false).texel_format, VK_FORMAT_UNDEFINED);
  EXPECT_EQ(texel_arg(t.buffer(), true).buffer, t.buffer());
}

TEST_F(GpuTest, TexelOperandsOfDroppedTensorsLiveUntilTheirBatchCompletes) {
  if (!TexelOperands(ctx().device())) GTEST_SKIP() << "texel operands are for CPU devices with RGBA32F texel buffers";
  const test::ScopedKernelVariant forced("BINARY", "texel");
  const auto xs = testing::random_floats(256, 71), ys = testing::random_floats(256, 72);
  CommandStream s(ctx());
  Tensor sum;
  {
    const Tensor a = Tensor::from_floats(ctx(), xs, {4, 64}), b = Tensor::from_floats(ctx(), ys, {4, 64});
    sum = add(s, a, b);
    s.submit();
  }  // a and b (and their cached texel views) are dropped while their batch may still run
  // sum's view, made for the first batch, is bound again by a second one, possibly while the first runs.
  const Tensor twice = add(s, sum, sum);
  s.finish();
  std::vector<float> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) want[i] = 2.0f * (xs[i] + ys[i]);
  EXPECT_TRUE(testing::close_elementwise(twice.to_floats(), want, 0, 0));
}

}  // namespace
}  // namespace lattice::gpu
