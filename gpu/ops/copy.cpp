#include "gpu/ops/copy.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy_infos.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/copy.spv.h"
#include "gpu/shaders/copy_texel.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(CopyPush) == 4 * (4 + 3 * COPY_MAX_RANK), "CopyPush must match copy_infos.h");
static_assert(sizeof(CopyPush) <= 128, "push constants are only guaranteed up to 128 bytes");
static_assert(static_cast<int>(DType::F32) == 0 && static_cast<int>(DType::F16) == 1 &&
              static_cast<int>(DType::BF16) == 2, "copy.glsl numbers dtypes like DType");

static const KernelDesc kCopy{"copy", lattice_spv_copy, {BindingKind::Storage, BindingKind::Storage},
                              sizeof(CopyPush)};
static const KernelDesc kCopyTexel{"copy_texel", lattice_spv_copy_texel, {BindingKind::UniformTexel, BindingKind::Storage},
                                   sizeof(CopyPush)};

namespace {

struct CopyProblem {
  const CopyPush& push;
  const Tensor *src, *dst;
};

// Four consecutive elements are one aligned texel on both sides: f32 to f32, the innermost (coalesced)
// dimension contiguous in both views with a size that is a multiple of 4, every other stride and both offsets
// multiples of 4.
bool copy_texel_applies(const Device& device, const CopyProblem& p) {
  return static_cast<bool>(TexelOperands(device)
                               .require(p.src->dtype() == DType::F32 && p.dst->dtype() == DType::F32)
                               .rows(p.push.rank, p.push.shape, {p.push.src_strides, p.push.dst_strides})
                               .aligned({p.push.src_offset, p.push.dst_offset})
                               .bound({p.src}));
}
const std::array<Variant<CopyProblem>, 2> kCopyVariants = {{{"texel", copy_texel_applies}, {"portable", always<CopyProblem>}}};

}  // namespace

int normalize_dim(int dim, int rank, const char* op) {
  int d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw_unsupported(std::string(op) + ": dim " + std::to_string(dim) + " out of range for rank " +
                      std::to_string(rank));
  return d;
}

void require_u32_indexing(const Tensor& t, const char* op) {
  int64_t last = t.offset();
  for (int d = 0; d < t.rank(); ++d) {
    if (t.strides()[static_cast<size_t>(d)] < 0)
      throw_unsupported(std::string(op) + " of " + t.describe() + ": negative strides are not supported");
    if (t.shape()[static_cast<size_t>(d)] > 0) last += (t.shape()[static_cast<size_t>(d)] - 1) * t.strides()[static_cast<size_t>(d)];
  }
  constexpr int64_t kMax = std::numeric_limits<uint32_t>::max();
  if (t.numel() > kMax || last >= kMax)
    throw_unsupported(std::string(op) + " of " + t.describe() + ": element indices exceed 32 bits");
}

