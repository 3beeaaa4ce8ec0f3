#include "gpu/ops/unary.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/unary_infos.h"
#include "gpu/shaders/unary.spv.h"

namespace lattice::gpu {

static_assert(sizeof(UnaryPush) == 5 * 4, "UnaryPush must match unary_infos.h");
// Every activation's id names it to the shaders (0 is "none") and fits the matmul epilogue's field.
#define LATTICE_CHECK_ACTIVATION(name, fn, id)                                          \
  static_assert((id) != LATTICE_ACT_NONE && (id) < (1 << LATTICE_ACT_BITS), #name); \
  static_assert(static_cast<uint32_t>(UnaryOp::name) == (id), #name);
LATTICE_ACTIVATIONS(LATTICE_CHECK_ACTIVATION)
#undef LATTICE_CHECK_ACTIVATION

static const KernelDesc kUnary{"unary", lattice_spv_unary, {BindingKind::Storage, BindingKind::Storage},
                               sizeof(UnaryPush)};

Tensor unary(CommandStream& stream, UnaryOp op, const Tensor& x, const UnaryParams& params) {
  if (x.dtype() != DType::F32 || !x.contiguous())
    throw_unsupported("activation of " + x.describe() + ": needs a contiguous f32 tensor");
  // GLSL's clamp() is undefined for lo > hi; NaN bounds have no torch meaning worth copying.
  if (std::isnan(params.lo) || std::isnan(params.hi) || params.lo > params.hi)
    throw_unsupported("activation of " + x.describe() + ": bounds [" + std::to_string(params.lo) + ", " +
                      std::to_string(params.hi) + "] are not an interval");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  UnaryPush push{static_cast<uint32_t>(x.numel()), static_cast<uint32_t>(x.offset()), params.scale, params.lo, params.hi};
  uint32_t spec[] = {static_cast<uint32_t>(op)};
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.numel, UNARY_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kUnary, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
