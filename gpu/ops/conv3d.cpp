#include "gpu/ops/conv3d.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <string>

#include "gpu/allocator.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/conv_infos.h"
#include "gpu/ops/grid.h"
#include "gpu/shaders/conv_direct.spv.h"
#include "gpu/shaders/conv_gemm.spv.h"
#include "gpu/shaders/conv_pack.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(ConvPush) == 30 * 4, "ConvPush must match conv_infos.h");
static_assert(sizeof(ConvPush) <= 128, "push constants are only guaranteed up to 128 bytes");

namespace {

using BK = BindingKind;
const KernelDesc kDirect{"conv_direct", lattice_spv_conv_direct, {BK::Storage, BK::Storage, BK::Storage, BK::Storage, BK::Storage},
                         sizeof(ConvPush)};
const KernelDesc kPack{"conv_pack", lattice_spv_conv_pack, {BK::Storage, BK::Storage, BK::Storage}, sizeof(ConvPush)};
const KernelDesc kGemm{"conv_gemm", lattice_spv_conv_gemm, {BK::UniformTexel, BK::UniformTexel, BK::Storage, BK::Storage},
                       sizeof(ConvPush)};

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }
uint32_t w_type(DType d) { return d == DType::F32 ? CONV_W_F32 : d == DType::F16 ? CONV_W_F16 : CONV_W_BF16; }
int64_t round_up4(int64_t v) { return (v + 3) / 4 * 4; }

struct Problem {
  ConvPush push;           // the whole geometry, as every shader sees it
  uint64_t packed_x_texels;  // what the texel variant would pack
  uint64_t packed_w_texels;
};

bool texel_applies(const Device& device, const Problem& p) {
  // The texel view spans the whole buffer, which the allocator may round up a little.
  uint64_t max_texels = device.info().max_texel_buffer_elements;
  return device.info().is_cpu() && device.supports_uniform_texel(VK_FORMAT_R32G32B32A32_SFLOAT) &&
         p.packed_x_texels + 1024 <= max_texels && p.packed_w_texels + 1024 <= max_texels;
}
const std::array<Variant<Problem>, 2> kVariants = {{{"texel", texel_applies}, {"direct", always<Problem>}}};

