#pragma once
/// One step of a predictor-corrector linear multistep sampler (UniPC; nodes/models/unipc.h) in one dispatch:
///   estimate   m  = x - convert·v
///   corrected  xc = corrector.last·last + corrector.estimate·m + Σ_k corrector.history[k]·history[k]
///                   (when `correct`; otherwise xc is x itself)
///   next       y  = predictor.sample·xc + predictor.estimate·m + Σ_k predictor.history[k]·history[k]
/// Each sum is rounded term by term in that order, terms with coefficient 0 skipped: exactly what separate
/// multiply and add ops give. history[0] is the newest stored estimate.
///
/// Inputs: f32 tensors of one shape, contiguous (any offset); `last` only read when correcting; at most
/// kMultistepMaxHistory history tensors, as many as the longer coefficient list. Outputs: new contiguous f32
/// tensors (corrected is `x` when not correcting). Records one dispatch; nothing is submitted.

#include <span>
#include <vector>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

inline constexpr size_t kMultistepMaxHistory = 4;

struct MultistepCoefficients {
  float convert = 0;
  bool correct = false;
  struct Combination {
    float last = 0, sample = 0, estimate = 0;  ///< last: corrector only; sample: predictor only
    std::vector<float> history;
  } corrector, predictor;
};

struct MultistepResult {
  Tensor estimate, corrected, next;
};

MultistepResult multistep_update(CommandStream& stream, const MultistepCoefficients& c, const Tensor& x, const Tensor& v,
                                 const Tensor& last, std::span<const Tensor* const> history);

}  // namespace lattice::gpu
