#include "gpu/ops/matmul_pack.h"

#include <limits>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/matmul_infos.h"
#include "gpu/ops/matmul_pack_infos.h"
#include "gpu/shaders/matmul_pack.spv.h"

namespace lattice::gpu {

static_assert(sizeof(MatmulPackPush) == 8 * 4, "MatmulPackPush must match matmul_pack_infos.h");
static_assert(MATMUL_PACK_COLUMNS == MATMUL_TEXEL_LOCAL * MATMUL_TEXEL_TN, "the packed order's column blocks");

static const KernelDesc kMatmulPack{"matmul_pack", lattice_spv_matmul_pack, {BindingKind::Storage, BindingKind::Storage},
                                    sizeof(MatmulPackPush)};

void pack_matmul_b_into(CommandStream& stream, const Tensor& x, bool transpose, const Tensor& out) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("packing " + x.describe() + (transpose ? " transposed" : "") + " as matmul weights into " +
                      out.describe() + ": " + why);
  };
  if (!x.defined() || x.dtype() != DType::F32 || x.rank() != 2) fail("x must be an f32 matrix");
  if (x.strides()[0] < 0 || x.strides()[1] < 0) fail("negative strides are not supported");
  if (!out.defined() || out.dtype() != DType::F32 || out.rank() != 2 || !out.contiguous())
    fail("the output must be a contiguous f32 [N, K]");
  const int64_t n = x.dim(transpose ? 1 : 0), k = x.dim(transpose ? 0 : 1);
  if (out.dim(0) < n || out.dim(1) < k) fail("the output is smaller than B");
  if (out.dim(1) % 4 != 0 || out.offset() % 4 != 0) fail("the output's K and offset must be multiples of 4");
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  if (x.buffer()->size() / 4 > kMax || out.buffer()->size() / 4 > kMax) fail("buffer over 2^32 elements");
  if (out.numel() == 0) return;
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  MatmulPackPush push{u32(out.dim(0)), u32(out.dim(1)), u32(n), u32(k), u32(x.offset()),
                      u32(x.strides()[transpose ? 1 : 0]), u32(x.strides()[transpose ? 0 : 1]), u32(out.offset())};
  Arg args[] = {{x.buffer()}, {out.buffer()}};
  auto g = grid_1d(static_cast<uint64_t>(out.numel()) / 4, MATMUL_PACK_LOCAL_SIZE);
  Context& ctx = stream.context();
  stream.dispatch(ctx.pipelines().get(kMatmulPack), args, &push, sizeof(push), g[0], g[1], g[2]);
}

}  // namespace lattice::gpu
