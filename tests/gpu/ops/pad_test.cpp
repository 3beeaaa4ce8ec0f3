#include "gpu/ops/pad.h"

#include <algorithm>
#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Explicit index formula over a contiguous input.
std::vector<float> reference(const std::vector<float>& x, const Shape& shape, const std::vector<DimPad>& pads,
                             float value) {
  size_t lead = shape.size() - pads.size();
  Shape out = shape;
  for (size_t i = 0; i < pads.size(); ++i) out[lead + i] += pads[i].before + pads[i].after;
  Shape in_strides = contiguous_strides(shape);
  std::vector<float> r(static_cast<size_t>(numel(out)));
  for (int64_t o = 0; o < numel(out); ++o) {
    int64_t rest = o, at = 0;
    bool outside = false;
    for (size_t d = out.size(); d-- > 0;) {
      int64_t c = rest % out[d];
      rest /= out[d];
      if (d >= lead) {
        const DimPad& p = pads[d - lead];
        c -= p.before;
        if (c < 0 || c >= shape[d]) {
          if (p.mode == PadMode::Constant) outside = true;
          c = std::clamp<int64_t>(c, 0, shape[d] - 1);
        }
      }
      at += c * in_strides[d];
    }
    r[static_cast<size_t>(o)] = outside ? value : x[static_cast<size_t>(at)];
  }
  return r;
}

struct Case {
  Shape shape;
  std::vector<DimPad> pads;
  float value;
};

TEST_F(GpuTest, PadMatchesIndexFormula) {
  const PadMode C = PadMode::Constant, R = PadMode::Replicate;
  const Case cases[] = {
      {{1, 3, 5, 7}, {{0, 1, C}, {0, 1, C}}, 0.0f},                 // VAE encoder: right/bottom only
      {{2, 3, 4, 5}, {{2, 1, C}, {1, 3, C}}, -1.5f},
      {{1, 2, 5, 3, 4}, {{2, 0, R}, {1, 1, C}, {1, 1, C}}, 0.0f},   // LTX causal conv: first frame twice
      {{1, 2, 4, 3, 3}, {{1, 1, R}, {0, 0, C}, {0, 0, C}}, 0.0f},   // decoder: first and last frame
      {{2, 1, 1, 3, 4}, {{0, 0, C}, {3, 2, R}, {2, 1, R}}, 0.0f},
      {{7}, {{3, 4, C}}, 2.0f},
      {{3, 5, 33, 17}, {{1, 1, C}, {1, 1, C}}, 0.0f},
  };
  uint32_t seed = 500;
  for (const Case& c : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++);
    Tensor t = Tensor::from_floats(ctx(), x, c.shape);
    CommandStream s(ctx());
    Tensor y = pad(s, t, c.pads, c.value);
    s.finish();
    EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(x, c.shape, c.pads, c.value), 0, 0))
        << shape_string(c.shape);
  }
}

TEST_F(GpuTest, PadReadsStridedViewsAndEmptyInputs) {
  auto x = testing::random_floats(12, 9);
  Tensor t = Tensor::from_floats(ctx(), x, {3, 4});
  Tensor tt = permute(t, {1, 0});  // [4, 3]
  std::vector<float> xt(12);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) xt[static_cast<size_t>(i * 3 + j)] = x[static_cast<size_t>(j * 4 + i)];
  const std::vector<DimPad> pads = {{1, 0, PadMode::Replicate}, {0, 2, PadMode::Constant}};
  CommandStream s(ctx());
  Tensor y = pad(s, tt, pads);
  Tensor e = pad(s, Tensor::empty(ctx(), {2, 0}, DType::F32), {{1, 2, PadMode::Constant}}, 3.0f);
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference(xt, {4, 3}, pads, 0.0f), 0, 0));
  EXPECT_EQ(e.shape(), (Shape{2, 3}));
  EXPECT_TRUE(testing::close_elementwise(e.to_floats(), std::vector<float>(6, 3.0f), 0, 0));
}

TEST_F(GpuTest, PadKeepsNaNAndInf) {
  std::vector<float> x = {NAN, INFINITY, -INFINITY};
  Tensor t = Tensor::from_floats(ctx(), x, {3});
  CommandStream s(ctx());
  Tensor y = pad(s, t, {{1, 1, PadMode::Replicate}});
  s.finish();
  auto got = y.to_floats();
  EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[1]));
  EXPECT_EQ(got[2], INFINITY);
  EXPECT_EQ(got[4], -INFINITY);
}

TEST_F(GpuTest, PadRefusesBadRequests) {
  Tensor x = Tensor::empty(ctx(), {2, 3}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(pad(s, x, {{-1, 0, PadMode::Constant}}), DeviceError);
  EXPECT_THROW(pad(s, x, {{0, 0}, {0, 0}, {0, 0}}), DeviceError);
  EXPECT_THROW(pad(s, Tensor::empty(ctx(), {2, 0}, DType::F32), {{1, 1, PadMode::Replicate}}), DeviceError);
  EXPECT_THROW(pad(s, Tensor::empty(ctx(), {2, 3}, DType::F16), {{1, 1}}), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
