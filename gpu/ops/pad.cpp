#include "gpu/ops/pad.h"

#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/pad_infos.h"
#include "gpu/shaders/pad.spv.h"

namespace lattice::gpu {

static_assert(sizeof(PadPush) == 4 * (5 + 4 * PAD_MAX_RANK), "PadPush must match pad_infos.h");
static_assert(sizeof(PadPush) <= 128, "push constants are only guaranteed up to 128 bytes");

static const KernelDesc kPad{"pad", lattice_spv_pad, {BindingKind::Storage, BindingKind::Storage}, sizeof(PadPush)};

Tensor pad(CommandStream& stream, const Tensor& x, std::span<const DimPad> pads, float value) {
  if (x.dtype() != DType::F32) throw_unsupported("pad of " + x.describe() + ": only f32 is supported");
  if (x.rank() > PAD_MAX_RANK || static_cast<int>(pads.size()) > x.rank())
    throw_unsupported("pad of " + x.describe() + " with " + std::to_string(pads.size()) +
                      " padded dims: at most rank 6, and no more padded dims than the rank");
  require_u32_indexing(x, "pad");
  PadPush push{};
  Shape out_shape = x.shape();
  size_t lead = x.shape().size() - pads.size();
  for (size_t i = 0; i < pads.size(); ++i) {
    const DimPad& p = pads[i];
    size_t d = lead + i;
    if (p.before < 0 || p.after < 0 || (p.mode == PadMode::Replicate && x.shape()[d] == 0))
      throw_unsupported("pad of " + x.describe() + ": dim " + std::to_string(d) +
                        " has a negative amount, or replicates an empty dim");
    out_shape[d] += p.before + p.after;
    push.before[d] = static_cast<uint32_t>(p.before);
    if (p.mode == PadMode::Replicate) push.replicate_mask |= 1u << d;
  }
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, out_shape, DType::F32);
  require_u32_indexing(out, "pad");
  if (out.numel() == 0) return out;
  push.numel = static_cast<uint32_t>(out.numel());
  push.rank = static_cast<uint32_t>(x.rank());
  push.in_offset = static_cast<uint32_t>(x.offset());
  push.value = value;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    push.out_shape[d] = static_cast<uint32_t>(out_shape[d]);
    push.in_shape[d] = static_cast<uint32_t>(x.shape()[d]);
    push.in_strides[d] = static_cast<uint32_t>(x.strides()[d]);
  }
  // An empty input (only constant padding reaches here) is never read; bind the output in its place.
  Arg args[] = {{x.numel() == 0 ? out.buffer() : x.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.numel, PAD_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kPad), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

}  // namespace lattice::gpu
