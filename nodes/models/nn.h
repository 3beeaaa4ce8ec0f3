#pragma once
/// Building blocks shared by the transformer models (FLUX, Wan, LTX-Video, the text encoders), written on
/// gpu/ ops. Weights are named after checkpoint keys and uploaded from a WeightSource on first use.
///
/// Layout conventions: token sequences are [B, L, C] contiguous f32; multi-head tensors keep the heads
/// packed in the channel dimension ([B, L, H*D]) so that linears need no permutes; ops that work per head
/// take the head count. Every function records into the caller's CommandStream; nothing is submitted.

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/ops/attention.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/unary.h"
#include "gpu/context.h"
#include "gpu/tensor.h"
#include "nodes/models/weight_patch.h"
#include "nodes/models/weights.h"

namespace lattice {

/// Uploads checkpoint tensors to the device, once each. Matrices keep their stored dtype when the matmul
/// reads it (f32, f16, bf16; fp8 becomes f32), or, where a matrix dtype is given (a loader's weight_dtype:
/// f32, f16, bf16, fp8 e4m3fn or e5m2), are converted to it on the host (used as stored where they already
/// are); vectors (biases, norm scales) become f32. Patched tensors (LoRA merged at
/// load, nodes/models/weight_patch.h) are merged in f32 on the host and rounded back to their stored 16-bit
/// dtype (or encoded as the matrix dtype), so that a merged model needs the device memory of its base.
///
/// Host memory: a tensor used as stored goes from the file mapping through gpu::Staging to the device with
/// no host copy; a converted or patched one is decoded from the mapping a block of rows (a few MiB of f32) at
/// a time, merged and encoded straight into one buffer of its device dtype, freed once uploaded: never an f32
/// copy of the whole matrix unless f32 is its device dtype. Peak host memory beyond the device allocations
/// is thus at most about one tensor in its device dtype, plus page cache (bench/load_memory.cpp;
/// docs/performance.md).
/// bf16 is never converted to f16, on any device: the matmul (and every op taking bf16) reads bf16 as 32-bit
/// words and widens it to f32 in the shader (gpu/ops/matmul_decode.glsl), which needs no 16-bit storage or
/// arithmetic support. So no device lacks bf16, and there is no f16 range loss (bf16 values above 65504).
///
/// Matrices are uploaded as gpu::MatmulWeights: packed for the matmul kernel where the device's kernel reads
/// that layout best (gpu::matmul_packs_weights: CPU devices), in plain row-major order elsewhere. Packing is
/// done on the host in prepare() (so on the block streamer's host thread), after any LoRA merge, a row block
/// at a time where the matrix is split as matrix_rows() splits it; it costs one more host buffer of the
/// tensor while it is prepared (docs/performance.md, "Matmul on lavapipe").
/// A checkpoint tensor's bytes on the host in the dtype it will have on the device: the file mapping itself
/// when it is used as stored, else the converted (or LoRA-merged, or packed) values it owns.
struct HostWeight {
  std::span<const std::byte> bytes;
  gpu::DType dtype = gpu::DType::F32;
  gpu::Shape shape;
  /// Rows of each independently packed block (gpu::pack_matmul_weights; the whole matrix or matrix_rows'
  /// blocks); 0 when the bytes are row-major.
  int64_t packed_rows = 0;
  // The converted values, moved in (never copied): one host buffer of this tensor at a time.
  std::vector<float> f32_storage;
  std::vector<uint16_t> half_storage;
  std::vector<std::byte> byte_storage;  // fp8
};

class DeviceWeights {
 public:
  /// `matrix_dtype`: the device dtype of every matrix (none: as stored, see above).
  DeviceWeights(const WeightSource& source, gpu::Context& ctx, std::shared_ptr<const WeightPatches> patches = {},
                std::optional<gpu::DType> matrix_dtype = {})
      : source_(source), ctx_(ctx), patches_(std::move(patches)), matrix_dtype_(matrix_dtype) {}
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;
  bool has(const std::string& name) const { return source_.has(name); }
  /// A [out, in] matrix as matmul weights (packed where the device packs them; see above).
  const gpu::MatmulWeights& matrix(const std::string& name);
  /// The matrix as blocks of whole rows, each at most max_bytes (for matrices larger than a device buffer),
  /// each packed on its own where the device packs.
  std::vector<gpu::MatmulWeights> matrix_rows(const std::string& name, uint64_t max_bytes);
  const gpu::Tensor& vector(const std::string& name);
  /// Any tensor as f32 (embedding tables, positional tables).
  const gpu::Tensor& f32(const std::string& name);
  /// Device bytes held by the tensors uploaded so far (less those released).
  uint64_t uploaded_bytes() const { return uploaded_; }
  gpu::Context& context() { return ctx_; }
  const WeightSource& source() const { return source_; }
  const std::shared_ptr<const WeightPatches>& patches() const { return patches_; }
  const std::optional<gpu::DType>& matrix_dtype() const { return matrix_dtype_; }
  /// Device bytes held by every DeviceWeights on `ctx` (every model's weights there; the block streamer
  /// tells models loaded beside its own from the rest of what is in use).
  static uint64_t context_bytes(const gpu::Context& ctx);

