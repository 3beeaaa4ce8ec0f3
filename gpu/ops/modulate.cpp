#include "gpu/ops/modulate.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/modulate_infos.h"
#include "gpu/shaders/modulate.spv.h"

namespace lattice::gpu {

static_assert(sizeof(ModulatePush) == 4 * (3 + 3 * 4), "ModulatePush must match modulate_infos.h");

static const KernelDesc kModulate{
    "modulate", lattice_spv_modulate,
    {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
    sizeof(ModulatePush)};

// (offset, stride_b, stride_l, stride_c) reading `t` as [B, L, C] under the broadcast rules of modulate.h.
static void bind(const Tensor& t, const Shape& blc, const char* what, const char* op, uint32_t out[4]) {
  if (t.dtype() != DType::F32) throw_unsupported(std::string(op) + ": " + what + " " + t.describe() + " is not f32");
  require_u32_indexing(t, op);
  Shape shape = t.shape(), strides = t.strides();
  if (t.rank() == 1) {
    shape = {1, 1, shape[0]};
    strides = {0, 0, strides[0]};
  } else if (t.rank() == 2) {  // [B, C]: one vector per batch element
    shape = {shape[0], 1, shape[1]};
    strides = {strides[0], 0, strides[1]};
  }
  if (shape.size() != 3)
    throw_unsupported(std::string(op) + ": " + what + " " + t.describe() + " must have rank 1, 2 or 3");
  out[0] = static_cast<uint32_t>(t.offset());
  for (size_t d = 0; d < 3; ++d) {
    if (shape[d] != blc[d] && shape[d] != 1)
      throw_unsupported(std::string(op) + ": " + what + " " + t.describe() + " does not broadcast to " +
                        shape_string(blc));
    out[d + 1] = shape[d] == 1 ? 0 : static_cast<uint32_t>(strides[d]);
  }
}

static Tensor run(CommandStream& stream, uint32_t fn, const char* op, const Tensor& x, const Tensor& p,
                  const char* p_name, const Tensor& q, const char* q_name) {
  if (x.rank() != 3) throw_unsupported(std::string(op) + ": x " + x.describe() + " must be [B, L, C]");
  ModulatePush push{};
  bind(x, x.shape(), "x", op, push.x);
  bind(p, x.shape(), p_name, op, push.p);
  bind(q, x.shape(), q_name, op, push.q);
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  push.numel = static_cast<uint32_t>(out.numel());
  push.l = static_cast<uint32_t>(x.dim(1));
  push.c = static_cast<uint32_t>(x.dim(2));
  uint32_t spec[] = {fn};
  Arg args[] = {{x.buffer()}, {p.buffer()}, {q.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.numel, MODULATE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kModulate, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

Tensor modulate(CommandStream& stream, const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return run(stream, MODULATE_SHIFT_SCALE, "modulate", x, scale, "scale", shift, "shift");
}

Tensor gated_residual(CommandStream& stream, const Tensor& x, const Tensor& gate, const Tensor& y) {
  if (y.rank() != 3) throw_unsupported("gated_residual: y " + y.describe() + " must be [B, L, C]");
  return run(stream, MODULATE_GATED_RESIDUAL, "gated_residual", x, gate, "gate", y, "y");
}

}  // namespace lattice::gpu
