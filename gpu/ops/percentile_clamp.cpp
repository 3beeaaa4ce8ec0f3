#include "gpu/ops/percentile_clamp.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/percentile_clamp_infos.h"
#include "gpu/shaders/percentile_clamp.spv.h"

namespace lattice::gpu {

static_assert(sizeof(PercentileClampPush) == 7 * 4, "PercentileClampPush must match percentile_clamp_infos.h");
static_assert(PERCENTILE_CLAMP_LOCAL_SIZE == 256, "one invocation per radix bin");

static const KernelDesc kPercentileClamp{"percentile_clamp", lattice_spv_percentile_clamp,
                                         {BindingKind::Storage, BindingKind::Storage}, sizeof(PercentileClampPush)};

Tensor percentile_clamp(CommandStream& stream, const Tensor& x, double percentile, float floor_value) {
  if (x.dtype() != DType::F32 || !x.contiguous() || x.rank() < 1)
    throw_unsupported("percentile_clamp of " + x.describe() + ": needs a contiguous f32 tensor of rank >= 1");
  if (!(percentile >= 0.0 && percentile <= 100.0))
    throw_unsupported("percentile_clamp of " + x.describe() + ": percentile " + std::to_string(percentile) +
                      " is not in [0, 100]");
  require_u32_indexing(x, "percentile_clamp");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  const int64_t rows = x.dim(0), n = x.numel() / rows;
  const double rank = percentile / 100.0 * static_cast<double>(n - 1);
  const auto below = static_cast<uint32_t>(std::floor(rank));
  PercentileClampPush push{};
  push.rows = static_cast<uint32_t>(rows);
  push.n = static_cast<uint32_t>(n);
  push.in_offset = static_cast<uint32_t>(x.offset());
  push.below = below;
  push.above = std::min(below + 1, static_cast<uint32_t>(n - 1));
  push.frac = static_cast<float>(rank - static_cast<double>(below));
  push.floor_value = floor_value;
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_rows(push.rows, 1);
  stream.dispatch(ctx.pipelines().get(kPercentileClamp), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