  // Block streaming (nodes/models/block_streamer.h) uses the two halves of an upload separately.
  /// The host half of an upload: reads (and converts, merges or packs) the tensor. Const and safe to call
  /// from another thread while this object is used, as long as the WeightSource is not changed.
  HostWeight prepare(const std::string& name, bool keep_dtype) const;
  /// Hands over a tensor prepared elsewhere; the next upload of that name and keep_dtype uses it.
  void stage(const std::string& name, bool keep_dtype, HostWeight w);
  /// Device tensors to overwrite instead of allocating: an upload whose shape and dtype match one of them
  /// copies into it. Spares left unused stay allocated until drop_spares().
  void give_spares(std::vector<gpu::Tensor> spares) { spares_ = std::move(spares); }
  void drop_spares() { spares_.clear(); }
  /// Takes every uploaded tensor out (to reuse in another DeviceWeights); this object is then empty.
  std::vector<gpu::Tensor> take_tensors();
  /// Drops the device copies of the tensors whose names start with `prefix`.
  void release(const std::string& prefix);
  /// Rows per block of a matrix of `shape` and element `bytes` split into blocks of at most max_bytes (the
  /// blocks matrix_rows uploads; the block streamer reuses buffers of the same shapes).
  static int64_t rows_per_block(const gpu::Shape& shape, uint64_t element_bytes, uint64_t max_bytes);

