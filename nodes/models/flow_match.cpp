#include "nodes/models/flow_match.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"

namespace lattice {

nlohmann::json flow_match_config_to_json(const FlowMatchConfig& c) {
  nlohmann::json j = {{"num_train_timesteps", c.num_train_timesteps}, {"shift", c.shift},
                      {"use_dynamic_shifting", c.use_dynamic_shifting}, {"base_shift", c.base_shift},
                      {"max_shift", c.max_shift}, {"base_image_seq_len", c.base_image_seq_len},
                      {"max_image_seq_len", c.max_image_seq_len}};
  if (c.shift_terminal) j["shift_terminal"] = *c.shift_terminal;
  return j;
}

namespace {

// The shifts in float32 arithmetic, as numpy does for a float32 array with Python-float scalars.
float time_shift_exponential(double mu, float t) {
  const float e = static_cast<float>(std::exp(mu));
  const float a = 1.0f / t - 1.0f;  // (1/t - 1) ** 1.0
  return e / (e + a);
}

float static_shift(float shift, float s) { return shift * s / (1.0f + (shift - 1.0f) * s); }

void stretch_to_terminal(std::vector<float>& s, double terminal) {
  const float last = 1.0f - s.back();
  // numpy: float32 scalar / Python float -> float64; then the float32 array divides by it in float32.
  const float scale = static_cast<float>(static_cast<double>(last) / (1.0 - terminal));
  for (auto& v : s) v = 1.0f - (1.0f - v) / scale;
}

FlowMatchSchedule finish(const FlowMatchConfig& c, std::vector<float> s) {
  if (c.shift_terminal) stretch_to_terminal(s, *c.shift_terminal);
  FlowMatchSchedule out;
  out.timesteps.reserve(s.size());
  for (float v : s) out.timesteps.push_back(v * static_cast<float>(c.num_train_timesteps));
  out.sigmas = std::move(s);
  out.sigmas.push_back(0.0f);
  return out;
}

}  // namespace

std::vector<double> numpy_linspace(double start, double stop, int num) {
  std::vector<double> y(static_cast<size_t>(num));
  const double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  for (int i = 0; i < num; ++i) y[static_cast<size_t>(i)] = static_cast<double>(i) * step + start;
  if (num > 1) y.back() = stop;
  return y;
}

FlowMatchConfig flow_match_config_from_json(const nlohmann::json& j) {
  FlowMatchConfig c;
  c.num_train_timesteps = j.value("num_train_timesteps", 1000);
  c.shift = j.value("shift", 1.0);
  c.use_dynamic_shifting = j.value("use_dynamic_shifting", false);
  c.base_shift = j.value("base_shift", 0.5);
  c.max_shift = j.value("max_shift", 1.15);
  c.base_image_seq_len = j.value("base_image_seq_len", 256);
  c.max_image_seq_len = j.value("max_image_seq_len", 4096);
  if (j.contains("shift_terminal") && !j["shift_terminal"].is_null()) c.shift_terminal = j["shift_terminal"].get<double>();
  for (const char* unsupported : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas", "stochastic_sampling"})
    if (j.value(unsupported, false)) throw_invalid(std::string("FlowMatchEulerDiscreteScheduler: '") + unsupported + "' is not supported");
  if (j.value("time_shift_type", std::string("exponential")) != "exponential")
    throw_invalid("FlowMatchEulerDiscreteScheduler: only time_shift_type 'exponential' is supported");
  if (c.num_train_timesteps < 1 || !(c.shift > 0.0))
    throw_invalid("FlowMatchEulerDiscreteScheduler: num_train_timesteps must be at least 1 and shift positive");
  if (c.use_dynamic_shifting && (c.base_image_seq_len < 1 || c.max_image_seq_len <= c.base_image_seq_len))
    throw_invalid("FlowMatchEulerDiscreteScheduler: dynamic shifting needs 1 <= base_image_seq_len < max_image_seq_len");
  if (c.shift_terminal && !(*c.shift_terminal >= 0.0 && *c.shift_terminal < 1.0))
    throw_invalid("FlowMatchEulerDiscreteScheduler: shift_terminal must be in [0, 1)");
  return c;
}

double flow_match_mu(const FlowMatchConfig& c, int image_seq_len) {
  const double m = (c.max_shift - c.base_shift) / static_cast<double>(c.max_image_seq_len - c.base_image_seq_len);
  const double b = c.base_shift - m * c.base_image_seq_len;
  return image_seq_len * m + b;
}

std::vector<float> flow_match_pipeline_sigmas(int steps) {
  std::vector<float> out;
  for (double v : numpy_linspace(1.0, 1.0 / steps, steps)) out.push_back(static_cast<float>(v));
  return out;
}

FlowMatchSchedule flow_match_schedule(const FlowMatchConfig& c, const std::vector<float>& sigmas, std::optional<double> mu) {
  if (sigmas.empty()) throw std::invalid_argument("flow-match schedule needs at least one sigma");
  std::vector<float> s = sigmas;
  if (c.use_dynamic_shifting) {
    if (!mu) throw std::invalid_argument("flow-match schedule with dynamic shifting needs mu");
    for (auto& v : s) v = time_shift_exponential(*mu, v);
  } else {
    for (auto& v : s) v = static_shift(static_cast<float>(c.shift), v);
  }
  return finish(c, std::move(s));
}

FlowMatchSchedule flow_match_schedule_default(const FlowMatchConfig& c, int steps, std::optional<double> mu) {
  // Construction: training sigmas t/N for t = N..1 in float32, statically shifted unless dynamic.
  const float n = static_cast<float>(c.num_train_timesteps);
  auto train = [&](float t) {
    float s = t / n;
    return c.use_dynamic_shifting ? s : static_shift(static_cast<float>(c.shift), s);
  };
  const double sigma_max = train(n), sigma_min = train(1.0f);
  // set_timesteps: float64 from here to the cast, the static shift applied again.
  std::vector<float> s;
  for (double t : numpy_linspace(sigma_max * c.num_train_timesteps, sigma_min * c.num_train_timesteps, steps)) {
    double v = t / c.num_train_timesteps;
    if (c.use_dynamic_shifting) {
      if (!mu) throw std::invalid_argument("flow-match schedule with dynamic shifting needs mu");
      v = std::exp(*mu) / (std::exp(*mu) + (1.0 / v - 1.0));
    } else {
      v = c.shift * v / (1.0 + (c.shift - 1.0) * v);
    }
    s.push_back(static_cast<float>(v));
  }
  return finish(c, std::move(s));
}

void flow_match_euler_step(std::vector<float>& x, const std::vector<float>& v, float sigma, float sigma_next) {
  if (x.size() != v.size()) throw std::invalid_argument("Euler step: sample and model output differ in size");
  const float dt = sigma_next - sigma;
  for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] + dt * v[i];
}

int flow_match_start_step(int steps, float strength) {
  const int taken = std::min(static_cast<int>(static_cast<float>(steps) * strength), steps);
  return std::max(steps - taken, 0);
}

gpu::Tensor flow_match_noised(gpu::CommandStream& s, const gpu::Tensor& noise, const gpu::Tensor& x0, float sigma) {
  return gpu::axpby(s, sigma, noise, 1.0f - sigma, x0);
}

}  // namespace lattice
