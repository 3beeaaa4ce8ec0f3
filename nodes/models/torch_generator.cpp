#include "nodes/models/torch_generator.h"

#include <cmath>
#include <numbers>
#include <string>
#include <utility>

#include "core/error.h"
#include "gpu/dtype.h"
#include "gpu/ops/noise.h"

namespace lattice {

namespace {

// c10::BFloat16(float) and c10::Half(float): round to nearest even (gpu/dtype.h's conversions).
float round_bf16(float f) { return gpu::bf16_to_float(gpu::float_to_bf16(f)); }
float round_f16(float f) { return gpu::f16_to_float(gpu::float_to_f16(f)); }

int significand_bits(TorchRandnDtype d) {
  switch (d) {
    case TorchRandnDtype::Float32: return 24;
    case TorchRandnDtype::BFloat16: return 8;
    case TorchRandnDtype::Float16: return 11;
  }
  return 24;
}

// normal_fill_16: Box-Muller of x[j] and x[j + 8] (uniforms in [0, 1)) in place, with the roundings of the
// scalar type's arithmetic. BFloat16's log, sqrt, sin and cos return BFloat16 (c10/util/BFloat16-math.h);
// Half's go through float and round only where a Half is stored; arithmetic of two 16-bit values rounds.
void fill16(TorchRandnDtype d, float* x) {
  const double two_pi = 2.0 * std::numbers::pi;
  for (int j = 0; j < 8; ++j) {
    switch (d) {
      case TorchRandnDtype::Float32: {
        const float u1 = 1.0f - x[j], u2 = x[j + 8];
        const float r = std::sqrt(-2.0f * std::log(u1));
        const float theta = static_cast<float>(two_pi * static_cast<double>(u2));
        x[j] = r * std::cos(theta);
        x[j + 8] = r * std::sin(theta);
        break;
      }
      case TorchRandnDtype::BFloat16: {
        const float u1 = round_bf16(1.0f - x[j]), u2 = x[j + 8];
        const float r = round_bf16(std::sqrt(round_bf16(-2.0f * round_bf16(std::log(u1)))));
        const float theta = round_bf16(static_cast<float>(two_pi * static_cast<double>(u2)));
        // radius * cos(theta) * std + mean with std 1 and mean 0, each product and sum rounded.
        x[j] = round_bf16(round_bf16(r * round_bf16(std::cos(theta))) * 1.0f + 0.0f);
        x[j + 8] = round_bf16(round_bf16(r * round_bf16(std::sin(theta))) * 1.0f + 0.0f);
        break;
      }
      case TorchRandnDtype::Float16: {
        const float u1 = round_f16(1.0f - x[j]), u2 = x[j + 8];
        const float r = round_f16(std::sqrt(-2.0f * std::log(u1)));
        const float theta = round_f16(static_cast<float>(two_pi * static_cast<double>(u2)));
        x[j] = round_f16(r * std::cos(theta));
        x[j + 8] = round_f16(r * std::sin(theta));
        break;
      }
    }
  }
}

}  // namespace

TorchCpuGenerator::TorchCpuGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed & 0xffffffffu)) {}

uint64_t TorchCpuGenerator::random64() {
  const uint64_t hi = engine_(), lo = engine_();
  return (hi << 32) | lo;
}

std::vector<float> TorchCpuGenerator::randn(int64_t n, TorchRandnDtype dtype) {
  if (n < 0) throw_invalid("torch.randn: negative size " + std::to_string(n));
  std::vector<float> x(static_cast<size_t>(n));
  if (n >= 16) {
    const int bits = significand_bits(dtype);
    const uint32_t mask = (1u << bits) - 1u;
    const double unit = std::ldexp(1.0, -bits);
    auto uniform = [&] { return static_cast<float>(static_cast<double>(engine_() & mask) * unit); };
    for (float& v : x) v = uniform();
    for (int64_t i = 0; i + 16 <= n; i += 16) fill16(dtype, &x[static_cast<size_t>(i)]);
    if (n % 16 != 0) {
      float* last = &x[static_cast<size_t>(n - 16)];
      for (int k = 0; k < 16; ++k) last[k] = uniform();
      fill16(dtype, last);
    }
    return x;
  }
  // at::normal_distribution<double>, one value at a time, cast to the dtype.
  const double unit53 = std::ldexp(1.0, -53);
  for (float& v : x) {
    double value;
    if (has_next_double_) {
      has_next_double_ = false;
      value = next_double_;
    } else {
      const double u1 = static_cast<double>(random64() & ((uint64_t{1} << 53) - 1)) * unit53;
      const double u2 = static_cast<double>(random64() & ((uint64_t{1} << 53) - 1)) * unit53;
      const double r = std::sqrt(-2.0 * std::log1p(-u2));
      const double theta = 2.0 * std::numbers::pi * u1;
      has_next_double_ = true;
      next_double_ = r * std::sin(theta);
      value = r * std::cos(theta);
    }
    const float f = static_cast<float>(value);
    v = dtype == TorchRandnDtype::BFloat16 ? round_bf16(f) : dtype == TorchRandnDtype::Float16 ? round_f16(f) : f;
  }
  return x;
}

namespace {
constexpr std::pair<std::string_view, NoiseGenerator> kGenerators[] = {
    {"lattice", NoiseGenerator::Lattice}, {"torch", NoiseGenerator::Torch},
    {"torch_bf16", NoiseGenerator::TorchBFloat16}, {"torch_f16", NoiseGenerator::TorchFloat16}};
}  // namespace

std::vector<std::string_view> noise_generator_names() {
  std::vector<std::string_view> names;
  for (const auto& [name, g] : kGenerators) names.push_back(name);
  return names;
}

NoiseGenerator parse_noise_generator(std::string_view name) {
  std::string known;
  for (const auto& [n, g] : kGenerators) {
    if (n == name) return g;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  throw_invalid("noise generator '" + std::string(name) + "' is not one of " + known);
}

ParamDesc noise_generator_param(const std::string& reference) {
  std::vector<std::string> choices;
  for (const std::string_view n : noise_generator_names()) choices.emplace_back(n);
  return {"generator", ParamType::Choice, "lattice",
          "starting noise: lattice = the same on every device; torch = torch.randn from torch.Generator(\"cpu\")."
          "manual_seed(seed) as " + reference + " draws it (float32; torch_bf16 / torch_f16: a pipeline loaded in "
          "bfloat16 / float16), to start from the reference's latents",
          -INFINITY, INFINITY, choices};
}

gpu::Tensor starting_noise(gpu::CommandStream& s, NoiseGenerator generator, uint64_t seed, const gpu::Shape& shape) {
  if (generator == NoiseGenerator::Lattice) return gpu::normal_noise(s, shape, seed);
  const TorchRandnDtype dtype = generator == NoiseGenerator::TorchBFloat16  ? TorchRandnDtype::BFloat16
                                : generator == NoiseGenerator::TorchFloat16 ? TorchRandnDtype::Float16
                                                                             : TorchRandnDtype::Float32;
  return gpu::Tensor::from_floats(s.context(), TorchCpuGenerator(seed).randn(gpu::numel(shape), dtype), shape);
}

}  // namespace lattice
