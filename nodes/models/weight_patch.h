#pragma once
/// Weight patches: changes to checkpoint tensors merged into them when they are uploaded (LoRA and LyCORIS
/// adapters, nodes/models/lora.h), and the row-by-row arithmetic that merges them. Pure host code; no device.
///
/// A patched tensor is viewed as a matrix [rows, cols]: rows = its first dimension (1 for a scalar), cols = the
/// product of the others (a convolution kernel [out, in, k...] is [out, in·k...], a vector [n] is [n, 1]).
/// Every patch adds scale · ΔW to it, ΔW [R, cols] built from factors a, b, c, d (f32 or any dtype HostTensor
/// converts, each read as a matrix [first dimension, the rest]):
///   Product   ΔW = a·b, a [R, rank], b [rank, cols] (LoRA); with b empty ΔW = a, a [R, cols] (a full difference)
///   Hadamard  ΔW = (a·b) ⊙ (c·d) (LoHa)
///   Kronecker ΔW = kron(A, B), A = a·b or a when b is empty, B = c·d or c when d is empty (LoKr); R = rows(A)·rows(B)
/// Row o of the target gains row (o + row_offset) mod R of ΔW, so that a patch can cover a row range of a fused
/// adapter (FLUX qkv split over to_q/to_k/to_v) or a rotation of it (halves swapped) without copying its factors.
/// Shapes are checked when a patch is made (nodes/models/lora.cpp); merging re-checks only the column count.
///
/// DoRA: a patch with a `magnitude` (LyCORIS/ComfyUI `dora_scale`) replaces the tensor rather than adding to it:
///   V = W + scale·ΔW,  W' = W + strength·(m ⊙ V / (‖V‖ + ε) − W),  ε = FLT_EPSILON,
/// W being the tensor as the patches before this one left it (ComfyUI's order). The norm runs along the axis the
/// magnitude's shape names, as ComfyUI and LyCORIS tell them apart: m with R elements and first dimension R is one
/// value per row, ‖V‖ the norm of each row (PEFT DoRA, LyCORIS wd_on_out); m [1, g, 1...] is one value per input
/// channel, ‖V‖ the norm over all rows of each channel's cols/g columns (LyCORIS' default). A per-row norm needs
/// only the row being merged; a per-channel norm needs every row first, which PatchRows::prepare reads.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/types/tensor.h"

namespace lattice {

struct WeightPatch {
  enum class Kind { Product, Hadamard, Kronecker };
  std::string target;  ///< checkpoint name of the tensor, e.g. "transformer_blocks.0.attn.to_q.weight"
  HostTensor up, down;  ///< a, b
  float scale = 1;
  Kind kind = Kind::Product;
  HostTensor up2, down2;  ///< c, d (Hadamard, Kronecker)
  int64_t row_offset = 0;
  HostTensor magnitude;  ///< DoRA magnitude m; empty for an additive patch
  float strength = 1;    ///< DoRA only: how far W' moves from W towards the decomposed weight (scale excludes it)

  /// Rows R of ΔW.
  int64_t delta_rows() const;
  /// Columns of ΔW.
  int64_t delta_cols() const;
  /// DoRA: the magnitude holds one value per row of ΔW (else one per input channel).
  bool magnitude_per_row() const;
};
using WeightPatches = std::vector<WeightPatch>;

/// The patches of one tensor with their factors decoded to f32 once, adding their rows to rows of the tensor.
/// Not thread-safe (holds scratch rows); make one per merge.
class PatchRows {
 public:
  /// `cols` is the target's column count; a patch of other width is Error(Evaluation) naming it.
  PatchRows(const std::vector<const WeightPatch*>& patches, int64_t cols);
  ~PatchRows();
  PatchRows(const PatchRows&) = delete;
  PatchRows& operator=(const PatchRows&) = delete;
  /// Reads the whole tensor for the per-channel norms of DoRA patches, once per such patch (none without):
  /// `read(o, row)` must fill row[0, cols) with row o of the unpatched tensor. Call before the first add().
  void prepare(int64_t rows, const std::function<void(int64_t o, float* row)>& read);
  /// Merges the patches into row o (the header's formulas): row[0, cols) += Σ scale · ΔW[(o + row_offset) mod R]
  /// for additive patches, in order with DoRA ones.
  void add(float* row, int64_t o);

 private:
  struct Decoded;
  // Adds a · ΔW[s] of one patch to out[0, cols).
  void add_delta(const Decoded& p, int64_t s, float* out, float a);
  // Merges patches [0, end) into row o.
  void merge(float* row, int64_t o, size_t end);
  std::vector<Decoded> decoded_;
  int64_t cols_;
  std::vector<float> t1_, t2_, v_;
};

/// W + Σ scale·ΔW on the host, W [rows, cols] as f32 values.
void apply_patches(std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<const WeightPatch*>& patches);

/// The [rows, cols] matrix view of a tensor of this shape (see the header comment).
std::pair<int64_t, int64_t> matrix_view(const std::vector<int64_t>& shape);

}  // namespace lattice
