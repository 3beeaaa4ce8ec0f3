#pragma once
/// UniPC multistep (predictor UniP + corrector UniC, B(h) = e^h - 1 "bh2") for flow-prediction models, as diffusers'
/// UniPCMultistepScheduler computes it with prediction_type "flow_prediction" and predict_x0 (v0.33; the WanPipeline
/// scheduler): alpha = 1 - sigma, log-SNR lambda = log(alpha) - log(sigma), the model output v converted to the data
/// estimate x0 = x - sigma·v, warm-up and lower_order_final as there. Scalars are float32 like the reference.
///
/// Every step is a linear combination of the sample, the model output, the previous sample and the stored data
/// estimates, so UniPcSolver<T> works on any tensor type given a `combine` (Σ coef·tensor): host vectors for tests
/// and fixtures, gpu::Tensor in the samplers.
///
/// Not supported, because the reference itself returns NaN on them with flow sigmas ending in 0: solver_type "bh1",
/// lower_order_final = false with solver_order > 1, and a schedule starting at sigma 1 (infinite log-SNR; the FLUX
/// and LTX-Video pipeline schedules do), which the solver refuses with Error(InvalidInput).

#include <deque>
#include <functional>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/tensor.h"
#include "nodes/models/flow_match.h"

namespace lattice {

struct UniPcConfig {
  int num_train_timesteps = 1000;
  double flow_shift = 1.0;  ///< Wan 2.1: 3.0 at 480p, 5.0 at 720p
  int solver_order = 2;     ///< 1..4; 2 for guided sampling
  bool lower_order_final = true;
  std::vector<int> disable_corrector;  ///< step indices whose corrector is skipped
};

/// set_timesteps(steps) with use_flow_sigmas and final_sigmas_type "zero": sigmas = flow_shift-shifted
/// 1 - linspace(1, 1/N, steps + 1), reversed, last dropped, then 0 appended (steps + 1 values, float64 cast to
/// float32); timesteps = sigma·N truncated to integers as the reference's int64 (steps values).
FlowMatchSchedule unipc_flow_schedule(const UniPcConfig& c, int steps);

/// The coefficients of one step (see UniPcSolver::step): with x the sample, v the model output, m = x - convert·v
/// the data estimate, H[k] the estimates of earlier steps (H[0] the previous one) and L the previous step's
/// (corrected) sample:
///   corrected  xc = last·L + Σ_k history[k]·H[k] + estimate·m          (when `correct`; otherwise xc = x)
///   next       x' = sample·xc + estimate·m + Σ_k history[k]·H[k]
struct UniPcStepPlan {
  float convert = 0;
  bool correct = false;
  struct Combination {
    float last = 0, sample = 0, estimate = 0;
    std::vector<float> history;
  } corrector, predictor;
};

/// The order bookkeeping and coefficient arithmetic, independent of the tensor type.
class UniPcPlanner {
 public:
  /// Throws Error(InvalidInput) for an unsupported config or schedule (see the header comment). `sigmas` has
  /// steps + 1 values, the last 0.
  UniPcPlanner(const UniPcConfig& c, std::vector<float> sigmas);
  int steps() const { return static_cast<int>(sigmas_.size()) - 1; }
  int step_index() const { return index_; }
  /// Start at step `index` (image-to-video refinement starting mid-schedule); only before the first step.
  void set_begin_index(int index);
  /// The plan of the current step; advances the step index and the order state.
  UniPcStepPlan next();

 private:
  UniPcConfig c_;
  std::vector<float> sigmas_, lambdas_;
  int index_ = 0, lower_order_nums_ = 0, last_order_ = 0;
  bool started_ = false;
};

/// The multistep state over tensors of type T.
template <class T>
class UniPcSolver {
 public:
  using Terms = std::vector<std::pair<float, const T*>>;
  using Combine = std::function<T(const Terms&)>;

  UniPcSolver(const UniPcConfig& c, std::vector<float> sigmas, Combine combine)
      : planner_(c, std::move(sigmas)), combine_(std::move(combine)), order_(c.solver_order) {}
  UniPcPlanner& planner() { return planner_; }

  /// One step from sigmas[i] to sigmas[i + 1] given the model output at `sample`; returns the next sample.
  T step(const T& model_output, const T& sample) {
    const UniPcStepPlan p = planner_.next();
    T estimate = combine_({{1.0f, &sample}, {-p.convert, &model_output}});
    T corrected = sample;
    if (p.correct) {
      Terms t{{p.corrector.last, &last_}, {p.corrector.estimate, &estimate}};
      for (size_t k = 0; k < p.corrector.history.size(); ++k) t.emplace_back(p.corrector.history[k], &history_[k]);
      corrected = combine_(t);
    }
    history_.push_front(std::move(estimate));
    if (static_cast<int>(history_.size()) > order_) history_.pop_back();
    last_ = corrected;
    // The predictor's history starts at the estimate just stored: H[0] is this step's.
    Terms t{{p.predictor.sample, &corrected}, {p.predictor.estimate, &history_[0]}};
    for (size_t k = 0; k < p.predictor.history.size(); ++k) t.emplace_back(p.predictor.history[k], &history_[k + 1]);
    return combine_(t);
  }

 private:
  UniPcPlanner planner_;
  Combine combine_;
  int order_;
  std::deque<T> history_;
  T last_{};
};

/// Σ coef·tensor over host vectors of equal size (tests, fixtures).
std::vector<float> unipc_combine_host(const UniPcSolver<std::vector<float>>::Terms& terms);

/// Σ coef·tensor on the device, recorded on `s` (the samplers); terms with coefficient 0 are skipped, and a lone
/// term with coefficient 1 is returned as it is (the result may share storage with an input: do not write into it).
gpu::Tensor unipc_combine_device(gpu::CommandStream& s, const UniPcSolver<gpu::Tensor>::Terms& terms);

}  // namespace lattice
