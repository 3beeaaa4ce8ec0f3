#include "gpu/ops/norm.h"

#include <array>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/group_norm_infos.h"
#include "gpu/ops/norm_infos.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/group_norm.spv.h"
#include "gpu/shaders/norm.spv.h"
#include "gpu/shaders/norm_texel.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(NormPush) == 7 * 4, "NormPush must match norm_infos.h");
static_assert(sizeof(GroupNormPush) == 8 * 4, "GroupNormPush must match group_norm_infos.h");

namespace {

const std::vector<BindingKind> kBindings = {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                                            BindingKind::Storage};
const KernelDesc kNorm{"norm", lattice_spv_norm, kBindings, sizeof(NormPush)};
const KernelDesc kNormTexel{"norm_texel", lattice_spv_norm_texel,
                            {BindingKind::UniformTexel, BindingKind::UniformTexel, BindingKind::UniformTexel,
                             BindingKind::Storage},
                            sizeof(NormPush)};
const KernelDesc kGroupNorm{"group_norm", lattice_spv_group_norm, kBindings, sizeof(GroupNormPush)};

// Throws unless `p` is undefined or a contiguous f32 vector of `n` elements.
void check_param(const char* op, const char* what, const Tensor& x, const Tensor& p, int64_t n) {
  if (!p.defined()) return;
  if (p.dtype() != DType::F32 || p.rank() != 1 || p.dim(0) != n || !p.contiguous())
    throw_unsupported(std::string(op) + " of " + x.describe() + ": " + what + " must be a contiguous f32 [" +
                      std::to_string(n) + "], got " + p.describe());
}

void check_input(const char* op, const Tensor& x, int min_rank) {
  if (x.dtype() != DType::F32 || !x.contiguous() || x.rank() < min_rank)
    throw_unsupported(std::string(op) + " of " + x.describe() + ": needs a contiguous f32 tensor of rank >= " +
                      std::to_string(min_rank));
  if (x.numel() > std::numeric_limits<uint32_t>::max() || x.offset() > std::numeric_limits<uint32_t>::max())
    throw_unsupported(std::string(op) + " of " + x.describe() + ": more than 2^32 elements");
}

uint32_t offset_of(const Tensor& t) { return t.defined() ? static_cast<uint32_t>(t.offset()) : 0; }

// Unused bindings still need a valid buffer; the shader never reads it (specialised away).
const std::shared_ptr<Buffer>& buffer_or(const Tensor& t, const Tensor& fallback) {
  return t.defined() ? t.buffer() : fallback.buffer();
}

struct RowProblem {
  const NormPush& push;
  const Tensor *x, *weight, *bias;
};

// The texel variant reads whole aligned texels of 4 values: n and every offset a multiple of 4, every bound
// buffer within the device's texel buffer size.
bool texel_applies(const Device& device, const RowProblem& p) {
  return static_cast<bool>(TexelOperands(device)
                               .aligned({p.push.n, p.push.in_offset, p.push.out_offset, p.push.weight_offset, p.push.bias_offset})
                               .bound({p.x, p.weight, p.bias}));
}
const std::array<Variant<RowProblem>, 2> kRowVariants = {{{"texel", texel_applies}, {"portable", always<RowProblem>}}};

// Writes the norm of x into `out` (contiguous f32 of x's shape, any offset, not overlapping x).
void row_norm_into(CommandStream& stream, const char* op, uint32_t mode, const Tensor& x, float eps, const Tensor& weight,
                   const Tensor& bias, const Tensor& out) {
  check_input(op, x, 1);
  check_param(op, "weight", x, weight, x.dim(-1));
  check_param(op, "bias", x, bias, x.dim(-1));
  if (out.dtype() != DType::F32 || !out.contiguous() || out.shape() != x.shape() ||
      out.offset() > std::numeric_limits<uint32_t>::max())
    throw_unsupported(std::string(op) + " of " + x.describe() + " into " + out.describe() +
                      ": the output must be a contiguous f32 tensor of the input's shape");
  if (out.buffer() == x.buffer() && out.offset() < x.offset() + x.numel() && x.offset() < out.offset() + out.numel())
    throw_unsupported(std::string(op) + " of " + x.describe() + " into " + out.describe() + ": the output overlaps the input");
  if (out.numel() == 0) return;
  Context& ctx = stream.context();
  NormPush push{static_cast<uint32_t>(x.numel() / x.dim(-1)), static_cast<uint32_t>(x.dim(-1)),
                static_cast<uint32_t>(x.offset()), offset_of(weight), offset_of(bias), eps,
                static_cast<uint32_t>(out.offset())};
  uint32_t spec[] = {mode, weight.defined() ? 1u : 0u, bias.defined() ? 1u : 0u};
  const bool texel =
      choose_variant<RowProblem>("norm", kRowVariants, ctx.device(), RowProblem{push, &x, &weight, &bias}).name == "texel";
  Arg args[] = {texel_arg(x.buffer(), texel), texel_arg(buffer_or(weight, x), texel), texel_arg(buffer_or(bias, x), texel),
                {out.buffer()}};
  auto g = grid_1d(push.rows, NORM_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(texel ? kNormTexel : kNorm, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
}

Tensor row_norm(CommandStream& stream, const char* op, uint32_t mode, const Tensor& x, float eps, const Tensor& weight,
                const Tensor& bias) {
  Tensor out = Tensor::empty(stream.context(), x.shape(), DType::F32);
  row_norm_into(stream, op, mode, x, eps, weight, bias, out);
  return out;
}

}  // namespace

Tensor layer_norm(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight, const Tensor& bias) {
  return row_norm(stream, "layer_norm", NORM_LAYER, x, eps, weight, bias);
}

Tensor rms_norm(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight) {
  return row_norm(stream, "rms_norm", NORM_RMS, x, eps, weight, {});
}

void rms_norm_into(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight, const Tensor& out) {
  row_norm_into(stream, "rms_norm", NORM_RMS, x, eps, weight, {}, out);
}

Tensor group_norm(CommandStream& stream, const Tensor& x, int64_t groups, float eps, const Tensor& weight,
                  const Tensor& bias) {
  check_input("group_norm", x, 2);
  int64_t channels = x.dim(1);
  if (groups <= 0 || channels % groups != 0)
    throw_unsupported("group_norm of " + x.describe() + ": " + std::to_string(channels) + " channels do not split into " +
                      std::to_string(groups) + " groups");
  if (weight.defined() != bias.defined())
    throw_unsupported("group_norm of " + x.describe() + ": give both weight and bias or neither");
  check_param("group_norm", "weight", x, weight, channels);
  check_param("group_norm", "bias", x, bias, channels);
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  GroupNormPush push{static_cast<uint32_t>(x.dim(0) * groups),
                     static_cast<uint32_t>(groups),
                     static_cast<uint32_t>(channels / groups),
                     static_cast<uint32_t>(x.numel() / (x.dim(0) * channels)),
                     static_cast<uint32_t>(x.offset()),
                     offset_of(weight),
                     offset_of(bias),
                     eps};
  uint32_t spec[] = {weight.defined() ? 1u : 0u};
  Arg args[] = {{x.buffer()}, {buffer_or(weight, x)}, {buffer_or(bias, x)}, {out.buffer()}};
  // One workgroup per group: grid_1d with a "local size" of 1 counts workgroups.
  auto g = grid_1d(push.groups, 1);
  stream.dispatch(ctx.pipelines().get(kGroupNorm, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
