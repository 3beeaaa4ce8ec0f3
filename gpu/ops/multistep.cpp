#include "gpu/ops/multistep.h"

#include <algorithm>
#include <bit>
#include <string>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/multistep_infos.h"
#include "gpu/shaders/multistep.spv.h"

namespace lattice::gpu {

static_assert(sizeof(MultistepPush) == 4 * (7 + 4 + 5 + 2 * 4), "MultistepPush must match multistep_infos.h");
static_assert(kMultistepMaxHistory == MULTISTEP_MAX_HISTORY);

static const KernelDesc kMultistep{"multistep",
                                   lattice_spv_multistep,
                                   {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                                    BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                                    BindingKind::Storage, BindingKind::Storage},
                                   sizeof(MultistepPush)};

MultistepResult multistep_update(CommandStream& stream, const MultistepCoefficients& c, const Tensor& x, const Tensor& v,
                                 const Tensor& last, std::span<const Tensor* const> history) {
  auto check = [&](const Tensor& t, const std::string& what) {
    if (!t.defined() || t.dtype() != DType::F32 || !t.contiguous() || t.shape() != x.shape())
      throw_unsupported("multistep_update: " + what + " " + (t.defined() ? t.describe() : std::string("(none)")) +
                        " must be a contiguous f32 tensor of the sample's shape " + shape_string(x.shape()));
    require_u32_indexing(t, "multistep_update");
  };
  check(x, "sample");
  check(v, "model output");
  const size_t nc = c.correct ? c.corrector.history.size() : 0, np = c.predictor.history.size();
  const size_t n = std::max(nc, np);
  if (n > kMultistepMaxHistory || n > history.size())
    throw_unsupported("multistep_update: " + std::to_string(n) + " history coefficients for " +
                      std::to_string(history.size()) + " stored estimates (at most " +
                      std::to_string(kMultistepMaxHistory) + ")");
  if (c.correct) check(last, "previous sample");
  for (size_t k = 0; k < n; ++k) check(*history[k], "estimate " + std::to_string(k));

  Context& ctx = stream.context();
  MultistepResult r;
  r.estimate = Tensor::empty(ctx, x.shape(), DType::F32);
  r.next = Tensor::empty(ctx, x.shape(), DType::F32);
  r.corrected = c.correct ? Tensor::empty(ctx, x.shape(), DType::F32) : x;
  if (x.numel() == 0) return r;

  MultistepPush push{};
  push.numel = static_cast<uint32_t>(x.numel());
  push.corrector = c.correct ? 1 : 0;
  push.c_count = static_cast<uint32_t>(nc);
  push.p_count = static_cast<uint32_t>(np);
  push.x_offset = static_cast<uint32_t>(x.offset());
  push.v_offset = static_cast<uint32_t>(v.offset());
  push.l_offset = c.correct ? static_cast<uint32_t>(last.offset()) : 0;
  push.neg_convert = -c.convert;
  push.c_last = c.corrector.last;
  push.c_estimate = c.corrector.estimate;
  push.p_sample = c.predictor.sample;
  push.p_estimate = c.predictor.estimate;
  for (size_t k = 0; k < nc; ++k) push.c_history[k] = std::bit_cast<uint32_t>(c.corrector.history[k]);
  for (size_t k = 0; k < np; ++k) push.p_history[k] = std::bit_cast<uint32_t>(c.predictor.history[k]);
  Arg args[10] = {{x.buffer()}, {v.buffer()}, {c.correct ? last.buffer() : x.buffer()}};
  for (size_t k = 0; k < kMultistepMaxHistory; ++k) {
    args[3 + k] = {k < n ? history[k]->buffer() : x.buffer()};
    push.h_offset[k] = k < n ? static_cast<uint32_t>(history[k]->offset()) : 0;
  }
  args[7] = {r.estimate.buffer()};
  args[8] = {c.correct ? r.corrected.buffer() : r.next.buffer()};
  args[9] = {r.next.buffer()};
  auto g = grid_1d(push.numel, MULTISTEP_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kMultistep, {}), args, &push, sizeof(push), g[0], g[1], g[2]);
  return r;
}

}  // namespace lattice::gpu
