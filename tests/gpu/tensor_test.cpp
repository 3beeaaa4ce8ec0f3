#include "gpu/tensor.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/softmax.h"
#include "gpu/ops/unary.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, ContiguousIgnoresTheStridesOfSize1Dims) {
  const Tensor t = Tensor::empty(ctx(), {2, 5, 3}, DType::F32);
  EXPECT_TRUE(t.contiguous());
  // Rows [1, 4) of batch entry 0: a [1, 3, 3] block packed from offset 3, whose batch stride is still 15.
  const Tensor rows = narrow(narrow(t, 0, 0, 1), 1, 1, 3);
  EXPECT_EQ(rows.strides(), (Shape{15, 3, 1}));
  EXPECT_TRUE(rows.contiguous());
  EXPECT_TRUE(t.view({1, 3, 1, 3}, {999, 3, 7, 1}, 3).contiguous());
  EXPECT_TRUE(t.view({3, 1}, {1, 0}, 0).contiguous());
  // Dimensions of size > 1 still have to be packed.
  EXPECT_FALSE(narrow(t, 1, 1, 3).contiguous());            // [2, 3, 3]: batch entries 15 apart, not 9
  EXPECT_FALSE(t.view({3, 2}, {1, 3}, 0).contiguous());     // transposed
  EXPECT_FALSE(t.view({2, 3}, {0, 1}, 0).contiguous());     // broadcast rows
  EXPECT_FALSE(narrow(t, 2, 0, 2).contiguous());            // [2, 5, 2]: rows 3 apart
}

TEST_F(GpuTest, ContiguousHoldsForEmptyTensors) {
  const Tensor t = Tensor::empty(ctx(), {2, 5, 3}, DType::F32);
  const Tensor none = narrow(t, 1, 2, 0);  // [2, 0, 3] with strides [15, 3, 1]
  EXPECT_TRUE(none.contiguous());
  EXPECT_TRUE(none.to_floats().empty());
  EXPECT_EQ(none.reshape({0}).numel(), 0);
  EXPECT_TRUE(Tensor::empty(ctx(), {0, 4}, DType::F32).contiguous());
}

// A [1, 3, 4] row range of a [1, 6, 4] tensor: contiguous, so it downloads, reshapes and passes through
// contiguous() without a copy, and ops that need packed input read exactly its 12 values.
class Size1StrideTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    host = testing::random_floats(24, 41, -3.0f, 3.0f);
    whole = Tensor::from_floats(ctx(), host, {1, 6, 4});
    rows = narrow(whole, 1, 2, 3);
    want_rows.assign(host.begin() + 8, host.begin() + 20);
  }
  std::vector<float> host, want_rows;
  Tensor whole, rows;
};

TEST_F(Size1StrideTest, ViewsDownloadReshapeAndSkipTheCopy) {
  ASSERT_EQ(rows.strides()[0], 24);
  EXPECT_EQ(rows.to_floats(), want_rows);
  EXPECT_EQ(rows.reshape({3, 4}).to_floats(), want_rows);
  EXPECT_EQ(rows.reshape({3, 4}).offset(), 8);
  CommandStream s(ctx());
  const Tensor same = contiguous(s, rows);
  EXPECT_EQ(same.buffer(), whole.buffer());  // no copy recorded
  EXPECT_EQ(same.offset(), rows.offset());
}

TEST_F(Size1StrideTest, OpsReadTheViewLikeAPackedCopy) {
  const std::vector<float> w = testing::random_floats(20, 42);  // [5, 4]
  const Tensor weight = Tensor::from_floats(ctx(), w, {5, 4});
  CommandStream s(ctx());
  const Tensor act = silu(s, rows), sm = softmax(s, rows), rms = rms_norm(s, rows, 1e-6f), mm = matmul(s, rows, weight);
  // rms_norm_into writes into a row range of a larger tensor: the other rows stay as they were.
  const Tensor dst = Tensor::from_floats(ctx(), std::vector<float>(24, 7.0f), {1, 6, 4});
  rms_norm_into(s, whole.view({1, 3, 4}, {24, 4, 1}, 0), 1e-6f, {}, narrow(dst, 1, 3, 3));
  s.finish();

  std::vector<float> want_act(12), want_sm(12), want_rms(12), want_mm(15), want_dst(24, 7.0f);
  for (int r = 0; r < 3; ++r) {
    const float* x = want_rows.data() + 4 * r;
    double mx = x[0], sum = 0, sq = 0, sq_dst = 0;
    for (int c = 0; c < 4; ++c) mx = std::max<double>(mx, x[c]);
    for (int c = 0; c < 4; ++c) sum += std::exp(x[c] - mx), sq += double(x[c]) * x[c];
    for (int c = 0; c < 4; ++c) sq_dst += double(host[4 * r + c]) * host[4 * r + c];
    for (int c = 0; c < 4; ++c) {
      want_act[4 * r + c] = static_cast<float>(x[c] / (1.0 + std::exp(-double(x[c]))));
      want_sm[4 * r + c] = static_cast<float>(std::exp(x[c] - mx) / sum);
      want_rms[4 * r + c] = static_cast<float>(x[c] / std::sqrt(sq / 4 + 1e-6));
      want_dst[12 + 4 * r + c] = static_cast<float>(host[4 * r + c] / std::sqrt(sq_dst / 4 + 1e-6));
    }
    for (int n = 0; n < 5; ++n) {
      double acc = 0;
      for (int k = 0; k < 4; ++k) acc += double(x[k]) * w[4 * n + k];
      want_mm[5 * r + n] = static_cast<float>(acc);
    }
  }
  EXPECT_TRUE(testing::close_elementwise(act.to_floats(), want_act, 1e-5, 1e-6));
  EXPECT_TRUE(testing::close_elementwise(sm.to_floats(), want_sm, 1e-5, 1e-6));
  EXPECT_TRUE(testing::close_elementwise(rms.to_floats(), want_rms, 1e-5, 1e-6));
  EXPECT_TRUE(testing::close_elementwise(mm.to_floats(), want_mm, 1e-5, 1e-5));
  EXPECT_TRUE(testing::close_elementwise(dst.to_floats(), want_dst, 1e-5, 1e-6));
}

}  // namespace
}  // namespace lattice::gpu
