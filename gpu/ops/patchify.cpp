#include "gpu/ops/patchify.h"

#include <span>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"

namespace lattice::gpu {

// Dims of the token-side view [B, F', H', W', <channel block>] for each order, as a permutation of the
// latent-side view [B, C, F', t, H', h, W', w].
static constexpr int kChannelMajor[] = {0, 2, 4, 6, 1, 3, 5, 7};  // [B, F', H', W', C, t, h, w]
static constexpr int kPatchMajor[] = {0, 2, 4, 6, 3, 5, 7, 1};    // [B, F', H', W', t, h, w, C]
// Their inverses: token-side view back to the latent-side view.
static constexpr int kChannelMajorInv[] = {0, 4, 1, 5, 2, 6, 3, 7};
static constexpr int kPatchMajorInv[] = {0, 7, 1, 4, 2, 5, 3, 6};

static void check_patch(Patch p, const char* op) {
  if (p.t < 1 || p.h < 1 || p.w < 1)
    throw_unsupported(std::string(op) + ": patch sizes must be positive");
}

Tensor patchify(CommandStream& stream, const Tensor& x, Patch p, PatchOrder order) {
  check_patch(p, "patchify");
  if (x.rank() != 5 || x.dim(2) % p.t != 0 || x.dim(3) % p.h != 0 || x.dim(4) % p.w != 0)
    throw_unsupported("patchify of " + x.describe() + ": needs [B, C, F, H, W] divisible by the patch (" +
                      std::to_string(p.t) + ", " + std::to_string(p.h) + ", " + std::to_string(p.w) + ")");
  int64_t f = x.dim(2) / p.t, h = x.dim(3) / p.h, w = x.dim(4) / p.w;
  Tensor v = unflatten(unflatten(unflatten(x, 4, {w, p.w}), 3, {h, p.h}), 2, {f, p.t});
  Tensor src = permute(v, order == PatchOrder::ChannelMajor ? std::span<const int>(kChannelMajor)
                                                            : std::span<const int>(kPatchMajor));
  Tensor out = Tensor::empty(stream.context(), {x.dim(0), f * h * w, x.dim(1) * p.t * p.h * p.w}, x.dtype());
  copy_into(stream, src, out.reshape(src.shape()));
  return out;
}

Tensor unpatchify(CommandStream& stream, const Tensor& tokens, PatchGrid g, Patch p, int64_t channels,
                  PatchOrder order) {
  check_patch(p, "unpatchify");
  if (tokens.rank() != 3 || tokens.dim(1) != g.f * g.h * g.w || tokens.dim(2) != channels * p.t * p.h * p.w)
    throw_unsupported("unpatchify of " + tokens.describe() + ": needs [B, " + std::to_string(g.f * g.h * g.w) +
                      ", " + std::to_string(channels * p.t * p.h * p.w) + "]");
  Tensor v = unflatten(tokens, 1, {g.f, g.h, g.w});  // [B, F', H', W', block]
  v = order == PatchOrder::ChannelMajor ? unflatten(v, 4, {channels, p.t, p.h, p.w})
                                        : unflatten(v, 4, {p.t, p.h, p.w, channels});
  Tensor src = permute(v, order == PatchOrder::ChannelMajor ? std::span<const int>(kChannelMajorInv)
                                                            : std::span<const int>(kPatchMajorInv));
  Tensor out = Tensor::empty(stream.context(), {tokens.dim(0), channels, g.f * p.t, g.h * p.h, g.w * p.w},
                             tokens.dtype());
  copy_into(stream, src, out.reshape(src.shape()));
  return out;
}

Tensor pack_latents(CommandStream& stream, const Tensor& x) {
  if (x.rank() != 4) throw_unsupported("pack_latents of " + x.describe() + ": needs [B, C, h, w]");
  return patchify(stream, unflatten(x, 1, {x.dim(1), 1}), {1, 2, 2}, PatchOrder::ChannelMajor);
}

Tensor unpack_latents(CommandStream& stream, const Tensor& tokens, int64_t h, int64_t w) {
  if (tokens.rank() != 3 || tokens.dim(2) % 4 != 0 || h % 2 != 0 || w % 2 != 0)
    throw_unsupported("unpack_latents of " + tokens.describe() + " to " + std::to_string(h) + "x" +
                      std::to_string(w) + ": needs [B, (h/2)(w/2), 4C] and even h, w");
  Tensor out = unpatchify(stream, tokens, {1, h / 2, w / 2}, {1, 2, 2}, tokens.dim(2) / 4, PatchOrder::ChannelMajor);
  return out.reshape({out.dim(0), out.dim(1), h, w});
}

}  // namespace lattice::gpu
