#pragma once
/// Packs a matrix that lives on the device into matmul weights in the packed order (gpu/ops/matmul.h
/// MatmulWeights), so that a product with an activation, not a checkpoint weight, runs at the packed texel
/// kernel's rate: attention's K (scores = Q K^T, B = K as it is) and V (O = P V, B = V transposed).
///
/// x: an f32 matrix view [rows, cols] with any non-negative strides (e.g. one head of split_heads()).
/// B = x ([N = rows, K = cols]) or, with `transpose`, x^T ([N = cols, K = rows]), zero-padded to `out`'s
/// shape. out: a contiguous f32 [N', K'] with N' >= N, K' >= K, K' a multiple of 4 and an offset that is a
/// multiple of 4 (e.g. a reused scratch buffer); its elements end in packed order and only matmul reads
/// them as MatmulWeights{out, true}. Records one dispatch; nothing is submitted. Equal to
/// pack_matmul_weights() of the padded row-major B (tests/gpu/ops/matmul_pack_test.cpp).

#include "gpu/ops/matmul.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

void pack_matmul_b_into(CommandStream& stream, const Tensor& x, bool transpose, const Tensor& out);

}  // namespace lattice::gpu