void dispatch(CommandStream& s, const KernelDesc& k, std::span<const uint32_t> spec, std::span<const Arg> args,
              const ConvPush& push, uint64_t items) {
  auto g = grid_1d(items, CONV_LOCAL_SIZE);
  s.dispatch(s.context().pipelines().get(k, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
}

// Records conv_pack of `src` (with `push` describing src's logical input) into a new tensor of `shape`.
Tensor pack(CommandStream& s, const Tensor& src, const Tensor& cache, ConvPush push, uint32_t layout, Shape shape) {
  Context& ctx = s.context();
  Tensor dst = Tensor::empty(ctx, std::move(shape), DType::F32);
  uint64_t items = layout == PACK_CHANNELS_LAST ? static_cast<uint64_t>(dst.numel() / 4) : static_cast<uint64_t>(dst.numel());
  if (items == 0) return dst;
  push.x_offset = u32(src.offset());
  push.cache_offset = cache.defined() ? u32(cache.offset()) : 0;
  push.count = static_cast<uint32_t>(items);
  uint32_t spec[] = {w_type(src.dtype()), layout};
  // Without a cache the binding still needs a buffer; the shader never reads it (tc = 0).
  Arg args[] = {{src.buffer()}, {cache.defined() ? cache.buffer() : dst.buffer()}, {dst.buffer()}};
  dispatch(s, kPack, spec, args, push, items);
  return dst;
}

using Fail = std::function<void(const std::string&)>;  // throws

// The shaders index with 32-bit integers.
void check_size(const Tensor& t, const std::string& what, const Fail& fail) {
  if (t.offset() + t.numel() > std::numeric_limits<int32_t>::max()) fail(what + " has more than 2^31 elements");
}

// Frames of `cache` (0 when undefined) after checking it is a contiguous f32 [N, C, Tc, H, W] matching x.
int64_t cache_frames(const Tensor& x, const Tensor& cache, const Fail& fail) {
  if (!cache.defined()) return 0;
  if (cache.rank() != 5 || cache.dtype() != DType::F32 || !cache.contiguous() || cache.dim(0) != x.dim(0) ||
      cache.dim(1) != x.dim(1) || cache.dim(3) != x.dim(3) || cache.dim(4) != x.dim(4))
    fail("cache must be a contiguous f32 [N, C, Tc, H, W] matching x, got " + cache.describe());
  check_size(cache, "cache", fail);
  return cache.dim(2);
}

}  // namespace

Tensor conv3d(CommandStream& stream, const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv3dParams& p,
              const Tensor& cache, std::string_view variant) {
  Fail fail = [&](const std::string& why) {
    throw_unsupported("conv3d of x " + x.describe() + " with weight " + weight.describe() + ": " + why);
  };
  if (x.rank() != 5 || x.dtype() != DType::F32 || !x.contiguous()) fail("x must be a contiguous f32 [N, Cin, T, H, W]");
  if (weight.rank() != 5 || !weight.contiguous()) fail("weight must be a contiguous [Cout, Cin, kt, kh, kw]");
  DType wt = weight.dtype();
  if (wt != DType::F32 && wt != DType::F16 && wt != DType::BF16) fail("weight must be f32, f16 or bf16");
  if (wt != DType::F32 && weight.offset() % 2 != 0) fail("16-bit weight must start on an even element");
  if (weight.dim(1) != x.dim(1)) fail("Cin differs");
  if (bias.defined() && (bias.dtype() != DType::F32 || bias.rank() != 1 || bias.dim(0) != weight.dim(0) || !bias.contiguous()))
    fail("bias must be a contiguous f32 [Cout], got " + bias.describe());
  if (p.stride_t < 1 || p.stride_h < 1 || p.stride_w < 1) fail("strides must be >= 1");
  if (std::min({p.pad_front, p.pad_back, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right}) < 0) fail("negative padding");
  const int64_t tc = cache_frames(x, cache, fail);
  if (tc > p.pad_front) fail("cache has " + std::to_string(tc) + " frames, more than pad_front " + std::to_string(p.pad_front));
  const int64_t n = x.dim(0), cin = x.dim(1), t = x.dim(2), h = x.dim(3), w = x.dim(4);
  const int64_t cout = weight.dim(0), kt = weight.dim(2), kh = weight.dim(3), kw = weight.dim(4);
  const int64_t tp = t + p.pad_front + p.pad_back, hp = h + p.pad_top + p.pad_bottom, wp = w + p.pad_left + p.pad_right;
  if (kt < 1 || kh < 1 || kw < 1 || tp < kt || hp < kh || wp < kw) fail("padded input is smaller than the kernel");
  if (t < 1) fail("x has no frames");
  check_size(x, "x", fail);
  check_size(weight, "weight", fail);
  const int64_t ot = (tp - kt) / p.stride_t + 1, oh = (hp - kh) / p.stride_h + 1, ow = (wp - kw) / p.stride_w + 1;

  Context& ctx = stream.context();
  Tensor y = Tensor::empty(ctx, {n, cout, ot, oh, ow}, DType::F32);
  check_size(y, "the output", fail);
  if (y.numel() == 0) return y;

  // Only the frames, rows and columns some output reads are packed.
  const int64_t used_t = (ot - 1) * p.stride_t + kt, used_h = (oh - 1) * p.stride_h + kh, used_w = (ow - 1) * p.stride_w + kw;
  const int64_t c4 = round_up4(cin) / 4;
  ConvPush push{.w_offset = u32(weight.offset()),
                .bias_offset = bias.defined() ? u32(bias.offset()) : 0,
                .n = u32(n), .cin = u32(cin), .cout = u32(cout),
                .t = u32(t), .h = u32(h), .w = u32(w), .tc = u32(tc),
                .pad_front = u32(p.pad_front), .pad_top = u32(p.pad_top), .pad_left = u32(p.pad_left),
                .replicate = p.time_padding == TimePadding::Replicate ? 1u : 0u,
                .kt = u32(kt), .kh = u32(kh), .kw = u32(kw),
                .st = u32(p.stride_t), .sh = u32(p.stride_h), .sw = u32(p.stride_w),
                .ot = u32(ot), .oh = u32(oh), .ow = u32(ow),
                .pk_t = u32(used_t), .pk_h = u32(used_h), .pk_w = u32(used_w), .pk_c4 = u32(c4)};
  Problem problem{push, static_cast<uint64_t>(n * used_t * used_h * used_w * c4), static_cast<uint64_t>(cout * kt * kh * kw * c4)};
  if (problem.packed_x_texels * 4 > std::numeric_limits<int32_t>::max()) problem.packed_x_texels = ~uint64_t{0};

  // Without a bias (cache) the binding still needs a valid buffer; the shader never reads it.
  std::shared_ptr<Buffer> bias_buf = bias.defined() ? bias.buffer() : y.buffer();
  uint32_t spec[] = {w_type(wt), bias.defined() ? 1u : 0u};
  const Variant<Problem>& v = choose_variant<Problem>("conv3d", kVariants, ctx.device(), problem, variant);
  if (v.name == "texel") {
    Tensor xp = pack(stream, x, cache, push, PACK_CHANNELS_LAST, {n, used_t, used_h, used_w, c4 * 4});
    // Weights [cout][cin][taps] are an unpadded "input" with N = cout, one frame, one row of `taps` pixels.
    const uint32_t taps = u32(kt * kh * kw);
    ConvPush wpush{.n = u32(cout), .cin = u32(cin), .t = 1, .h = 1, .w = taps, .pk_t = 1, .pk_h = 1, .pk_w = taps, .pk_c4 = u32(c4)};
    Tensor wpk = pack(stream, weight, {}, wpush, PACK_CHANNELS_LAST, {cout, kt * kh * kw, c4 * 4});
    push.count = 0;  // conv_gemm derives its tiles from the geometry
    Arg args[] = {{xp.buffer(), VK_FORMAT_R32G32B32A32_SFLOAT}, {wpk.buffer(), VK_FORMAT_R32G32B32A32_SFLOAT}, {bias_buf},
                  {y.buffer()}};
    // x (+ z beyond 65535) walks pixel blocks, y channel blocks: see conv_gemm.comp.
    uint64_t row_blocks = static_cast<uint64_t>((n * ot * oh * ow + CONV_GEMM_TM - 1) / CONV_GEMM_TM);
    uint32_t col_blocks = u32((cout + CONV_GEMM_LOCAL * CONV_GEMM_TN - 1) / (CONV_GEMM_LOCAL * CONV_GEMM_TN));
    uint32_t gx = static_cast<uint32_t>(std::min<uint64_t>(row_blocks, 65535));
    uint32_t gz = static_cast<uint32_t>((row_blocks + gx - 1) / gx);
    stream.dispatch(ctx.pipelines().get(kGemm, spec), args, &push, sizeof(push), gx, col_blocks, gz);
  } else {
    push.x_offset = u32(x.offset());
    push.cache_offset = cache.defined() ? u32(cache.offset()) : 0;
    push.count = u32(y.numel());
    Arg args[] = {{x.buffer()}, {cache.defined() ? cache.buffer() : x.buffer()}, {weight.buffer()}, {bias_buf}, {y.buffer()}};
    dispatch(stream, kDirect, spec, args, push, push.count);
  }
  return y;
}

Tensor conv3d_cache_tail(CommandStream& stream, const Tensor& x, const Tensor& cache, int frames) {
  Fail fail = [&](const std::string& why) {
    throw_unsupported("conv3d_cache_tail of x " + x.describe() + " and cache " +
                      (cache.defined() ? cache.describe() : std::string("(none)")) + ": " + why);
  };
  if (x.rank() != 5 || x.dtype() != DType::F32 || !x.contiguous()) fail("x must be a contiguous f32 [N, C, T, H, W]");
  check_size(x, "x", fail);
  const int64_t tc = cache_frames(x, cache, fail);
  if (frames < 0) fail("negative frame count");
  const int64_t total = tc + x.dim(2), keep = std::min<int64_t>(frames, total);
  // The logical input [cache][x] (pad_front = tc, all of it cache), windowed to its last `keep` frames.
  ConvPush push{.n = u32(x.dim(0)), .cin = u32(x.dim(1)), .t = u32(x.dim(2)), .h = u32(x.dim(3)), .w = u32(x.dim(4)),
                .tc = u32(tc), .pad_front = u32(tc), .win_t0 = u32(total - keep), .pk_t = u32(keep)};
  return pack(stream, x, cache, push, PACK_NCDHW, {x.dim(0), x.dim(1), keep, x.dim(3), x.dim(4)});
}

}  // namespace lattice::gpu
