#include "gpu/ops/softmax.h"

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/softmax_infos.h"
#include "gpu/shaders/softmax.spv.h"

namespace lattice::gpu {

static_assert(sizeof(SoftmaxPush) == 3 * 4, "SoftmaxPush must match softmax_infos.h");

static const KernelDesc kSoftmax{"softmax", lattice_spv_softmax, {BindingKind::Storage, BindingKind::Storage},
                                 sizeof(SoftmaxPush)};

Tensor softmax(CommandStream& stream, const Tensor& x) {
  if (x.dtype() != DType::F32 || !x.contiguous() || x.rank() < 1)
    throw_unsupported("softmax of " + x.describe() + ": needs a contiguous f32 tensor of rank >= 1");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  SoftmaxPush push{static_cast<uint32_t>(x.numel() / x.dim(-1)), static_cast<uint32_t>(x.dim(-1)),
                   static_cast<uint32_t>(x.offset())};
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.rows, SOFTMAX_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kSoftmax), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
