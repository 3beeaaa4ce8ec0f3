#include "gpu/ops/attention_merge.h"

#include <limits>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/attention_merge_infos.h"
#include "gpu/ops/grid.h"
#include "gpu/shaders/attention_merge.spv.h"

namespace lattice::gpu {

static_assert(sizeof(AttentionMergePush) == 4, "AttentionMergePush must match attention_merge_infos.h");

namespace {

const KernelDesc kMerge{"attention_merge", lattice_spv_attention_merge,
                        {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                        sizeof(AttentionMergePush)};

}  // namespace

void attention_merge(CommandStream& stream, const AttentionPartial& acc, const AttentionPartial& part) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("attention_merge of out " + acc.out.describe() + ", lse " + acc.lse.describe() + " with out " +
                      part.out.describe() + ", lse " + part.lse.describe() + ": " + why);
  };
  for (const AttentionPartial* p : {&acc, &part}) {
    if (!p->out.defined() || !p->lse.defined() || p->out.dtype() != DType::F32 || p->lse.dtype() != DType::F32 ||
        p->out.rank() != 4 || p->lse.rank() != 3 || !p->out.contiguous() || !p->lse.contiguous())
      fail("out and lse must be contiguous f32 [B, Lq, H, D] and [B, Lq, H]");
    for (int d = 0; d < 3; ++d)
      if (p->lse.dim(d) != p->out.dim(d)) fail("lse must be out's [B, Lq, H]");
  }
  if (acc.out.shape() != part.out.shape()) fail("the two partials must have the same shape");
  if (acc.out.offset() != 0 || acc.lse.offset() != 0 || part.out.offset() != 0 || part.lse.offset() != 0)
    fail("the tensors must start at their buffers' beginning");
  if (acc.out.numel() > std::numeric_limits<uint32_t>::max()) fail("over 2^32 elements");
  const uint64_t rows = static_cast<uint64_t>(acc.lse.numel());
  if (rows == 0) return;

  Context& ctx = stream.context();
  AttentionMergePush push{static_cast<uint32_t>(rows)};
  uint32_t spec[] = {static_cast<uint32_t>(acc.out.dim(3))};
  Arg args[] = {{acc.out.buffer()}, {acc.lse.buffer()}, {part.out.buffer()}, {part.lse.buffer()}};
  auto g = grid_1d(rows, ATTENTION_MERGE_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kMerge, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
}

}  // namespace lattice::gpu
