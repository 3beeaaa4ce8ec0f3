#include "gpu/ops/binary.h"

#include <algorithm>
#include <array>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/binary_infos.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/binary.spv.h"
#include "gpu/shaders/binary_texel.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(BinaryPush) == 4 * (6 + 3 * BINARY_MAX_RANK), "BinaryPush must match binary_infos.h");
static_assert(sizeof(BinaryPush) <= 128, "push constants are only guaranteed up to 128 bytes");

static const KernelDesc kBinary{"binary", lattice_spv_binary,
                                {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                                sizeof(BinaryPush)};
static const KernelDesc kBinaryTexel{"binary_texel", lattice_spv_binary_texel,
                                     {BindingKind::UniformTexel, BindingKind::UniformTexel, BindingKind::Storage},
                                     sizeof(BinaryPush)};

namespace {

struct Problem {
  const BinaryPush& push;
  const Tensor *a, *b;
};

// Four consecutive elements of the last dimension are one aligned texel of each operand: that dimension a
// multiple of 4 and contiguous in both (not broadcast), every other stride and both offsets multiples of 4.
bool texel_applies(const Device& device, const Problem& p) {
  return static_cast<bool>(TexelOperands(device)
                               .rows(p.push.rank, p.push.shape, {p.push.a_strides, p.push.b_strides})
                               .aligned({p.push.a_offset, p.push.b_offset})
                               .bound({p.a, p.b}));
}
const std::array<Variant<Problem>, 2> kVariants = {{{"texel", texel_applies}, {"portable", always<Problem>}}};

}  // namespace

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw_unsupported("shapes " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `t` seen through the broadcast `shape`: 0 along stretched and missing dimensions.
static void broadcast_strides(const Tensor& t, const Shape& shape, uint32_t* out) {
  size_t lead = shape.size() - static_cast<size_t>(t.rank());
  for (size_t i = 0; i < shape.size(); ++i) {
    bool present = i >= lead && t.shape()[i - lead] != 1;
    out[i] = present ? static_cast<uint32_t>(t.strides()[i - lead]) : 0;
  }
}

Tensor binary(CommandStream& stream, BinaryOp op, const Tensor& a, const Tensor& b, float alpha, float beta) {
  if (a.dtype() != DType::F32 || b.dtype() != DType::F32)
    throw_unsupported("binary op on " + a.describe() + " and " + b.describe() + ": only f32 is supported");
  Shape shape = broadcast_shape(a.shape(), b.shape());
  if (shape.size() > BINARY_MAX_RANK)
    throw_unsupported("binary op on rank " + std::to_string(shape.size()) + " tensors; at most 6 supported");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, shape, DType::F32);
  if (out.numel() == 0) return out;

  BinaryPush push{};
  push.numel = static_cast<uint32_t>(out.numel());
  push.rank = static_cast<uint32_t>(shape.size());
  push.a_offset = static_cast<uint32_t>(a.offset());
  push.b_offset = static_cast<uint32_t>(b.offset());
  push.alpha = alpha;
  push.beta = beta;
  for (size_t i = 0; i < shape.size(); ++i) push.shape[i] = static_cast<uint32_t>(shape[i]);
  broadcast_strides(a, shape, push.a_strides);
  broadcast_strides(b, shape, push.b_strides);

  uint32_t spec[] = {static_cast<uint32_t>(op)};
  const bool texel = choose_variant<Problem>("binary", kVariants, ctx.device(), Problem{push, &a, &b}).name == "texel";
  const Pipeline& pipeline = ctx.pipelines().get(texel ? kBinaryTexel : kBinary, spec);
  Arg args[] = {texel_arg(a.buffer(), texel), texel_arg(b.buffer(), texel), {out.buffer()}};
  auto g = grid_1d(texel ? push.numel / 4 : push.numel, BINARY_LOCAL_SIZE);
  stream.dispatch(pipeline, args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
