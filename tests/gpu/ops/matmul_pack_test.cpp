#include "gpu/ops/matmul_pack.h"

#include <span>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// The device packing of a strided view equals pack_matmul_weights() of the same B, laid out row-major and
// zero-padded to the output's shape on the host.
struct Case {
  int64_t rows, cols;  // the view
  int64_t row_stride, col_stride, offset;
  bool transpose;
  int64_t n_out, k_out;
};

void check(Context& ctx, const Case& c) {
  const int64_t span = c.offset + (c.rows - 1) * c.row_stride + (c.cols - 1) * c.col_stride + 1;
  const std::vector<float> data = testing::random_floats(static_cast<size_t>(span), 71);
  const Tensor x = Tensor::from_floats(ctx, data, {span}).view({c.rows, c.cols}, {c.row_stride, c.col_stride}, c.offset);
  std::vector<float> plain(static_cast<size_t>(c.n_out * c.k_out), 0.0f);
  const int64_t n = c.transpose ? c.cols : c.rows, k = c.transpose ? c.rows : c.cols;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t r = c.transpose ? j : i, col = c.transpose ? i : j;
      plain[static_cast<size_t>(i * c.k_out + j)] = data[static_cast<size_t>(c.offset + r * c.row_stride + col * c.col_stride)];
    }
  std::vector<float> expected(plain.size());
  pack_matmul_weights(std::as_bytes(std::span(plain)), std::as_writable_bytes(std::span(expected)), c.n_out, c.k_out,
                      DType::F32);
  // A scratch buffer with something in front of the output and stale values in it: every element is written.
  const int64_t lead = 8;
  const Tensor scratch =
      Tensor::from_floats(ctx, std::vector<float>(static_cast<size_t>(lead + c.n_out * c.k_out), 7.0f), {lead + c.n_out * c.k_out});
  const Tensor out = scratch.view({c.n_out, c.k_out}, {c.k_out, 1}, lead);
  CommandStream s(ctx);
  pack_matmul_b_into(s, x, c.transpose, out);
  s.finish();
  const std::vector<float> got = scratch.to_floats();
  for (int64_t i = 0; i < lead; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], 7.0f) << "wrote before the output";
  const std::vector<float> packed(got.begin() + lead, got.end());
  EXPECT_EQ(packed, expected) << c.rows << "x" << c.cols << (c.transpose ? " transposed" : "") << " into " << c.n_out
                              << "x" << c.k_out;
}

class MatmulPackTest : public GpuTest {};

TEST_F(MatmulPackTest, EqualsTheHostPackingOfTheSameMatrix) {
  // One head of a split-heads [1, L, 3 * 64] tensor (rows 192 apart, offset of head 1), as K and as V^T; several
  // 128-row column blocks with a narrow last one; lengths that are no multiple of 4 (zero padding).
  for (const Case& c : std::vector<Case>{{300, 64, 192, 1, 64, false, 300, 64},
                                         {300, 64, 192, 1, 64, true, 64, 300},
                                         {301, 64, 192, 1, 64, false, 304, 64},
                                         {301, 64, 192, 1, 64, true, 64, 304},
                                         {37, 20, 20, 1, 0, true, 20, 40},
                                         {130, 12, 1, 130, 3, false, 132, 16}})
    check(ctx(), c);
}

TEST_F(MatmulPackTest, RejectsOutputsThatCannotHoldB) {
  const Tensor x = Tensor::from_floats(ctx(), std::vector<float>(6 * 8, 1.0f), {6, 8});
  CommandStream s(ctx());
  EXPECT_THROW(pack_matmul_b_into(s, x, false, Tensor::empty(ctx(), {6, 4}, DType::F32)), DeviceError);
  EXPECT_THROW(pack_matmul_b_into(s, x, true, Tensor::empty(ctx(), {8, 6}, DType::F32)), DeviceError) << "K 6";
  EXPECT_THROW(pack_matmul_b_into(s, x, false, Tensor::empty(ctx(), {6, 8}, DType::F16)), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
