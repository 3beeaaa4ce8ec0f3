#include "gpu/ops/batched_matmul.h"

#include <string>
#include <utility>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/matmul.h"

namespace lattice::gpu {

namespace {

/// The view with its last two dimensions swapped.
Tensor swap_last(const Tensor& x) {
  std::vector<int> dims(static_cast<size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) dims[static_cast<size_t>(i)] = i;
  std::swap(dims[dims.size() - 1], dims[dims.size() - 2]);
  return permute(x, dims);
}

}  // namespace

Tensor batched_matmul(CommandStream& s, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& bias) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("batched_matmul of A " + a.describe() + (trans_a ? "ᵀ" : "") + " and B " + b.describe() +
                      (trans_b ? "ᵀ" : "") + ": " + why);
  };
  if (a.rank() < 2 || b.rank() < 2) fail("both operands need at least 2 dimensions");
  if (a.dtype() != DType::F32) fail("A must be f32");
  // The matmul reads A as [.., M, K] and B as [.., N, K], row-major: one copy each at most.
  const Tensor av = trans_a ? swap_last(a) : a;
  const Tensor bv = trans_b ? b : swap_last(b);
  if (!bv.contiguous() && b.dtype() != DType::F32)
    fail("a 16-bit or fp8 B must be stored contiguously as [..., N, K] (pass it with trans_b)");
  const int64_t M = av.dim(-2), K = av.dim(-1), N = bv.dim(-2);
  if (bv.dim(-1) != K) fail("inner dimensions differ (" + std::to_string(K) + " and " + std::to_string(bv.dim(-1)) + ")");
  if (bias.defined() && (bias.dtype() != DType::F32 || bias.rank() != 1 || bias.dim(0) != N || !bias.contiguous()))
    fail("the bias must be a contiguous f32 [" + std::to_string(N) + "], not " + bias.describe());

  // Broadcast batch shape, aligned from the right.
  const size_t ra = static_cast<size_t>(a.rank()) - 2, rb = static_cast<size_t>(b.rank()) - 2, r = std::max(ra, rb);
  Shape batch(r, 1);
  auto dim_of = [](const Tensor& t, size_t rank, size_t i, size_t r) -> int64_t {
    return i + rank < r ? 1 : t.dim(static_cast<int>(i + rank - r));
  };
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = dim_of(av, ra, i, r), db = dim_of(bv, rb, i, r);
    if (da != db && da != 1 && db != 1) fail("batch dimensions do not broadcast");
    batch[i] = std::max(da, db);
  }
  const Tensor ac = contiguous(s, av), bc = contiguous(s, bv);
  const int64_t count = numel(batch);
  Shape shape = batch;
  shape.push_back(M);
  shape.push_back(N);
  // Each entry's product is written into its [M, N] slice of the result: no concatenation afterwards.
  const Tensor out = Tensor::empty(s.context(), shape, DType::F32);
  if (out.numel() == 0) return out;
  Shape idx(r, 0);
  for (int64_t n = 0; n < count; ++n) {
    // Offsets of this batch entry in each operand (a size-1 dimension repeats).
    int64_t oa = ac.offset(), ob = bc.offset();
    for (size_t i = 0; i < r; ++i) {
      if (i + ra >= r && dim_of(ac, ra, i, r) > 1) oa += idx[i] * ac.strides()[i + ra - r];
      if (i + rb >= r && dim_of(bc, rb, i, r) > 1) ob += idx[i] * bc.strides()[i + rb - r];
    }
    matmul_into(s, ac.view({M, K}, {K, 1}, oa), bc.view({N, K}, {K, 1}, ob), bias, out.view({M, N}, {N, 1}, n * M * N));
    for (size_t i = r; i-- > 0;) {  // next multi-index, last dimension fastest
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

}  // namespace lattice::gpu
