#include "gpu/ops/reduce.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/reduce_infos.h"
#include "gpu/shaders/reduce.spv.h"

namespace lattice::gpu {

static_assert(sizeof(ReducePush) == 4 * (5 + 2 * REDUCE_MAX_RANK), "ReducePush must match reduce_infos.h");
static_assert(static_cast<int>(ReduceOp::Sum) == REDUCE_SUM && static_cast<int>(ReduceOp::Mean) == REDUCE_MEAN &&
              static_cast<int>(ReduceOp::Max) == REDUCE_MAX && static_cast<int>(ReduceOp::L1) == REDUCE_L1);

static const KernelDesc kReduce{"reduce", lattice_spv_reduce, {BindingKind::Storage, BindingKind::Storage},
                                sizeof(ReducePush)};

Tensor reduce(CommandStream& stream, ReduceOp op, const Tensor& x, int dim, bool keepdim) {
  if (x.dtype() != DType::F32) throw_unsupported("reduce of " + x.describe() + ": only f32 is supported");
  auto d = static_cast<size_t>(normalize_dim(dim, x.rank(), "reduce"));
  require_u32_indexing(x, "reduce");
  Shape kept, kept_strides;
  for (size_t i = 0; i < x.shape().size(); ++i)
    if (i != d) {
      kept.push_back(x.shape()[i]);
      kept_strides.push_back(x.strides()[i]);
    }
  if (kept.size() > REDUCE_MAX_RANK)
    throw_unsupported("reduce of " + x.describe() + ": at most rank " + std::to_string(REDUCE_MAX_RANK + 1));
  Shape out_shape = x.shape();
  if (keepdim) out_shape[d] = 1;
  else out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(d));
  if (out_shape.empty()) out_shape = {1};

  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, out_shape, DType::F32);
  if (out.numel() == 0) return out;
  ReducePush push{};
  push.numel = static_cast<uint32_t>(out.numel());
  push.rank = static_cast<uint32_t>(kept.size());
  push.in_offset = static_cast<uint32_t>(x.offset());
  push.n = static_cast<uint32_t>(x.shape()[d]);
  push.red_stride = static_cast<uint32_t>(x.strides()[d]);
  for (size_t i = 0; i < kept.size(); ++i) {
    push.shape[i] = static_cast<uint32_t>(kept[i]);
    push.strides[i] = static_cast<uint32_t>(kept_strides[i]);
  }
  uint32_t spec[] = {static_cast<uint32_t>(op)};
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.numel, REDUCE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kReduce, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
