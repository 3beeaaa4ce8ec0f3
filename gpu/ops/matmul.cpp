#include "gpu/ops/matmul.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/matmul_infos.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/matmul.spv.h"
#include "gpu/shaders/matmul_coopmat_nv.spv.h"
#include "gpu/shaders/matmul_texel_f32.spv.h"
#include "gpu/shaders/matmul_texel_f32_tall.spv.h"
#include "gpu/shaders/matmul_texel_f8.spv.h"
#include "gpu/shaders/matmul_texel_h16.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(MatmulPush) == 10 * 4, "MatmulPush must match matmul_infos.h");

namespace {

const std::vector<BindingKind> kStorageBindings = {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                                                   BindingKind::Storage};
const std::vector<BindingKind> kTexelBindings = {BindingKind::UniformTexel, BindingKind::UniformTexel,
                                                 BindingKind::Storage, BindingKind::Storage};
const KernelDesc kCoopmatNv{"matmul_coopmat_nv", lattice_spv_matmul_coopmat_nv, kStorageBindings, sizeof(MatmulPush)};
const KernelDesc kPortable{"matmul", lattice_spv_matmul, kStorageBindings, sizeof(MatmulPush)};
const KernelDesc kTexelF32{"matmul_texel_f32", lattice_spv_matmul_texel_f32, kTexelBindings, sizeof(MatmulPush)};
const KernelDesc kTexelF32Tall{"matmul_texel_f32_tall", lattice_spv_matmul_texel_f32_tall, kTexelBindings, sizeof(MatmulPush)};
const KernelDesc kTexelH16{"matmul_texel_h16", lattice_spv_matmul_texel_h16, kTexelBindings, sizeof(MatmulPush)};
const KernelDesc kTexelF8{"matmul_texel_f8", lattice_spv_matmul_texel_f8, kTexelBindings, sizeof(MatmulPush)};

struct Problem {
  const Tensor& a;
  const Tensor& b;
  const Tensor& c;
  uint32_t m, n, k, ldc;
  bool b_packed;
};

constexpr uint32_t kTexelColumns = MATMUL_TEXEL_LOCAL * MATMUL_TEXEL_TN;  // columns of a texel workgroup

// The texel kernel and its workgroup tile for B's type and layout (matmul_infos.h): rows of C, columns of C.
struct TexelTile {
  const KernelDesc& kernel;
  uint32_t rows, columns;
};
TexelTile texel_tile(DType dtype, bool packed) {
  if (dtype == DType::F32 && !packed) return {kTexelF32Tall, MATMUL_TEXEL_TALL_TM, MATMUL_TEXEL_LOCAL * MATMUL_TEXEL_TALL_TN};
  const KernelDesc& k = dtype == DType::F32 ? kTexelF32 : dtype_bytes(dtype) == 2 ? kTexelH16 : kTexelF8;
  return {k, MATMUL_TEXEL_TM, kTexelColumns};
}

// The texel variant reads B as 16-byte texels: 4 f32, 8 f16/bf16 or 16 fp8 weights (k values) each.
VkFormat b_texel_format(DType dtype) {
  return dtype == DType::F32 ? kTexelFormat : VK_FORMAT_R32G32B32A32_UINT;
}
uint32_t texel_k_step(DType dtype) { return 16 / dtype_bytes(dtype); }

// The conditions on B alone (sizes in elements), shared with matmul_packs_weights.
bool texel_reads_b(const Device& device, DType dtype, bool packed, uint64_t n, uint64_t k, uint64_t buffer_bytes) {
  const uint64_t columns = texel_tile(dtype, packed).columns;
  const uint64_t col_blocks = (n + columns - 1) / columns;
  return device.info().is_cpu() && k % texel_k_step(dtype) == 0 && col_blocks <= 65535 &&
         buffer_bytes / 16 <= device.info().max_texel_buffer_elements &&
         device.supports_uniform_texel(kTexelFormat) && device.supports_uniform_texel(b_texel_format(dtype));
}
bool texel_reads_a(const Device& device, const Tensor& a) {
  return static_cast<bool>(TexelOperands(device).aligned({static_cast<uint64_t>(a.offset())}).bound({&a}));
}
bool texel_applies(const Device& device, const Problem& p) {
  return texel_reads_b(device, p.b.dtype(), p.b_packed, p.n, p.k, p.b.buffer()->size()) && p.b.offset() % texel_k_step(p.b.dtype()) == 0 &&
         texel_reads_a(device, p.a);
}
// matmul_coopmat_nv.comp: whole 16 x 16 x 16 tiles only, so every cooperative load and store is in bounds;
// 16-byte aligned starts and strides for the matrix loads; one workgroup = one subgroup of 32.
bool coopmat_nv_applies(const Device& device, const Problem& p) {
  const DeviceInfo& d = device.info();
  return !p.b_packed && d.cooperative_matrix_nv_f16 && d.subgroup_size == 32 && d.storage_16bit && d.fp16_arithmetic &&
         p.b.dtype() == DType::F16 && p.m % 16 == 0 && p.n % 16 == 0 && p.k % 16 == 0 && p.a.offset() % 4 == 0 &&
         p.b.offset() % 8 == 0 && p.c.offset() % 4 == 0 && p.ldc % 4 == 0;
}
bool portable_applies(const Device&, const Problem& p) { return !p.b_packed; }

const std::array<Variant<Problem>, 3> kVariants = {
    {{"coopmat_nv", coopmat_nv_applies}, {"texel", texel_applies}, {"portable", portable_applies}}};

// Calls f(plain texel index, packed texel index) for every 16-byte texel of B [n, k] (`steps` texels a row),
// in packed order.
template <class F>
void for_each_texel(int64_t n, int64_t steps, F f) {
  for (int64_t c0 = 0; c0 < n; c0 += kTexelColumns) {
    const int64_t width = std::min<int64_t>(kTexelColumns, n - c0);
    int64_t packed = c0 * steps;
    for (int64_t s = 0; s < steps; ++s)
      for (int64_t c = 0; c < width; ++c) f((c0 + c) * steps + s, packed++);
  }
}

int64_t texel_steps(std::span<const std::byte> src, std::span<const std::byte> dst, int64_t n, int64_t k, DType dtype) {
  const uint64_t bytes = static_cast<uint64_t>(n * k) * dtype_bytes(dtype);
  if (n < 0 || k % texel_k_step(dtype) != 0 || src.size() != bytes || dst.size() != bytes)
    throw_unsupported("packing matmul weights [" + std::to_string(n) + ", " + std::to_string(k) + "] " + dtype_name(dtype) +
                      ": K must be a multiple of " + std::to_string(texel_k_step(dtype)) + " and both buffers " +
                      std::to_string(bytes) + " bytes");
  return k / texel_k_step(dtype);
}

// Elements between consecutive rows of `out` (all dimensions but the last flattened), or -1 when its rows are
// not evenly strided or its last dimension is not contiguous. Size-1 dimensions have no stride that matters
// (e.g. a column range of a [B, 1, C] tensor: its rows are the batch's, C apart).
int64_t row_stride(const Tensor& out) {
  const int r = static_cast<int>(out.rank());
  if (r < 1 || (out.dim(-1) > 1 && out.strides().back() != 1)) return -1;
  int64_t ld = -1, next = 0;  // next: the stride the next outer dimension needs
  for (int d = r - 2; d >= 0; --d) {
    if (out.dim(d) == 1) continue;
    if (ld < 0)
      ld = out.strides()[d];
    else if (out.strides()[d] != next)
      return -1;
    next = out.strides()[d] * out.dim(d);
  }
  return ld < 0 ? out.dim(-1) : ld;
}

}  // namespace

