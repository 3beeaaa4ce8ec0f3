#include "gpu/ops/modulate.h"

#include <array>
#include <span>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/modulate_infos.h"
#include "gpu/ops/norm_modulate_infos.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/modulate.spv.h"
#include "gpu/shaders/modulate_texel.spv.h"
#include "gpu/shaders/modulate_vec4.spv.h"
#include "gpu/shaders/norm_modulate.spv.h"
#include "gpu/shaders/norm_modulate_texel.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(ModulatePush) == 4 * (3 + 3 * 4), "ModulatePush must match modulate_infos.h");
static_assert(sizeof(NormModulatePush) == 4 * (5 + 2 * 4), "NormModulatePush must match norm_modulate_infos.h");
static_assert(static_cast<int>(RowNorm::Layer) == NORM_MODULATE_LAYER && static_cast<int>(RowNorm::Rms) == NORM_MODULATE_RMS);

namespace {

const std::vector<BindingKind> kStorage = {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                                           BindingKind::Storage};
const std::vector<BindingKind> kTexel = {BindingKind::UniformTexel, BindingKind::UniformTexel,
                                         BindingKind::UniformTexel, BindingKind::Storage};
const KernelDesc kModulate{"modulate", lattice_spv_modulate, kStorage, sizeof(ModulatePush)};
const KernelDesc kModulateTexel{"modulate_texel", lattice_spv_modulate_texel, kTexel, sizeof(ModulatePush)};
const KernelDesc kModulateVec4{"modulate_vec4", lattice_spv_modulate_vec4, kStorage, sizeof(ModulatePush)};
const KernelDesc kNormModulate{"norm_modulate", lattice_spv_norm_modulate, kStorage, sizeof(NormModulatePush)};
const KernelDesc kNormModulateTexel{"norm_modulate_texel", lattice_spv_norm_modulate_texel, kTexel,
                                    sizeof(NormModulatePush)};

// (offset, stride_b, stride_l, stride_c) reading `t` as [B, L, C] under the broadcast rules of modulate.h.
void bind(const Tensor& t, const Shape& blc, const char* what, const char* op, uint32_t out[4]) {
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

// What the variants look at: C, the three operands' bindings (x's as modulate binds it; norm_modulate's
// contiguous rows are offset, C * L, C, 1) and their tensors.
struct Problem {
  uint32_t c;
  std::array<const uint32_t*, 3> binds;
  std::array<const Tensor*, 3> tensors;
};

// Four consecutive channels of every operand are one aligned texel: C and every offset and stride a multiple
// of 4, channels contiguous, every buffer within the device's texel buffer size.
bool channels_contiguous(const Problem& p) {
  for (const uint32_t* v : p.binds)
    if (v[3] != 1) return false;
  return true;
}
bool texel_applies(const Device& device, const Problem& p) {
  TexelOperands t(device);
  t.require(channels_contiguous(p)).aligned({p.c});
  for (const uint32_t* v : p.binds) t.aligned({v[0], v[1], v[2]});
  return static_cast<bool>(t.bound({p.tensors[0], p.tensors[1], p.tensors[2]}));
}
// Measured only on lavapipe (CPU devices, where the texel buffers were too small): GPUs keep the portable path.
bool vec4_applies(const Device& device, const Problem& p) {
  if (!device.info().is_cpu() || p.c % 4 != 0 || !channels_contiguous(p)) return false;
  for (const uint32_t* v : p.binds)
    if (v[0] % 4 != 0 || v[1] % 4 != 0 || v[2] % 4 != 0) return false;
  return true;
}
const std::array<Variant<Problem>, 3> kVariants = {
    {{"texel", texel_applies}, {"vec4", vec4_applies}, {"portable", always<Problem>}}};
const std::array<Variant<Problem>, 2> kNormVariants = {{{"texel", texel_applies}, {"portable", always<Problem>}}};

Tensor run(CommandStream& stream, uint32_t fn, const char* op, const Tensor& x, const Tensor& p, const char* p_name,
           const Tensor& q, const char* q_name) {
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
  const std::string_view v =
      choose_variant<Problem>("modulate", kVariants, ctx.device(), Problem{push.c, {push.x, push.p, push.q}, {&x, &p, &q}}).name;
  const bool texel = v == "texel";
  Arg args[] = {texel_arg(x.buffer(), texel), texel_arg(p.buffer(), texel), texel_arg(q.buffer(), texel), {out.buffer()}};
  const KernelDesc& k = texel ? kModulateTexel : v == "vec4" ? kModulateVec4 : kModulate;
  auto g = texel ? grid_rows(push.numel / push.c, (push.c / 4 + MODULATE_LOCAL_SIZE - 1) / MODULATE_LOCAL_SIZE)
                        : grid_1d(push.numel / (v == "portable" ? 1 : 4), MODULATE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(k, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace

Tensor modulate(CommandStream& stream, const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return run(stream, MODULATE_SHIFT_SCALE, "modulate", x, scale, "scale", shift, "shift");
}

Tensor gated_residual(CommandStream& stream, const Tensor& x, const Tensor& gate, const Tensor& y) {
  if (y.rank() != 3) throw_unsupported("gated_residual: y " + y.describe() + " must be [B, L, C]");
  return run(stream, MODULATE_GATED_RESIDUAL, "gated_residual", x, gate, "gate", y, "y");
}

Tensor norm_modulate(CommandStream& stream, const Tensor& x, RowNorm norm, float eps, const Tensor& shift,
                     const Tensor& scale) {
  const char* op = "norm_modulate";
  if (x.rank() != 3 || x.dtype() != DType::F32 || !x.contiguous())
    throw_unsupported(std::string(op) + ": x " + x.describe() + " must be a contiguous f32 [B, L, C]");
  require_u32_indexing(x, op);
  NormModulatePush push{};
  bind(scale, x.shape(), "scale", op, push.scale);
  bind(shift, x.shape(), "shift", op, push.shift);
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  push.rows = static_cast<uint32_t>(x.dim(0) * x.dim(1));
  push.l = static_cast<uint32_t>(x.dim(1));
  push.c = static_cast<uint32_t>(x.dim(2));
  push.x_offset = static_cast<uint32_t>(x.offset());
  push.eps = eps;
  const uint32_t x_bind[4] = {push.x_offset, push.c * push.l, push.c, 1};
  uint32_t spec[] = {static_cast<uint32_t>(norm)};
  const bool texel = choose_variant<Problem>("norm_modulate", kNormVariants, ctx.device(),
                                             Problem{push.c, {x_bind, push.scale, push.shift}, {&x, &scale, &shift}})
                         .name == "texel";
  Arg args[] = {texel_arg(x.buffer(), texel), texel_arg(scale.buffer(), texel), texel_arg(shift.buffer(), texel),
                {out.buffer()}};
  auto g = grid_1d(push.rows, NORM_MODULATE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(texel ? kNormModulateTexel : kNormModulate, spec), args, &push, sizeof(push), g[0],
                  g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
