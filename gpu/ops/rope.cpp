#include "gpu/ops/rope.h"

#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/rope_infos.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/rope.spv.h"
#include "gpu/shaders/rope_texel.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(RopePush) == 7 * 4, "RopePush must match rope_infos.h");
static_assert(static_cast<int>(RopePairing::Interleaved) == ROPE_INTERLEAVED &&
              static_cast<int>(RopePairing::HalfSplit) == ROPE_HALF_SPLIT);

static const KernelDesc kRope{"rope", lattice_spv_rope,
                              {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                              sizeof(RopePush)};
static const KernelDesc kRopeTexel{"rope_texel", lattice_spv_rope_texel,
                                   {BindingKind::UniformTexel, BindingKind::UniformTexel, BindingKind::UniformTexel,
                                    BindingKind::Storage},
                                   sizeof(RopePush)};

namespace {

struct Problem {
  const RopePush& push;
  RopePairing pairing;
  const Tensor *x, *cos, *sin;
};

// Two interleaved pairs (4 channels) a texel of x and of each table: width, C and every offset multiples of 4.
bool texel_applies(const Device& device, const Problem& p) {
  return static_cast<bool>(TexelOperands(device)
                               .require(p.pairing == RopePairing::Interleaved)
                               .aligned({p.push.width, p.push.x_offset, p.push.cos_offset, p.push.sin_offset})
                               .bound({p.x, p.cos, p.sin}));
}
const std::array<Variant<Problem>, 2> kVariants = {{{"texel", texel_applies}, {"portable", always<Problem>}}};

}  // namespace

Tensor rope(CommandStream& stream, const Tensor& x, const Tensor& cos, const Tensor& sin, RopePairing pairing) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("rope of " + x.describe() + " with tables " + cos.describe() + ", " + sin.describe() + ": " + why);
  };
  if (x.dtype() != DType::F32 || !x.contiguous() || x.rank() < 2) fail("x must be a contiguous f32 [..., L, C]");
  for (const Tensor* t : {&cos, &sin})
    if (t->dtype() != DType::F32 || !t->contiguous() || t->rank() != 2 || t->shape() != cos.shape())
      fail("cos and sin must be contiguous f32 [L, W] of one shape");
  int64_t seq = x.dim(-2), channels = x.dim(-1), width = cos.dim(1);
  if (cos.dim(0) != seq) fail("table length differs from L");
  if (width <= 0 || width % 2 != 0 || channels % width != 0) fail("W must be even and divide C");
  if (x.numel() > std::numeric_limits<uint32_t>::max()) fail("more than 2^32 elements");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, x.shape(), DType::F32);
  if (out.numel() == 0) return out;
  RopePush push{static_cast<uint32_t>(x.numel() / 2), static_cast<uint32_t>(seq), static_cast<uint32_t>(channels),
                static_cast<uint32_t>(width), static_cast<uint32_t>(x.offset()), static_cast<uint32_t>(cos.offset()),
                static_cast<uint32_t>(sin.offset())};
  uint32_t spec[] = {static_cast<uint32_t>(pairing)};
  const bool texel =
      choose_variant<Problem>("rope", kVariants, ctx.device(), Problem{push, pairing, &x, &cos, &sin}).name == "texel";
  Arg args[] = {texel_arg(x.buffer(), texel), texel_arg(cos.buffer(), texel), texel_arg(sin.buffer(), texel), {out.buffer()}};
  auto g = texel ? grid_rows(x.numel() / channels, static_cast<uint32_t>((channels / 4 + ROPE_LOCAL_SIZE - 1) / ROPE_LOCAL_SIZE))
                 : grid_1d(push.pairs, ROPE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(texel ? kRopeTexel : kRope, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

RopeTables flux_rope_tables(std::span<const float> ids, std::span<const int64_t> axes_dims, double theta) {
  const size_t axes = axes_dims.size();
  if (axes == 0 || ids.size() % axes != 0)
    throw_unsupported("flux_rope_tables: " + std::to_string(ids.size()) + " ids do not form rows of " +
                      std::to_string(axes) + " axes");
  RopeTables t;
  t.length = static_cast<int64_t>(ids.size() / axes);
  t.width = std::accumulate(axes_dims.begin(), axes_dims.end(), int64_t{0});
  t.cos.resize(static_cast<size_t>(t.length * t.width));
  t.sin.resize(t.cos.size());
  for (int64_t n = 0; n < t.length; ++n) {
    int64_t col = 0;
    for (size_t a = 0; a < axes; ++a) {
      const int64_t dim = axes_dims[a];
      if (dim <= 0 || dim % 2 != 0) throw_unsupported("flux_rope_tables: axis dim " + std::to_string(dim) + " is not even");
      // As diffusers' get_1d_rotary_pos_embed(freqs_dtype=float64): ids (float32) promoted to double.
      const double pos = static_cast<double>(ids[static_cast<size_t>(n) * axes + a]);
      for (int64_t k = 0; k < dim / 2; ++k) {
        double freq = 1.0 / std::pow(theta, static_cast<double>(2 * k) / static_cast<double>(dim));
        double angle = pos * freq;
        auto c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
        size_t i = static_cast<size_t>(n * t.width + col + 2 * k);
        t.cos[i] = t.cos[i + 1] = c;
        t.sin[i] = t.sin[i + 1] = s;
      }
      col += dim;
    }
  }
  return t;
}

}  // namespace lattice::gpu
