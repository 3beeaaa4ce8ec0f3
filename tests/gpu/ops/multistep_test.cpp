#include "gpu/ops/multistep.h"

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Plain C++: each sum rounded term by term (a product, then a sum), zero coefficients skipped.
struct Reference {
  std::vector<float> estimate, corrected, next;
};

Reference reference(const MultistepCoefficients& c, const std::vector<float>& x, const std::vector<float>& v,
                    const std::vector<float>& last, const std::vector<std::vector<float>>& h) {
  auto term = [](float acc, float coef, float t) {
    if (coef == 0.0f) return acc;
    volatile float product = coef * t;  // no fma contraction: the shader rounds the product first
    return acc + product;
  };
  Reference r{x, x, x};
  for (size_t i = 0; i < x.size(); ++i) {
    const float m = term(x[i], -c.convert, v[i]);
    float xc = x[i];
    if (c.correct) {
      xc = term(term(0.0f, c.corrector.last, last[i]), c.corrector.estimate, m);
      for (size_t k = 0; k < c.corrector.history.size(); ++k) xc = term(xc, c.corrector.history[k], h[k][i]);
    }
    float y = term(term(0.0f, c.predictor.sample, xc), c.predictor.estimate, m);
    for (size_t k = 0; k < c.predictor.history.size(); ++k) y = term(y, c.predictor.history[k], h[k][i]);
    r.estimate[i] = m;
    r.corrected[i] = xc;
    r.next[i] = y;
  }
  return r;
}

struct Case {
  const char* name;
  MultistepCoefficients c;
  size_t history;
};

TEST_F(GpuTest, MultistepUpdateMatchesReference) {
  MultistepCoefficients first;  // order 1, no corrector (the first step)
  first.convert = 0.25f;
  first.predictor = {0, 0.75f, -0.125f, {}};
  MultistepCoefficients second;  // order 2 with the corrector
  second.convert = 0.5f;
  second.correct = true;
  second.corrector = {0.9f, 0, -0.3f, {0.2f, -0.05f}};
  second.predictor = {0.8f, 0.1f, -0.4f, {0.15f}};
  MultistepCoefficients widest;  // every history slot, a zero coefficient among them
  widest.convert = -1.5f;
  widest.correct = true;
  widest.corrector = {1.0f, 0, 0.0f, {0.5f, 0.0f, -0.25f, 0.125f}};
  widest.predictor = {1.0f, 0.0f, 2.0f, {-1.0f, 0.25f, 0.0f, 0.5f}};
  const Case cases[] = {{"first", first, 0}, {"second", second, 2}, {"widest", widest, 4}};

  const Shape shape = {2, 3, 37, 5};  // 1110 values: not a multiple of the workgroup
  const size_t n = static_cast<size_t>(numel(shape));
  uint32_t seed = 300;
  for (const Case& tc : cases) {
    const auto x = testing::random_floats(n, seed++, -2, 2), v = testing::random_floats(n, seed++, -2, 2);
    const auto last = testing::random_floats(n, seed++, -2, 2);
    std::vector<std::vector<float>> h;
    for (size_t k = 0; k < tc.history; ++k) h.push_back(testing::random_floats(n, seed++, -2, 2));
    // The sample at an offset inside a larger buffer, as a row range of a batch would be.
    std::vector<float> padded(n + 7, 9.0f);
    std::copy(x.begin(), x.end(), padded.begin() + 7);
    const Tensor xt = Tensor::from_floats(ctx(), padded, {static_cast<int64_t>(n + 7)}).view(shape, contiguous_strides(shape), 7);
    const Tensor vt = Tensor::from_floats(ctx(), v, shape), lt = Tensor::from_floats(ctx(), last, shape);
    std::vector<Tensor> ht;
    for (const auto& hk : h) ht.push_back(Tensor::from_floats(ctx(), hk, shape));
    std::vector<const Tensor*> hp;
    for (const Tensor& t : ht) hp.push_back(&t);

    CommandStream s(ctx());
    const MultistepResult got = multistep_update(s, tc.c, xt, vt, lt, hp);
    s.finish();
    const Reference want = reference(tc.c, x, v, last, h);
    EXPECT_TRUE(testing::close_elementwise(got.estimate.to_floats(), want.estimate, 0.0, 0.0)) << tc.name;
    EXPECT_TRUE(testing::close_elementwise(got.corrected.to_floats(), want.corrected, 0.0, 0.0)) << tc.name;
    EXPECT_TRUE(testing::close_elementwise(got.next.to_floats(), want.next, 0.0, 0.0)) << tc.name;
    if (!tc.c.correct) {
      EXPECT_EQ(got.corrected.buffer(), xt.buffer()) << tc.name;  // the sample itself, no copy
    }
  }
}

TEST_F(GpuTest, MultistepUpdateRefusesMismatchedInputs) {
  const Tensor x = Tensor::empty(ctx(), {4, 4}, DType::F32), other = Tensor::empty(ctx(), {4, 5}, DType::F32);
  const Tensor half = Tensor::empty(ctx(), {4, 4}, DType::F16);
  MultistepCoefficients c;
  c.predictor = {1, 0, 1, {0.5f}};
  CommandStream s(ctx());
  const Tensor* one[] = {&x};
  EXPECT_THROW(multistep_update(s, c, x, other, {}, one), DeviceError);  // model output of another shape
  EXPECT_THROW(multistep_update(s, c, x, half, {}, one), DeviceError);   // not f32
  EXPECT_THROW(multistep_update(s, c, x, x, {}, {}), DeviceError);       // a coefficient without an estimate
  c.correct = true;
  EXPECT_THROW(multistep_update(s, c, x, x, {}, one), DeviceError);  // corrector without the previous sample
  c.correct = false;
  c.predictor.history.assign(5, 0.1f);
  const Tensor* five[] = {&x, &x, &x, &x, &x};
  EXPECT_THROW(multistep_update(s, c, x, x, {}, five), DeviceError);  // more than the shader holds
}

}  // namespace
}  // namespace lattice::gpu
