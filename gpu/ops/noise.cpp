#include "gpu/ops/noise.h"

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/noise_infos.h"
#include "gpu/ops/noise_math.h"
#include "gpu/shaders/noise.spv.h"

namespace lattice::gpu {

static_assert(sizeof(NoisePush) == 6 * 4, "NoisePush must match noise_infos.h");

static const KernelDesc kNoise{"noise", lattice_spv_noise, {BindingKind::Storage}, sizeof(NoisePush)};

Tensor normal_noise(CommandStream& stream, Shape shape, uint64_t seed, uint64_t offset) {
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, std::move(shape), DType::F32);
  if (out.numel() == 0) return out;
  if (out.numel() > 0xFFFFFFFFll) throw_unsupported("noise tensor " + out.describe() + " too large");
  NoisePush push{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(offset),
                 static_cast<uint32_t>(offset >> 32), static_cast<uint32_t>(out.numel()),
                 static_cast<uint32_t>(out.offset())};
  Arg args[] = {{out.buffer()}};
  auto g = grid_1d((static_cast<uint64_t>(out.numel()) + 3) / 4, NOISE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kNoise), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

void normal_noise_cpu(uint64_t seed, uint64_t offset, std::span<float> out) {
  using namespace noise_math;
  for (size_t first = 0; first < out.size(); first += 4) {
    // The shader's counter is 64 bits: (offset + block) carried into the high word the same way.
    uint64_t counter = offset + first / 4;
    uvec4 x = philox4x32_10(uvec4(static_cast<uint>(counter), static_cast<uint>(counter >> 32), 0u, 0u),
                            static_cast<uint>(seed), static_cast<uint>(seed >> 32));
    vec2 a = box_muller(x.x, x.y), b = box_muller(x.z, x.w);
    float z[4] = {a.x, a.y, b.x, b.y};
    for (size_t j = 0; j < 4 && first + j < out.size(); ++j) out[first + j] = z[j];
  }
}

}  // namespace lattice::gpu