static bool copyable(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

void copy_into(CommandStream& stream, const Tensor& src, const Tensor& dst) {
  if (src.shape() != dst.shape())
    throw_unsupported("copy from " + src.describe() + " into " + dst.describe() + ": shapes differ");
  if (!copyable(src.dtype()) || !copyable(dst.dtype()))
    throw_unsupported("copy from " + src.describe() + " into " + dst.describe() + ": only f32, f16, bf16");
  require_u32_indexing(src, "copy");
  require_u32_indexing(dst, "copy");
  if (src.numel() == 0) return;

  // Coalesce: drop size-1 dims, merge a dim into its inner neighbour where both views step through them
  // as one (stride[d] == stride[d+1] * shape[d+1] on both sides). Keeps the shader's rank small.
  struct Dim {
    int64_t size, s, d;
  };
  std::vector<Dim> dims;
  for (int i = 0; i < src.rank(); ++i) {
    auto u = static_cast<size_t>(i);
    if (src.shape()[u] == 1) continue;
    if (dst.strides()[u] == 0)
      throw_unsupported("copy into " + dst.describe() + ": destination elements overlap (stride 0)");
    Dim cur{src.shape()[u], src.strides()[u], dst.strides()[u]};
    if (!dims.empty() && dims.back().s == cur.s * cur.size && dims.back().d == cur.d * cur.size) {
      dims.back() = {dims.back().size * cur.size, cur.s, cur.d};
    } else {
      dims.push_back(cur);
    }
  }
  if (dims.size() > COPY_MAX_RANK)
    throw_unsupported("copy from " + src.describe() + ": rank " + std::to_string(dims.size()) +
                      " after merging contiguous dims; at most 8 supported");

  CopyPush push{};
  push.numel = static_cast<uint32_t>(src.numel());
  push.rank = static_cast<uint32_t>(dims.size());
  push.src_offset = static_cast<uint32_t>(src.offset());
  push.dst_offset = static_cast<uint32_t>(dst.offset());
  for (size_t i = 0; i < dims.size(); ++i) {
    push.shape[i] = static_cast<uint32_t>(dims[i].size);
    push.src_strides[i] = static_cast<uint32_t>(dims[i].s);
    push.dst_strides[i] = static_cast<uint32_t>(dims[i].d);
  }
  Context& ctx = stream.context();
  uint32_t spec[] = {static_cast<uint32_t>(src.dtype()), static_cast<uint32_t>(dst.dtype())};
  const bool texel = choose_variant<CopyProblem>("copy", kCopyVariants, ctx.device(), CopyProblem{push, &src, &dst}).name == "texel";
  Arg args[] = {texel_arg(src.buffer(), texel), {dst.buffer()}};
  const uint32_t per_invocation = texel ? 4 : COPY_PER_INVOCATION;
  auto g = grid_1d((push.numel + per_invocation - 1) / per_invocation, COPY_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(texel ? kCopyTexel : kCopy, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
}

Tensor contiguous(CommandStream& stream, const Tensor& x) {
  if (x.contiguous()) return x;
  return cast(stream, x, x.dtype());
}

Tensor cast(CommandStream& stream, const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(stream.context(), x.shape(), dtype);
  copy_into(stream, x, out);
  return out;
}

Tensor permute(const Tensor& x, std::span<const int> dims) {
  if (static_cast<int>(dims.size()) != x.rank())
    throw_unsupported("permute of " + x.describe() + ": " + std::to_string(dims.size()) + " dims given");
  Shape shape(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    auto d = static_cast<size_t>(normalize_dim(dims[i], x.rank(), "permute"));
    if (seen[d]) throw_unsupported("permute of " + x.describe() + ": dim " + std::to_string(d) + " repeated");
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  return x.view(shape, strides, x.offset());
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  auto d = static_cast<size_t>(normalize_dim(dim, x.rank(), "narrow"));
  if (start < 0 || length < 0 || start + length > x.shape()[d])
    throw_unsupported("narrow of " + x.describe() + ": [" + std::to_string(start) + ", " +
                      std::to_string(start + length) + ") outside dim " + std::to_string(d));
  Shape shape = x.shape();
  shape[d] = length;
  return x.view(shape, x.strides(), x.offset() + start * x.strides()[d]);
}

std::vector<Tensor> split(const Tensor& x, int dim, std::span<const int64_t> sizes) {
  int d = normalize_dim(dim, x.rank(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != x.dim(d))
    throw_unsupported("split of " + x.describe() + ": sizes sum to " + std::to_string(total) + ", dim " +
                      std::to_string(d) + " is " + std::to_string(x.dim(d)));
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(x, d, start, s));
    start += s;
  }
  return parts;
}

Tensor unflatten(const Tensor& x, int dim, std::span<const int64_t> sizes) {
  auto d = static_cast<size_t>(normalize_dim(dim, x.rank(), "unflatten"));
  int64_t product = 1;
  for (int64_t n : sizes) product *= n;
  if (product != x.shape()[d] || sizes.empty())
    throw_unsupported("unflatten of " + x.describe() + ": dim " + std::to_string(d) + " is not " +
                      shape_string(Shape(sizes.begin(), sizes.end())));
  Shape shape(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(d));
  Shape strides(x.strides().begin(), x.strides().begin() + static_cast<std::ptrdiff_t>(d));
  int64_t inner = x.strides()[d] * product;
  for (int64_t n : sizes) {
    inner = n == 0 ? 0 : inner / n;
    shape.push_back(n);
    strides.push_back(inner);
  }
  shape.insert(shape.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(d) + 1, x.shape().end());
  strides.insert(strides.end(), x.strides().begin() + static_cast<std::ptrdiff_t>(d) + 1, x.strides().end());
  return x.view(shape, strides, x.offset());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  if (static_cast<int>(shape.size()) != x.rank())
    throw_unsupported("expand of " + x.describe() + " to " + shape_string(shape) + ": ranks differ");
  Shape strides = x.strides();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (x.shape()[i] == shape[i]) continue;
    if (x.shape()[i] != 1)
      throw_unsupported("expand of " + x.describe() + " to " + shape_string(shape) + ": dim " +
                        std::to_string(i) + " is not 1");
    strides[i] = 0;
  }
  return x.view(shape, strides, x.offset());
}

}  // namespace lattice::gpu
