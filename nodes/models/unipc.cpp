#include "nodes/models/unipc.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lattice {

namespace {

// torch.linalg.solve for the small Vandermonde-like systems: Gaussian elimination with partial pivoting, float32.
std::vector<float> solve(std::vector<std::vector<float>> a, std::vector<float> b) {
  const size_t n = b.size();
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    for (size_t r = col + 1; r < n; ++r) {
      const float f = a[r][col] / a[col][col];
      for (size_t k = col; k < n; ++k) a[r][k] -= f * a[col][k];
      b[r] -= f * b[col];
    }
  }
  std::vector<float> x(n);
  for (size_t i = n; i-- > 0;) {
    float s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[i][k] * x[k];
    x[i] = s / a[i][i];
  }
  return x;
}

// The B(h) update from sigma index s0 to t, with earlier points at sigma indices `earlier` (nearest first):
// x_t = (sigma_t/sigma_s0)·x − alpha_t·(e^−h − 1)·m0 − alpha_t·B(h)·Σ rho_k·(m_k − m0)/r_k [− alpha_t·B(h)·rho_last·D].
struct Update {
  float ratio = 0, alpha_phi = 0, alpha_b = 0;  // sigma_t/sigma_s0, alpha_t·h·phi_1, alpha_t·B(h)
  std::vector<float> rks;                       // r_k for the earlier points
  std::vector<float> b;                         // the order conditions' right-hand side, one per order
  std::vector<std::vector<float>> R;            // rows rks^(j−1), rks completed with 1
};

Update update(const std::vector<float>& sigmas, const std::vector<float>& lambdas, int t, int s0,
              const std::vector<int>& earlier, int order) {
  Update u;
  const float sigma_t = sigmas[static_cast<size_t>(t)], sigma_s0 = sigmas[static_cast<size_t>(s0)];
  const float alpha_t = 1.0f - sigma_t;
  const float h = lambdas[static_cast<size_t>(t)] - lambdas[static_cast<size_t>(s0)];
  for (int si : earlier) u.rks.push_back((lambdas[static_cast<size_t>(si)] - lambdas[static_cast<size_t>(s0)]) / h);
  const float hh = -h;  // predict_x0
  const float h_phi_1 = std::expm1(hh);
  const float B = std::expm1(hh);  // bh2
  std::vector<float> r = u.rks;
  r.push_back(1.0f);
  float h_phi_k = h_phi_1 / hh - 1.0f;
  int factorial = 1;
  for (int j = 1; j <= order; ++j) {
    std::vector<float> row;
    for (float v : r) row.push_back(std::pow(v, static_cast<float>(j - 1)));
    u.R.push_back(std::move(row));
    u.b.push_back(h_phi_k * static_cast<float>(factorial) / B);
    factorial *= j + 1;
    h_phi_k = h_phi_k / hh - static_cast<float>(1.0 / factorial);
  }
  u.ratio = sigma_t / sigma_s0;
  u.alpha_phi = alpha_t * h_phi_1;
  u.alpha_b = alpha_t * B;
  return u;
}

}  // namespace

FlowMatchSchedule unipc_flow_schedule(const UniPcConfig& c, int steps) {
  if (steps < 1) throw_invalid("UniPC: steps must be at least 1");
  const double n = c.num_train_timesteps, shift = c.flow_shift;
  const std::vector<double> alphas = numpy_linspace(1.0, 1.0 / n, steps + 1);
  FlowMatchSchedule out;
  for (int k = 0; k < steps; ++k) {  // reversed, the last (sigma 0) dropped
    const double s = 1.0 - alphas[static_cast<size_t>(steps - k)];
    const double shifted = shift * s / (1.0 + (shift - 1.0) * s);
    out.sigmas.push_back(static_cast<float>(shifted));
    out.timesteps.push_back(static_cast<float>(static_cast<int64_t>(shifted * n)));  // .to(int64) truncates
  }
  out.sigmas.push_back(0.0f);
  return out;
}

UniPcPlanner::UniPcPlanner(const UniPcConfig& c, std::vector<float> sigmas) : c_(c), sigmas_(std::move(sigmas)) {
  if (c_.solver_order < 1 || c_.solver_order > 3)
    throw_invalid("UniPC: solver_order must be 1, 2 or 3, got " + std::to_string(c_.solver_order));
  if (!c_.lower_order_final && c_.solver_order > 1)
    throw_invalid("UniPC: lower_order_final = false with solver_order > 1 is not supported (the last step to sigma 0 "
                  "has an infinite log-SNR step; the reference returns NaN there)");
  if (sigmas_.size() < 2 || sigmas_.back() != 0.0f) throw_invalid("UniPC: the schedule must have at least one step and end at sigma 0");
  for (size_t i = 0; i + 1 < sigmas_.size(); ++i)
    if (!(sigmas_[i] > 0.0f && sigmas_[i] < 1.0f))
      throw_invalid("UniPC: sigma " + std::to_string(sigmas_[i]) + " at step " + std::to_string(i) +
                    " is outside (0, 1); UniPC needs a finite log-SNR (a schedule starting at sigma 1, as FLUX's and "
                    "LTX-Video's do, gives NaN in the reference too)");
  for (float s : sigmas_) lambdas_.push_back(std::log(1.0f - s) - std::log(s));
}

