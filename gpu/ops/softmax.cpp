#include "gpu/ops/softmax.h"

#include <limits>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/softmax_infos.h"
#include "gpu/shaders/softmax.spv.h"
#include "gpu/shaders/softmax_rows4.spv.h"

namespace lattice::gpu {

static_assert(sizeof(SoftmaxPush) == 7 * 4, "SoftmaxPush must match softmax_infos.h");

static const KernelDesc kSoftmax{"softmax", lattice_spv_softmax, {BindingKind::Storage, BindingKind::Storage},
                                 sizeof(SoftmaxPush)};
static const KernelDesc kSoftmaxRows4{"softmax_rows4", lattice_spv_softmax_rows4,
                                      {BindingKind::Storage, BindingKind::Storage}, sizeof(SoftmaxPush)};

Tensor softmax(CommandStream& stream, const Tensor& x) {
  if (x.dtype() != DType::F32 || !x.contiguous() || x.rank() < 1)
    throw_unsupported("softmax of " + x.describe() + ": needs a contiguous f32 tensor of rank >= 1");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  SoftmaxPush push{static_cast<uint32_t>(x.numel() / x.dim(-1)), static_cast<uint32_t>(x.dim(-1)),
                   static_cast<uint32_t>(x.offset()), 0, 1.0f, 0, 0};
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.rows, SOFTMAX_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kSoftmax), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

void softmax_rows_inplace(CommandStream& stream, const Tensor& x, int64_t n, float scale, const Tensor& mask) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("softmax in place over " + std::to_string(n) + " columns of " + x.describe() + ": " + why);
  };
  if (!x.defined() || x.dtype() != DType::F32 || x.rank() != 2) fail("x must be an f32 [R, W]");
  const int64_t rows = x.dim(0), width = x.dim(1), ld = rows > 1 ? x.strides()[0] : width;
  if ((width > 1 && x.strides()[1] != 1) || ld < width) fail("rows must be contiguous and not overlap");
  if (width % 4 != 0 || ld % 4 != 0 || x.offset() % 4 != 0) fail("W, the row stride and the offset must be multiples of 4");
  if (n < 1 || n > width) fail("n must be 1..W");
  if (mask.defined() && (mask.dtype() != DType::F32 || mask.rank() != 1 || mask.dim(0) != n || !mask.contiguous()))
    fail("mask must be a contiguous f32 [n], got " + mask.describe());
  if (x.buffer()->size() / 4 > std::numeric_limits<uint32_t>::max()) fail("buffer over 2^32 elements");
  if (rows == 0) return;
  Context& ctx = stream.context();
  SoftmaxPush push{static_cast<uint32_t>(rows), static_cast<uint32_t>(n), static_cast<uint32_t>(x.offset()),
                   static_cast<uint32_t>(ld), scale, static_cast<uint32_t>(mask.defined() ? mask.offset() : 0),
                   static_cast<uint32_t>(width)};
  // Without a mask the binding still needs a valid buffer; the shader never reads it (HAS_MASK 0).
  Arg args[] = {{x.buffer()}, {mask.defined() ? mask.buffer() : x.buffer()}};
  uint32_t spec[] = {mask.defined() ? 1u : 0u};
  auto g = grid_1d(push.rows, SOFTMAX_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kSoftmaxRows4, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
}

}  // namespace lattice::gpu
