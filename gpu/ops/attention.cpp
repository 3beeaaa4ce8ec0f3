#include "gpu/ops/attention.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "gpu/allocator.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/attention_infos.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/matmul_pack.h"
#include "gpu/ops/softmax.h"
#include "gpu/ops/texel_operands.h"
#include "gpu/shaders/attention.spv.h"
#include "gpu/shaders/attention_texel.spv.h"
#include "gpu/shaders/attention_texel_tile.spv.h"
#include "gpu/variant.h"

namespace lattice::gpu {

static_assert(sizeof(AttentionPush) == 22 * 4, "AttentionPush must match attention_infos.h");
static_assert(sizeof(AttentionPush) <= 128, "push constants are only guaranteed up to 128 bytes");

namespace {

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

const KernelDesc kPortable{"attention", lattice_spv_attention,
                           {BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage,
                            BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                           sizeof(AttentionPush)};
const KernelDesc kTexel{"attention_texel", lattice_spv_attention_texel,
                        {BindingKind::UniformTexel, BindingKind::UniformTexel, BindingKind::UniformTexel,
                         BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                        sizeof(AttentionPush)};
const KernelDesc kTexelTile{"attention_texel_tile", lattice_spv_attention_texel_tile,
                            {BindingKind::UniformTexel, BindingKind::UniformTexel, BindingKind::UniformTexel,
                             BindingKind::Storage, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
                            sizeof(AttentionPush)};

struct Problem {
  const Tensor& q;
  const Tensor& k;
  const Tensor& v;
  const AttentionOptions& options;
  bool write_lse;
};

// Q, K and V as texels: the head dim, offsets and the outer strides (elements; record() has rejected negative
// ones) whole texels, the head dim contiguous (record() checks).
bool texel_applies(const Device& device, const Problem& p) {
  TexelOperands texel(device);
  for (const Tensor* t : {&p.q, &p.k, &p.v}) {
    const auto& s = t->strides();
    texel.aligned({static_cast<uint64_t>(t->dim(3)), static_cast<uint64_t>(t->offset()), static_cast<uint64_t>(s[0]),
                   static_cast<uint64_t>(s[1]), static_cast<uint64_t>(s[2])});
  }
  return static_cast<bool>(texel.bound({&p.q, &p.k, &p.v}));
}
// texel_tile runs every head dim texel does (to ATTENTION_MAX_HEAD_DIM). Chosen automatically above head dim 64
// only: it beat texel per CPU-second at 128 (+12% at 1280 x 6 x 128 in the same minutes) and at 256 (+40% at
// 1024 x 8 x 256), at 64 it measured the same (docs/performance.md, "texel_tile").
bool texel_tile_preferred(const Device& device, const Problem& p) {
  return p.q.dim(3) > 64 && texel_applies(device, p);
}

// "matmul": attention composed from the packed texel matmul (record_matmul below), on CPU devices. It takes
// the key mask but no bias, causal masking or log-sum-exp (those go to the kernels above), and needs whole
// texels of the head dim; its scratch (packed K and V of one head, one block of score rows) must fit texel
// buffers.
int64_t padded_keys(int64_t lk) { return (lk + 3) / 4 * 4; }
constexpr uint64_t kScoreBlockBytes = uint64_t{8} << 20;
// Bytes of the score block: 8 MiB (or the device's buffer limit if lower), at least one row.
uint64_t score_block_bytes(const Device& device, int64_t keys) {
  return std::max<uint64_t>(std::min<uint64_t>(kScoreBlockBytes, device.max_buffer_bytes()), static_cast<uint64_t>(keys) * 4);
}
// Query rows per block: the score rows [rows, keys] and the Q rows [rows, dim] each within `block` bytes
// (at least one row, at most lq), so that a wide head over few keys keeps its Q block to the block's size too
// (it always fits a buffer: it is part of a head's Q, which does).
int64_t block_rows(uint64_t block, int64_t keys, int64_t dim, int64_t lq) {
  const uint64_t widest = static_cast<uint64_t>(std::max(keys, dim)) * 4;
  return std::min<int64_t>(lq, static_cast<int64_t>(std::max<uint64_t>(1, block / widest)));
}
bool matmul_applies(const Device& device, const Problem& p) {
  const AttentionOptions& o = p.options;
  const uint64_t d = static_cast<uint64_t>(p.q.dim(3)), keys = static_cast<uint64_t>(padded_keys(p.k.dim(2)));
  const uint64_t texels = device.info().max_texel_buffer_elements, packed_bytes = keys * d * 4;
  const uint64_t scores = score_block_bytes(device, static_cast<int64_t>(std::max(keys, d)));  // and the Q rows
  return device.info().is_cpu() && !o.bias.defined() && !o.causal && !p.write_lse && d % 4 == 0 &&
         matmul_packs_weights(device, DType::F32, static_cast<int64_t>(keys), static_cast<int64_t>(d)) &&
         packed_bytes / 16 <= texels && packed_bytes <= device.max_buffer_bytes() && scores / 16 <= texels &&
         scores <= device.max_buffer_bytes();
}

// Chosen on CPU devices above head dim 128 with at least 128 keys, and at head dims 65..128 from 2,048 keys on.
// Measured per CPU-second against texel_tile in the same minutes, idle host (docs/performance.md, "Attention
// from the packed matmul"): 1024 x 8 x 256 +50%; at 128, 4096 x 24 x 128 +37%, 2048 x 12 x 128 +13..25%,
// 1024 x 24 x 128 about equal, 1280 x 6 x 128 8% slower (texel_tile slows down as one head's keys outgrow the
// caches, the composition does not); at 64 (1024 x 24 x 64) 45% slower than texel, the P.V product then
// filling half of the matmul's 128-column tile. Fewer than 128 keys would leave score columns of that tile idle.
bool matmul_wins(int64_t dim, int64_t keys) {
  return dim % 4 == 0 && keys >= 128 && (dim > 128 || (dim > 64 && keys >= 2048));
}
bool matmul_preferred(const Device& device, const Problem& p) {
  return matmul_wins(p.q.dim(3), p.k.dim(2)) && matmul_applies(device, p);
}

// texel_tile and matmul are listed twice: chosen where they win, and forced-only for everything they can run
// (tests).
const std::array<Variant<Problem>, 6> kVariants = {{{"matmul", matmul_preferred},
                                                    {"texel_tile", texel_tile_preferred},
                                                    {"texel", texel_applies},
                                                    {"texel_tile", texel_applies, /*forced_only=*/true},
                                                    {"matmul", matmul_applies, /*forced_only=*/true},
                                                    {"portable", always<Problem>}}};

// Query rows per invocation of the texel variant, and keys per inner step: each K/V texel fetch (a function call
// on llvmpipe) serves `rows` rows, and each q load and accumulator update serves `keys` keys. q and the
// accumulators take 2 * rows * D floats per invocation. Measured (GFLOP per CPU-second, docs/performance.md):
// D = 64: 8 rows x 2 keys about 8% over 8 x 1, 4 x 2 slower; D = 128: 4 rows x 2 keys about 7% over 8 x 1 (8 x 2,
// 4 x 1, 6 x 2 and 4 x 4 slower, 16 rows far slower); at D = 256 eight rows take llvmpipe minutes to compile.
uint32_t texel_rows(int64_t dim) { return dim <= 64 ? 8 : dim <= 128 ? 4 : 2; }
uint32_t texel_keys(int64_t dim) { return dim <= 128 ? 2 : 1; }
static_assert(ATTENTION_KEY_BLOCK % 2 == 0, "a key block must hold whole steps of texel_keys keys");
// texel_tile: query rows per invocation (a row tile of scores against 16 keys) and keys per P.V step. Measured
// at 1280 x 6 x 128 (GFLOP per CPU-second, docs/performance.md): 16 rows x 2 keys fastest, 12 rows about 2%
// and 8 rows about 7% slower; 4 keys or 32-key blocks no faster. llvmpipe's compile time grows about with the
// square of the per-invocation state (rows x D accumulators): 16 rows took 36 CPU-seconds per pipeline, 12 rows
// 14, 8 rows 5-10. Above D = 128 four rows keep that state at 8 x 128.
uint32_t tile_rows(int64_t dim) { return dim <= 128 ? 8 : 4; }
constexpr uint32_t kTileKeys = 2;
static_assert(ATTENTION_TEXEL_KEY_BLOCK % kTileKeys == 0, "a key block must hold whole P.V steps");

AttentionPartial record(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionOptions& options, bool write_lse);

// The "matmul" variant. Per (batch, head): K packed as matmul weights [Lk4, D] and V transposed as [D, Lk4]
// (Lk4: Lk rounded up to whole texels, zero-padded); per block of query rows: the rows of Q copied
// contiguous (the matmul's A), S = Q K^T into a scratch [rows, Lk4], softmax in place (scale, key mask;
// the padding columns become 0), O = S V^T into the block's rows of `out` [B, Lq, H, D]. The scratch
// buffers are reused by every head and block (the stream puts a barrier between commands).
void record_matmul(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, float scale,
                   const Tensor& out) {
  Context& ctx = stream.context();
  const int64_t batch = q.dim(0), heads = q.dim(1), lq = q.dim(2), dim = q.dim(3), lk = k.dim(2), lk4 = padded_keys(lk);
  const int64_t rows = block_rows(score_block_bytes(ctx.device(), std::max(lk4, dim)), lk4, dim, lq);
  const Tensor kp = Tensor::empty(ctx, {lk4, dim}, DType::F32), vp = Tensor::empty(ctx, {dim, lk4}, DType::F32);
  const Tensor qc = Tensor::empty(ctx, {rows, dim}, DType::F32), scores = Tensor::empty(ctx, {rows, lk4}, DType::F32);
  // One head's [L, D] matrix of a [B, H, L, D] view.
  auto head = [](const Tensor& t, int64_t b, int64_t h) {
    const auto& st = t.strides();
    return t.view({t.dim(2), t.dim(3)}, {st[2], 1}, t.offset() + b * st[0] + h * st[1]);
  };
  for (int64_t b = 0; b < batch; ++b) {
    const Tensor mask_row = mask.defined() ? narrow(mask, 0, mask.dim(0) > 1 ? b : 0, 1).reshape({lk}) : Tensor();
    for (int64_t h = 0; h < heads; ++h) {
      pack_matmul_b_into(stream, head(k, b, h), false, kp);
      pack_matmul_b_into(stream, head(v, b, h), true, vp);
      const Tensor qh = head(q, b, h);
      for (int64_t r0 = 0; r0 < lq; r0 += rows) {
        const int64_t n = std::min(rows, lq - r0);
        const Tensor a = narrow(qc, 0, 0, n), s = narrow(scores, 0, 0, n);
        copy_into(stream, narrow(qh, 0, r0, n), a);
        matmul_into(stream, a, MatmulWeights(kp, true), {}, s);
        softmax_rows_inplace(stream, s, lk, scale, mask_row);
        matmul_into(stream, s, MatmulWeights(vp, true), {}, out.view({n, dim}, {heads * dim, 1}, ((b * lq + r0) * heads + h) * dim));
      }
    }
  }
}

}  // namespace

uint64_t attention_scratch_bytes(int64_t lq, int64_t lk, int64_t dim) {
  if (!matmul_wins(dim, lk)) return 0;
  const uint64_t keys = static_cast<uint64_t>(padded_keys(lk)), d = static_cast<uint64_t>(dim);
  const uint64_t rows = static_cast<uint64_t>(block_rows(kScoreBlockBytes, static_cast<int64_t>(keys), dim, lq));
  return 4 * (2 * keys * d + rows * d + rows * keys);
}

Tensor split_heads(const Tensor& x, int64_t heads) {
  if (x.rank() != 3 || !x.contiguous() || heads <= 0 || x.dim(2) % heads != 0)
    throw_unsupported("split_heads of " + x.describe() + " into " + std::to_string(heads) +
                      " heads: needs a contiguous [B, L, H*D]");
  int64_t b = x.dim(0), l = x.dim(1), c = x.dim(2), d = c / heads;
  return x.view({b, heads, l, d}, {l * c, d, c, 1}, x.offset());
}

Tensor attention(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                 const AttentionOptions& options) {
  return record(stream, q, k, v, options, false).out;
}

AttentionPartial attention_partial(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                                   const AttentionOptions& options) {
  return record(stream, q, k, v, options, true);
}

namespace {

AttentionPartial record(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionOptions& options, bool write_lse) {
  auto fail = [&](const std::string& why) {
    throw_unsupported("attention of Q " + q.describe() + ", K " + k.describe() + ", V " + v.describe() + ": " + why);
  };
  for (const Tensor* t : {&q, &k, &v}) {
    if (!t->defined() || t->dtype() != DType::F32 || t->rank() != 4) fail("Q, K and V must be f32 [B, H, L, D]");
    if (t->strides()[3] != 1 && t->dim(3) > 1) fail("the head dim (last) must have stride 1");
    for (int d = 0; d < 4; ++d)
      if (t->strides()[static_cast<size_t>(d)] < 0) fail("negative strides are not supported");
    // The shader indexes in 32 bits; every element it can reach lies in the buffer.
    if (t->buffer()->size() / 4 > std::numeric_limits<uint32_t>::max()) fail("buffer over 2^32 elements");
  }
  const int64_t batch = q.dim(0), heads = q.dim(1), lq = q.dim(2), dim = q.dim(3), lk = k.dim(2);
  if (k.dim(0) != batch || k.dim(1) != heads || k.dim(3) != dim || v.shape() != k.shape())
    fail("K and V must be [B, H, Lk, D] with Q's B, H and D");
  if (dim < 1 || dim > ATTENTION_MAX_HEAD_DIM) fail("head dim must be 1.." + std::to_string(ATTENTION_MAX_HEAD_DIM));

  const Tensor& mask = options.key_mask;
  if (mask.defined() && (mask.dtype() != DType::F32 || mask.rank() != 2 || !mask.contiguous() || mask.dim(1) != lk ||
                         (mask.dim(0) != batch && mask.dim(0) != 1)))
    fail("key_mask must be a contiguous f32 [B or 1, Lk], got " + mask.describe());
  Tensor bias = options.bias;
  if (bias.defined() && bias.rank() == 4 && bias.dim(0) == 1 && bias.contiguous())
    bias = bias.reshape({bias.dim(1), bias.dim(2), bias.dim(3)});
  if (bias.defined() && (bias.dtype() != DType::F32 || bias.rank() != 3 || !bias.contiguous() || bias.dim(1) != lq ||
                         bias.dim(2) != lk || (bias.dim(0) != heads && bias.dim(0) != 1)))
    fail("bias must be a contiguous f32 [H or 1, Lq, Lk], got " + options.bias.describe());

  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, {batch, lq, heads, dim}, DType::F32);
  Tensor lse = write_lse ? Tensor::empty(ctx, {batch, lq, heads}, DType::F32) : Tensor();
  if (out.numel() == 0) return {out, lse};
  if (out.numel() > std::numeric_limits<uint32_t>::max()) fail("output over 2^32 elements");
  if (lk == 0) fail("no keys");
  // The shader adds the shift to row indices in 32 bits; beyond [-Lq, Lk] it changes nothing (every row sees
  // no key, or all of them), so it is clamped there.
  const int64_t shift = options.causal ? std::clamp<int64_t>(options.causal_offset, -lq, lk) : 0;

  float scale = options.scale.value_or(static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim))));
  AttentionPush push{u32(batch), u32(heads), u32(lq), u32(lk),
                     u32(q.offset()), u32(q.strides()[0]), u32(q.strides()[1]), u32(q.strides()[2]),
                     u32(k.offset()), u32(k.strides()[0]), u32(k.strides()[1]), u32(k.strides()[2]),
                     u32(v.offset()), u32(v.strides()[0]), u32(v.strides()[1]), u32(v.strides()[2]),
                     u32(mask.defined() ? mask.offset() : 0), u32(mask.defined() && mask.dim(0) > 1 ? lk : 0),
                     u32(bias.defined() ? bias.offset() : 0), u32(bias.defined() && bias.dim(0) > 1 ? lq * lk : 0),
                     scale, static_cast<int32_t>(shift)};
  // Unused bindings still need a valid buffer; the shader never reads it (specialised away).
  const auto& mask_buf = mask.defined() ? mask.buffer() : out.buffer();
  const auto& bias_buf = bias.defined() ? bias.buffer() : out.buffer();