bool matmul_packs_weights(const Device& device, DType dtype, int64_t n, int64_t k) {
  if (const std::string v = kernel_override("matmul"); !v.empty() && v != "texel") return false;
  if (const char* v = std::getenv("LATTICE_MATMUL_PACK"); v && std::string_view(v) == "0") return false;
  return n > 0 && k > 0 &&
         texel_reads_b(device, dtype, true, static_cast<uint64_t>(n), static_cast<uint64_t>(k),
                       static_cast<uint64_t>(n * k) * dtype_bytes(dtype));
}

void pack_matmul_weights(std::span<const std::byte> src, std::span<std::byte> dst, int64_t n, int64_t k, DType dtype) {
  for_each_texel(n, texel_steps(src, dst, n, k, dtype), [&](int64_t plain, int64_t packed) {
    std::memcpy(dst.data() + packed * 16, src.data() + plain * 16, 16);
  });
}

void unpack_matmul_weights(std::span<const std::byte> src, std::span<std::byte> dst, int64_t n, int64_t k, DType dtype) {
  for_each_texel(n, texel_steps(src, dst, n, k, dtype), [&](int64_t plain, int64_t packed) {
    std::memcpy(dst.data() + plain * 16, src.data() + packed * 16, 16);
  });
}

MatmulWeights upload_matmul_weights(Context& context, std::span<const std::byte> bytes, int64_t n, int64_t k, DType dtype) {
  if (!matmul_packs_weights(context.device(), dtype, n, k)) return Tensor::from_bytes(context, bytes, {n, k}, dtype);
  std::vector<std::byte> packed(bytes.size());
  pack_matmul_weights(bytes, packed, n, k, dtype);
  return {Tensor::from_bytes(context, packed, {n, k}, dtype), true};
}