 private:
  const gpu::MatmulWeights& upload(const std::string& name, bool keep_dtype);
  HostWeight take_prepared(const std::string& name, bool keep_dtype);
  gpu::Tensor to_device(std::span<const std::byte> bytes, gpu::Shape shape, gpu::DType dtype);
  void count_uploaded(uint64_t add, uint64_t remove);  // uploaded_ and context_bytes()
  const WeightSource& source_;
  gpu::Context& ctx_;
  std::shared_ptr<const WeightPatches> patches_;
  std::optional<gpu::DType> matrix_dtype_;
  std::map<std::string, gpu::MatmulWeights> cache_;  // matrices may be packed; other tensors never are
  std::map<std::string, std::vector<gpu::MatmulWeights>> row_blocks_;
  std::map<std::string, HostWeight> staged_;
  std::vector<gpu::Tensor> spares_;
  uint64_t uploaded_ = 0;
};

/// Bytes a checkpoint tensor takes on the device once uploaded with `keep_dtype` (matrices) or not (vectors):
/// for matrices with a `matrix_dtype`, that dtype's size; else its stored size where the device reads that
/// dtype, else 4 bytes per element.
uint64_t device_tensor_bytes(const TensorInfo& info, bool keep_dtype, std::optional<gpu::DType> matrix_dtype = {});

/// y = x·Wᵀ + b, W [out, in] under `<prefix>.weight`, b under `<prefix>.bias` when present.
/// A weight larger than the device can bind in one buffer (Device::max_buffer_bytes) is uploaded as blocks
/// of whole output rows (`parts`, `weight` then undefined); each part's product is written into its column
/// range of y (matmul_into), so the result is the same with no concatenation. The output must fit one
/// buffer; wider intermediates are the caller's to chunk (map_token_chunks).
/// `activation` is applied in the matmul's epilogue (one pass over y instead of two; the same arithmetic as
/// gpu/ops/unary.h). into() writes y into a view instead of a new tensor (e.g. a column range of a wider
/// tensor, so that a concatenation needs no copy of this part).
struct Linear {
  gpu::MatmulWeights weight;  ///< W, packed where DeviceWeights packs it (a plain Tensor converts)
  gpu::Tensor bias;
  std::vector<gpu::MatmulWeights> parts;  ///< row blocks of W when it is split; empty otherwise
  static Linear load(DeviceWeights& w, const std::string& prefix);
  gpu::Tensor operator()(gpu::CommandStream& s, const gpu::Tensor& x,
                         std::optional<gpu::UnaryOp> activation = std::nullopt) const;
  void into(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& out,
            std::optional<gpu::UnaryOp> activation = std::nullopt) const;
  int64_t out_features() const;
};

/// Applies a row-wise function f(chunk, first_row) ([B, l, C] -> [B, l, C']) to x [B, L, C] (or [L, C]) in
/// chunks of rows small enough
/// that an intermediate of `widest` f32 channels per row fits one device buffer, and concatenates the
/// results along dimension 1. One call of f(x) when everything fits (the usual case), so it costs nothing
/// where buffers are large. f must treat rows independently (linears, norms, activations; not attention).
gpu::Tensor map_token_chunks(gpu::CommandStream& s, const gpu::Tensor& x, int64_t widest,
                             const std::function<gpu::Tensor(const gpu::Tensor&, int64_t)>& f);

/// The i-th of n equal chunks of the last dimension, as a strided view (no copy).
gpu::Tensor chunk(const gpu::Tensor& t, int n, int i);
/// Rows [begin, end) of dimension 1 of a [B, L, C] tensor, as a view.
gpu::Tensor rows(const gpu::Tensor& t, int64_t begin, int64_t end);
/// A contiguous copy of a (possibly strided) tensor.
gpu::Tensor contiguous(gpu::CommandStream& s, const gpu::Tensor& t);
/// [B, La, C] and [B, Lb, C] -> [B, La+Lb, C]; or along the last dimension with `dim` = -1.
gpu::Tensor concat(gpu::CommandStream& s, const gpu::Tensor& a, const gpu::Tensor& b, int dim);

/// x·(1 + scale) + shift, x [B, L, C], shift and scale [B, C] (views are fine): adaLN modulation.
gpu::Tensor modulate(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& shift, const gpu::Tensor& scale);
/// x + gate·y, x and y [B, L, C], gate [B, C].
gpu::Tensor gated_add(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& gate, const gpu::Tensor& y);

/// Multi-head scaled dot-product attention on packed heads: q [B, Lq, H*D], k and v [B, Lk, H*D] ->
/// [B, Lq, H*D]. key_bias: optional additive [B, Lk] (padding masks); scale: usually 1/sqrt(D).
gpu::Tensor attention(gpu::CommandStream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                      int64_t heads, float scale, const gpu::Tensor& key_bias = {});
/// The same with every gpu::attention option (bias, causal, masks).
gpu::Tensor attention(gpu::CommandStream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                      int64_t heads, const gpu::AttentionOptions& options);

/// Rotary embedding with interleaved pairs (x[2i], x[2i+1]) per head: x [B, L, H*D], cos and sin [L, D].
gpu::Tensor rope_interleaved(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& cos, const gpu::Tensor& sin,
                             int64_t heads);

/// diffusers Timesteps(channels, flip_sin_to_cos, downscale_freq_shift) for t [B] on the host -> [B, channels].
std::vector<float> timestep_embedding(const std::vector<float>& t, int channels, bool flip_sin_to_cos, float downscale_freq_shift);

}  // namespace lattice
