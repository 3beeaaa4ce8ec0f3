#include "gpu/ops/timestep_embedding.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/timestep_embedding_infos.h"
#include "gpu/shaders/timestep_embedding.spv.h"

namespace lattice::gpu {

static_assert(sizeof(TimestepPush) == 7 * 4, "TimestepPush must match timestep_embedding_infos.h");

static const KernelDesc kTimestep{"timestep_embedding", lattice_spv_timestep_embedding,
                                  {BindingKind::Storage, BindingKind::Storage}, sizeof(TimestepPush)};

Tensor timestep_embedding(CommandStream& stream, const Tensor& t, const TimestepEmbeddingParams& params) {
  if (t.dtype() != DType::F32 || t.rank() != 1)
    throw_unsupported("timestep_embedding of " + t.describe() + ": needs f32 timesteps [B]");
  if (params.channels < 1)
    throw_unsupported("timestep_embedding: channels " + std::to_string(params.channels) + " must be positive");
  require_u32_indexing(t, "timestep_embedding");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, {t.dim(0), params.channels}, DType::F32);
  require_u32_indexing(out, "timestep_embedding");
  if (out.numel() == 0) return out;
  TimestepPush push{};
  push.batch = static_cast<uint32_t>(t.dim(0));
  push.channels = static_cast<uint32_t>(params.channels);
  push.t_offset = static_cast<uint32_t>(t.offset());
  push.t_stride = static_cast<uint32_t>(t.strides()[0]);
  push.flip_sin_to_cos = params.flip_sin_to_cos ? 1 : 0;
  push.downscale_freq_shift = params.downscale_freq_shift;
  push.scale = params.scale;
  Arg args[] = {{t.buffer()}, {out.buffer()}};
  auto g = grid_1d(static_cast<uint64_t>(out.numel()), TIMESTEP_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kTimestep), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
