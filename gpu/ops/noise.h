#pragma once
/// Seeded standard-normal noise, identical on every device and on the CPU.
///
/// Element i of the stream (seed, offset) depends only on (seed, offset + i / 4, i % 4): Philox 4x32-10
/// (key = seed, counter = block index) and Box-Muller computed from integer ops and correctly rounded f32
/// add/mul only, so the GPU and normal_noise_cpu() agree bit for bit (noise_math.h documents the
/// mapping and why it is exact). `offset` counts Philox blocks of four elements: a consumer wanting
/// disjoint streams from one seed uses offsets at least numel/4 apart.

#include <cstdint>
#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

/// A new contiguous f32 tensor of `shape` filled with N(0, 1) noise. Records one dispatch.
Tensor normal_noise(CommandStream& stream, Shape shape, uint64_t seed, uint64_t offset = 0);

/// The same values on the CPU: out[i] is element i of the stream (seed, offset).
void normal_noise_cpu(uint64_t seed, uint64_t offset, std::span<float> out);

}  // namespace lattice::gpu
