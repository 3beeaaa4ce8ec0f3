#pragma once
/// torch.randn as PyTorch draws it on the CPU from a seeded torch.Generator("cpu") — the generator diffusers'
/// documentation passes (`generator=torch.Generator("cpu").manual_seed(seed)`) when an image or video is to be
/// reproduced. With it, a Lattice graph starts from the very latents the reference pipeline starts from for the
/// same seed, size and dtype: FluxPipeline draws them in the pipeline's dtype (bfloat16 as usually loaded),
/// WanPipeline and LTXPipeline in float32.
///
/// The algorithm (ATen's CPU normal kernel, PyTorch 1.13 to 2.x): MT19937 seeded with the low 32 bits of the
/// seed. A draw of n >= 16 values takes n uniforms u = (32-bit output & (2^d - 1)) / 2^d, d the dtype's
/// significand bits (24 float32, 8 bfloat16, 11 float16), then Box-Muller on each group of 16 (values j and
/// j + 8: r = sqrt(-2 log(1 - u_j)), theta = 2 pi u_(j+8), r cos theta and r sin theta); when 16 does not divide
/// n, 16 fresh uniforms replace the last 16 values and are transformed again. A draw of n < 16 values takes each
/// from the double-precision Box-Muller of two 53-bit uniforms (two 32-bit outputs each), keeping the second
/// value of a pair for the next value drawn. bfloat16 and float16 round where c10's BFloat16 and Half round.
///
/// Exactness (tests/golden/torch_randn.safetensors, from tools/torch_randn_fixture.py with Debian's PyTorch
/// 1.13): bfloat16, float16 and every draw of fewer than 16 values are bit-identical. float32 draws of 16 or
/// more differ by at most 2e-6: x86 PyTorch computes that path with AVX2 polynomial approximations of log, sin
/// and cos, other CPUs (e.g. ARM) with libm as here, so the reference itself differs across machines in the
/// last bits.

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "core/node.h"
#include "gpu/command_stream.h"
#include "gpu/tensor.h"

namespace lattice {

enum class TorchRandnDtype { Float32, BFloat16, Float16 };

/// A torch.Generator("cpu") after manual_seed(seed). Draws continue the stream as successive torch.randn
/// calls with the generator do.
class TorchCpuGenerator {
 public:
  explicit TorchCpuGenerator(uint64_t seed);

  /// torch.randn(n, dtype=dtype, generator=g) for a contiguous tensor of n elements, widened to float (exact).
  std::vector<float> randn(int64_t n, TorchRandnDtype dtype = TorchRandnDtype::Float32);

 private:
  uint64_t random64();
  std::mt19937 engine_;
  bool has_next_double_ = false;  ///< the second value of the last double Box-Muller pair
  double next_double_ = 0.0;
};

/// The noise a sampling node starts from: Lattice's counter-based stream (gpu/ops/noise.h, the same on every
/// device) or the reference's torch.randn in a dtype. The names of a node's `generator` choice parameter.
enum class NoiseGenerator { Lattice, Torch, TorchBFloat16, TorchFloat16 };

/// "lattice", "torch", "torch_bf16", "torch_f16"; parse throws Error(InvalidInput) naming the choices.
NoiseGenerator parse_noise_generator(std::string_view name);
std::vector<std::string_view> noise_generator_names();

/// The `generator` parameter of the nodes that draw starting noise (latent.noise, wan.sample, ltx.sample),
/// default "lattice", so that files written before it keep their noise. `reference` names the pipeline whose
/// dtype "torch" matches, for the description.
ParamDesc noise_generator_param(const std::string& reference);

/// N(0, 1) noise of `shape` for `seed`: gpu::normal_noise (recorded on s) for Lattice's generator, else the
/// first torch.randn draw of a fresh TorchCpuGenerator(seed) in the generator's dtype, uploaded as f32.
gpu::Tensor starting_noise(gpu::CommandStream& s, NoiseGenerator generator, uint64_t seed, const gpu::Shape& shape);

}  // namespace lattice