std::vector<float> MatmulWeights::to_floats() const {
  if (!packed) return tensor.to_floats();
  const std::vector<std::byte> stored = tensor.to_bytes();
  std::vector<std::byte> plain(stored.size());
  unpack_matmul_weights(stored, plain, tensor.dim(0), tensor.dim(1), tensor.dtype());
  std::vector<float> out(static_cast<size_t>(tensor.numel()));
  decode(tensor.dtype(), plain.data(), out);
  return out;
}

Tensor matmul(CommandStream& stream, const Tensor& a, const MatmulWeights& b, const Tensor& bias, std::string_view variant,
              std::optional<UnaryOp> activation) {
  if (a.rank() < 1 || b.tensor.rank() != 2) {
    throw_unsupported("matmul of A " + a.describe() + " and B " + b.describe() + ": A must have a rank, B must be [N, K]");
  }
  Shape out_shape = a.shape();
  out_shape.back() = b.dim(0);
  Tensor c = Tensor::empty(stream.context(), out_shape, DType::F32);
  matmul_into(stream, a, b, bias, c, activation, variant);
  return c;
}

void matmul_into(CommandStream& stream, const Tensor& a, const MatmulWeights& weights, const Tensor& bias, const Tensor& c,
                 std::optional<UnaryOp> activation, std::string_view variant) {
  const Tensor& b = weights.tensor;
  auto fail = [&](const std::string& why) {
    throw_unsupported("matmul of A " + a.describe() + " and B " + weights.describe() + ": " + why);
  };
  if (a.dtype() != DType::F32 || !a.contiguous() || a.rank() < 1) fail("A must be a contiguous f32 tensor");
  if (b.rank() != 2 || !b.contiguous()) fail("B must be a contiguous [N, K] tensor");
  if (a.dim(-1) != b.dim(1)) fail("K differs");
  if (bias.defined() && (bias.dtype() != DType::F32 || bias.rank() != 1 || bias.dim(0) != b.dim(0) || !bias.contiguous()))
    fail("bias must be a contiguous f32 [N], got " + bias.describe());
  Shape out_shape = a.shape();
  out_shape.back() = b.dim(0);
  if (!c.defined() || c.dtype() != DType::F32 || c.shape() != out_shape)
    fail("the output must be f32 with A's shape and N = " + std::to_string(b.dim(0)) + " last, got " +
         (c.defined() ? c.describe() : "none"));
  const int64_t ldc = row_stride(c);
  if (ldc < b.dim(0)) fail("the output " + c.describe() + " must have a contiguous last dimension and evenly strided rows");

  Context& ctx = stream.context();
  Problem p{a, b, c, static_cast<uint32_t>(a.numel() / std::max<int64_t>(a.dim(-1), 1)), static_cast<uint32_t>(b.dim(0)),
            static_cast<uint32_t>(b.dim(1)), static_cast<uint32_t>(ldc), weights.packed};
  if (c.numel() == 0) return;
  if (weights.packed) {
    if (!variant.empty() && variant != "texel") fail("packed weights are read by the texel variant only");
    if (b.offset() != 0) fail("packed weights must start their buffer");
    if (!texel_reads_a(ctx.device(), a)) {
      // A view whose offset or buffer the texel kernel cannot bind: its own contiguous copy can be, in row
      // ranges that each fit a texel buffer where the whole of A does not (the plain layout would fall back to
      // another variant; packed weights have only this one).
      const uint64_t row_bytes = static_cast<uint64_t>(p.k) * 4;
      const uint64_t fit_rows = static_cast<uint64_t>(ctx.device().info().max_texel_buffer_elements) * 16 / row_bytes;
      if (fit_rows == 0) fail("one row of A is too large for a texel buffer of this device");
      if (fit_rows >= p.m) {
        const Tensor own = Tensor::empty(ctx, a.shape(), DType::F32);
        copy_into(stream, a, own);
        return matmul_into(stream, own, weights, bias, c, activation, variant);
      }
      const Tensor flat = a.contiguous() ? a : contiguous(stream, a);
      const int64_t m = p.m, k = p.k, n = p.n;
      const Tensor a2 = flat.view({m, k}, {k, 1}, flat.offset());
      const Tensor c2 = c.view({m, n}, {ldc, 1}, c.offset());
      for (int64_t r = 0; r < m; r += static_cast<int64_t>(fit_rows)) {
        const int64_t rows = std::min<int64_t>(static_cast<int64_t>(fit_rows), m - r);
        const Tensor own = Tensor::empty(ctx, {rows, k}, DType::F32);
        copy_into(stream, narrow(a2, 0, r, rows), own);
        matmul_into(stream, own, weights, bias, narrow(c2, 0, r, rows), activation, variant);
      }
      return;
    }
  }

  uint32_t b_type = 0;
  switch (b.dtype()) {
    case DType::F32: b_type = MATMUL_B_F32; break;
    case DType::F16: b_type = MATMUL_B_F16; break;
    case DType::BF16: b_type = MATMUL_B_BF16; break;
    case DType::F8E4M3FN: b_type = MATMUL_B_F8E4M3FN; break;
    case DType::F8E5M2: b_type = MATMUL_B_F8E5M2; break;
  }
  uint32_t spec[] = {b_type};
  // The activation's id is UnaryOp's value (activation_infos.h).
  const uint32_t act = activation ? static_cast<uint32_t>(*activation) : LATTICE_ACT_NONE;
  MatmulPush push{p.m, p.n, p.k, static_cast<uint32_t>(a.offset()), static_cast<uint32_t>(b.offset()),
                  static_cast<uint32_t>(bias.defined() ? bias.offset() : 0), static_cast<uint32_t>(c.offset()),
                  (bias.defined() ? MATMUL_EPILOGUE_BIAS : 0u) | (act << MATMUL_EPILOGUE_ACT_SHIFT), p.ldc,
                  weights.packed ? 1u : 0u};
  // Without a bias the binding still needs a valid buffer; the shader never reads it (no MATMUL_EPILOGUE_BIAS).
  std::shared_ptr<Buffer> bias_buf = bias.defined() ? bias.buffer() : c.buffer();

  const Variant<Problem>& v = choose_variant<Problem>("matmul", kVariants, ctx.device(), p, variant);
  if (stream.profiling())
    stream.label("matmul_" + std::string(v.name) + (weights.packed ? "_packed_" : "_") + dtype_name(b.dtype()) + " " + std::to_string(p.m) + "x" +
                 std::to_string(p.n) + "x" + std::to_string(p.k));
  if (v.name == "texel") {
    const TexelTile tile = texel_tile(b.dtype(), weights.packed);
    Arg args[] = {texel_arg(a.buffer(), true), {b.buffer(), b_texel_format(b.dtype())}, {bias_buf}, {c.buffer()}};
    // x (+ z beyond 65535) walks row blocks, y column blocks: see matmul_texel.comp.
    uint32_t row_blocks = (p.m + tile.rows - 1) / tile.rows;
    uint32_t col_blocks = (p.n + tile.columns - 1) / tile.columns;
    uint32_t gx = std::min<uint32_t>(row_blocks, 65535);
    stream.dispatch(ctx.pipelines().get(tile.kernel, spec), args, &push, sizeof(push), gx, col_blocks, (row_blocks + gx - 1) / gx);
  } else if (v.name == "coopmat_nv") {
    Arg args[] = {{a.buffer()}, {b.buffer()}, {bias_buf}, {c.buffer()}};
    auto g = grid_1d(uint64_t{p.m / 16} * (p.n / 16), 1);  // one 16 x 16 tile per workgroup
    stream.dispatch(ctx.pipelines().get(kCoopmatNv, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  } else {
    Arg args[] = {{a.buffer()}, {b.buffer()}, {bias_buf}, {c.buffer()}};
    uint64_t tiles = uint64_t{(p.m + MATMUL_TM - 1) / MATMUL_TM} * ((p.n + MATMUL_TN - 1) / MATMUL_TN);
    auto g = grid_1d(tiles, MATMUL_LOCAL_SIZE);
    stream.dispatch(ctx.pipelines().get(kPortable, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  }
}

}  // namespace lattice::gpu
