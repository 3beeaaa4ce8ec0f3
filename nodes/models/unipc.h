#pragma once
/// UniPC multistep (predictor UniP + corrector UniC, B(h) = e^h - 1 "bh2") for flow-prediction models, as diffusers'
/// UniPCMultistepScheduler computes it with prediction_type "flow_prediction" and predict_x0 (v0.33; the WanPipeline
/// scheduler): alpha = 1 - sigma, log-SNR lambda = log(alpha) - log(sigma), the model output v converted to the data
/// estimate x0 = x - sigma·v, warm-up and lower_order_final as there. Scalars are float32 like the reference.
///
/// Every step is a linear combination of the sample, the model output, the previous sample and the stored data
/// estimates, so UniPcSolver<T> works on any tensor type given an `update` that applies one step's plan: host
/// vectors for tests and fixtures (unipc_update_host), gpu::Tensor in the samplers (unipc_update_device: one
/// dispatch per step, gpu/ops/multistep.h).
///
/// Not supported, because the reference itself returns NaN on them with flow sigmas ending in 0: solver_type "bh1",
/// lower_order_final = false with solver_order > 1, and a schedule starting at sigma 1 (infinite log-SNR; the FLUX
/// and LTX-Video pipeline schedules do), which the solver refuses with Error(InvalidInput).

#include <deque>
#include <functional>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/ops/multistep.h"
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
///   corrected  xc = corrector.last·L + corrector.estimate·m + Σ_k corrector.history[k]·H[k]   (when `correct`;
///                   otherwise xc = x)
///   next       x' = predictor.sample·xc + predictor.estimate·m + Σ_k predictor.history[k]·H[k]
/// which is exactly what the device op computes (gpu/ops/multistep.h), so the plan is its coefficients.
using UniPcStepPlan = gpu::MultistepCoefficients;

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

/// One step's tensors (history[0] the newest stored estimate; `last` is undefined before the first step) and
/// results (`corrected` becomes the next step's `last`).
template <class T>
struct UniPcStepInputs {
  const T& sample;
  const T& model_output;
  const T& last;
  std::vector<const T*> history;
};
template <class T>
struct UniPcStepOutputs {
  T estimate, corrected, next;
};

/// The multistep state over tensors of type T.
template <class T>
class UniPcSolver {
 public:
  using Update = std::function<UniPcStepOutputs<T>(const UniPcStepPlan&, const UniPcStepInputs<T>&)>;

  UniPcSolver(const UniPcConfig& c, std::vector<float> sigmas, Update update)
      : planner_(c, std::move(sigmas)), update_(std::move(update)), order_(c.solver_order) {}
  UniPcPlanner& planner() { return planner_; }

  /// One step from sigmas[i] to sigmas[i + 1] given the model output at `sample`; returns the next sample.
  T step(const T& model_output, const T& sample) {
    const UniPcStepPlan p = planner_.next();
    UniPcStepInputs<T> in{sample, model_output, last_, {}};
    for (const T& h : history_) in.history.push_back(&h);
    UniPcStepOutputs<T> out = update_(p, in);
    history_.push_front(std::move(out.estimate));
    if (static_cast<int>(history_.size()) > order_) history_.pop_back();
    last_ = std::move(out.corrected);
    return std::move(out.next);
  }

 private:
  UniPcPlanner planner_;
  Update update_;
  int order_;
  std::deque<T> history_;
  T last_{};
};

/// One step on host vectors of equal size (tests, fixtures): the reference arithmetic, each sum rounded term by
/// term in the plan's order, zero coefficients skipped.
UniPcStepOutputs<std::vector<float>> unipc_update_host(const UniPcStepPlan& plan,
                                                       const UniPcStepInputs<std::vector<float>>& in);

/// One step on the device, recorded on `s` as one dispatch (gpu::multistep_update; the samplers). `corrected` is
/// the sample itself when the step has no corrector (do not write into it).
UniPcStepOutputs<gpu::Tensor> unipc_update_device(gpu::CommandStream& s, const UniPcStepPlan& plan,
                                                  const UniPcStepInputs<gpu::Tensor>& in);

}  // namespace lattice
