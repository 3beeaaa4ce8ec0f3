#pragma once
/// Flow-matching Euler scheduler, as diffusers' FlowMatchEulerDiscreteScheduler computes it (v0.33),
/// including its float32/float64 mix so that sigmas match the reference bit for bit where it can:
/// pipeline sigmas linspace(1, 1/n, n), dynamic shifting from the image sequence length (FLUX-dev, LTX-Video),
/// static shift (FLUX-schnell, Wan), shift_terminal stretching (LTX-Video), and the Euler step; and where a run that
/// refines given latents (image/video-to-video at a strength) starts.

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "gpu/tensor.h"

namespace lattice {

namespace gpu {
class CommandStream;
}

struct FlowMatchConfig {
  int num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = false;
  double base_shift = 0.5, max_shift = 1.15;
  int base_image_seq_len = 256, max_image_seq_len = 4096;
  std::optional<double> shift_terminal;
  bool operator==(const FlowMatchConfig&) const = default;
};

/// From a diffusers FlowMatchEulerDiscreteScheduler config (scheduler_config.json). Options this schedule does
/// not implement (karras, exponential or beta sigmas, invert_sigmas, a time_shift_type other than exponential)
/// are refused with Error(InvalidInput) naming the option, never ignored; so are values it cannot use (no training
/// timesteps, a shift <= 0, an empty sequence-length range for dynamic shifting, shift_terminal outside [0, 1)).
FlowMatchConfig flow_match_config_from_json(const nlohmann::json& j);
/// The config as scheduler_config.json keys (what flow_match_config_from_json reads back).
nlohmann::json flow_match_config_to_json(const FlowMatchConfig& c);

struct FlowMatchSchedule {
  std::vector<float> sigmas;     ///< n + 1 values, the last 0
  std::vector<float> timesteps;  ///< n values, sigma * num_train_timesteps
};

/// numpy.linspace(start, stop, num) in float64: start + i·step, the last value exactly stop.
std::vector<double> numpy_linspace(double start, double stop, int num);

/// mu for dynamic shifting: linear in the image sequence length (extrapolates past max_image_seq_len).
double flow_match_mu(const FlowMatchConfig& c, int image_seq_len);

/// The sigmas a pipeline passes: linspace(1, 1/n, n) in float64, cast to float32.
std::vector<float> flow_match_pipeline_sigmas(int steps);

/// set_timesteps with explicit sigmas (what FLUX, LTX and Wan pipelines do). mu is required when
/// config.use_dynamic_shifting.
FlowMatchSchedule flow_match_schedule(const FlowMatchConfig& c, const std::vector<float>& sigmas, std::optional<double> mu);

/// set_timesteps(num_inference_steps=n) without sigmas: the construction-time training schedule.
FlowMatchSchedule flow_match_schedule_default(const FlowMatchConfig& c, int steps, std::optional<double> mu);

/// One Euler step in place: x += (sigma_next - sigma) * v, in float32.
void flow_match_euler_step(std::vector<float>& x, const std::vector<float>& v, float sigma, float sigma_next);

/// The first step of a run that refines given latents at `strength` in (0, 1], as diffusers' get_timesteps in the
/// LTX-Video and Wan video-to-video pipelines: the last min(int(steps·strength), steps) steps are taken, so 0 at
/// strength 1 and `steps` (nothing left to take) when steps·strength < 1. (FluxImg2ImgPipeline rounds otherwise:
/// flux_start_step.)
int flow_match_start_step(int steps, float strength);

/// The starting point of such a run at the first sigma taken, sigma·noise + (1 − sigma)·x0, in f32
/// (FlowMatchEulerDiscreteScheduler.scale_noise; UniPC's add_noise with flow sigmas is the same). Tensors of one
/// shape; recorded on `s`.
gpu::Tensor flow_match_noised(gpu::CommandStream& s, const gpu::Tensor& noise, const gpu::Tensor& x0, float sigma);

}  // namespace lattice