  Problem p{q, k, v, options, write_lse};
  const Variant<Problem>& variant = choose_variant<Problem>("attention", kVariants, ctx.device(), p, options.variant);
  if (variant.name == "matmul") {
    record_matmul(stream, q, k, v, mask, scale, out);
    return {out, lse};
  }
  const bool tile = variant.name == "texel_tile";
  const bool texel = tile || variant.name == "texel";
  // The portable variant (GPUs) keeps one row per invocation: there, registers are the scarce resource.
  const uint32_t rows = tile ? tile_rows(dim) : texel ? texel_rows(dim) : 1;
  const uint32_t keys = tile ? kTileKeys : texel ? texel_keys(dim) : 1;
  uint32_t spec[] = {u32(dim), mask.defined() ? 1u : 0u, bias.defined() ? 1u : 0u, options.causal ? 1u : 0u, rows,
                     write_lse ? 1u : 0u, keys};
  Arg args[] = {texel_arg(q.buffer(), texel), texel_arg(k.buffer(), texel), texel_arg(v.buffer(), texel),
                {mask_buf}, {bias_buf}, {out.buffer()}, {write_lse ? lse.buffer() : out.buffer()}};
  auto g = grid_1d(uint64_t{push.batch} * push.heads * ((push.lq + rows - 1) / rows), ATTENTION_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(tile ? kTexelTile : texel ? kTexel : kPortable, spec), args, &push, sizeof(push), g[0], g[1], g[2]);
  return {out, lse};
}

}  // namespace

}  // namespace lattice::gpu
