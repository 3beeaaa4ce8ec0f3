#pragma once
/// Batched matrix product with optional transposes and bias (torch.matmul on [..., M, K] x [..., K, N], plus
/// a bias row as torch.baddbmm would broadcast it): C[i] = op_a(A[i]) * op_b(B[i]) + bias, op_x = transpose
/// when trans_x; bias (optional) is a contiguous f32 [N] added to every row of every entry.
///
/// A: f32 [..., M, K] ([..., K, M] when trans_a), any strides. B: [..., K, N] ([..., N, K] when trans_b) in
/// f32, f16, bf16, f8e4m3fn or f8e5m2; it must be contiguous unless it is f32 (16-bit and fp8 data cannot be
/// re-laid out by the copy op). Batch dimensions broadcast (numpy rules; a missing or size-1 dimension repeats).
/// Result: a new contiguous f32 tensor [batch..., M, N]. Accumulation is f32.
///
/// Not a shader of its own: one matmul dispatch (gpu/ops/matmul.h, whose variant selection applies) per
/// batch entry on views, written into that entry's slice of the result (matmul_into), after at most one copy
/// of each operand into the [.., M, K] / [.., N, K] layout the matmul reads. Records into the stream; nothing
/// is submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor batched_matmul(CommandStream& stream, const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false,
                      const Tensor& bias = {});

}  // namespace lattice::gpu