void UniPcPlanner::set_begin_index(int index) {
  if (started_) throw_invalid("UniPC: set_begin_index after the first step");
  if (index < 0 || index >= steps()) throw_invalid("UniPC: begin index " + std::to_string(index) + " is outside the schedule");
  index_ = index;
}

UniPcStepPlan UniPcPlanner::next() {
  const int i = index_;
  if (i >= steps()) throw_eval("UniPC: all " + std::to_string(steps()) + " steps are already taken");
  UniPcStepPlan p;
  p.convert = sigmas_[static_cast<size_t>(i)];
  const auto& off = c_.disable_corrector;
  p.correct = started_ && i > 0 && std::find(off.begin(), off.end(), i - 1) == off.end();
  if (p.correct) {
    // UniC of the previous step's order: from sigma[i-1] to sigma[i], now that the model has seen sigma[i].
    const int order = last_order_;
    std::vector<int> earlier;
    for (int k = 1; k < order; ++k) earlier.push_back(i - 1 - k);
    const Update u = update(sigmas_, lambdas_, i, i - 1, earlier, order);
    const std::vector<float> rho = order == 1 ? std::vector<float>{0.5f} : solve(u.R, u.b);
    auto& c = p.corrector;
    c.last = u.ratio;
    c.history.assign(static_cast<size_t>(order), 0.0f);
    c.history[0] = -u.alpha_phi + u.alpha_b * rho.back();
    for (int k = 1; k < order; ++k) {
      const float w = u.alpha_b * rho[static_cast<size_t>(k - 1)] / u.rks[static_cast<size_t>(k - 1)];
      c.history[static_cast<size_t>(k)] -= w;
      c.history[0] += w;
    }
    c.estimate = -u.alpha_b * rho.back();
  }
  int order = c_.lower_order_final ? std::min(c_.solver_order, steps() - i) : c_.solver_order;
  order = std::min(order, lower_order_nums_ + 1);
  {
    // UniP from sigma[i] to sigma[i+1] with this step's estimate and order − 1 earlier ones.
    std::vector<int> earlier;
    for (int k = 1; k < order; ++k) earlier.push_back(i - k);
    const Update u = update(sigmas_, lambdas_, i + 1, i, earlier, order);
    std::vector<float> rho;
    if (order == 2) {
      rho = {0.5f};
    } else if (order > 2) {
      std::vector<std::vector<float>> R(u.R.begin(), u.R.end() - 1);
      for (auto& row : R) row.pop_back();
      rho = solve(R, std::vector<float>(u.b.begin(), u.b.end() - 1));
    }
    auto& c = p.predictor;
    c.sample = u.ratio;
    c.estimate = -u.alpha_phi;
    c.history.assign(static_cast<size_t>(order - 1), 0.0f);
    for (int k = 1; k < order; ++k) {
      const float w = u.alpha_b * rho[static_cast<size_t>(k - 1)] / u.rks[static_cast<size_t>(k - 1)];
      c.history[static_cast<size_t>(k - 1)] -= w;
      c.estimate += w;
    }
  }
  last_order_ = order;
  lower_order_nums_ = std::min(lower_order_nums_ + 1, c_.solver_order);
  started_ = true;
  ++index_;
  return p;
}

UniPcStepOutputs<std::vector<float>> unipc_update_host(const UniPcStepPlan& p,
                                                       const UniPcStepInputs<std::vector<float>>& in) {
  using Terms = std::vector<std::pair<float, const std::vector<float>*>>;
  // Σ coef·tensor, left to right, a product then a sum per term (as the device op rounds).
  auto combine = [](const Terms& terms) {
    std::vector<float> out(terms.at(0).second->size(), 0.0f);
    for (const auto& [coef, t] : terms) {
      if (coef == 0.0f) continue;
      if (t->size() != out.size()) throw_invalid("UniPC: tensors of different sizes in one step");
      for (size_t i = 0; i < out.size(); ++i) out[i] += coef * (*t)[i];
    }
    return out;
  };
  auto history_terms = [&](Terms t, const std::vector<float>& coefs) {
    if (coefs.size() > in.history.size()) throw_eval("UniPC: a step uses more estimates than are stored");
    for (size_t k = 0; k < coefs.size(); ++k) t.emplace_back(coefs[k], in.history[k]);
    return t;
  };
  UniPcStepOutputs<std::vector<float>> out;
  out.estimate = combine({{1.0f, &in.sample}, {-p.convert, &in.model_output}});
  out.corrected = p.correct ? combine(history_terms({{p.corrector.last, &in.last}, {p.corrector.estimate, &out.estimate}},
                                                    p.corrector.history))
                            : in.sample;
  out.next = combine(history_terms({{p.predictor.sample, &out.corrected}, {p.predictor.estimate, &out.estimate}},
                                   p.predictor.history));
  return out;
}

UniPcStepOutputs<gpu::Tensor> unipc_update_device(gpu::CommandStream& s, const UniPcStepPlan& p,
                                                  const UniPcStepInputs<gpu::Tensor>& in) {
  gpu::MultistepResult r = gpu::multistep_update(s, p, in.sample, in.model_output, in.last, in.history);
  return {std::move(r.estimate), std::move(r.corrected), std::move(r.next)};
}

}  // namespace lattice
