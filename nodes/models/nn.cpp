#include "nodes/models/nn.h"

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <type_traits>

#include "core/error.h"
#include "gpu/ops/attention.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/rope.h"
#include "nodes/types/exact_device_dtype.h"

namespace lattice {

using gpu::Tensor;

namespace {
// `w` (a matrix) with its bytes packed for matmul in blocks of `rows` whole rows (gpu::pack_matmul_weights
// per block), or row-major with `rows` = 0.
HostWeight with_layout(HostWeight w, int64_t rows) {
  if (w.packed_rows == rows) return w;
  const int64_t n = w.shape[0], k = w.shape[1];
  const size_t row_bytes = w.bytes.size() / static_cast<size_t>(std::max<int64_t>(n, 1));
  // Calls f(first row, rows) for each block of `block` rows.
  auto blocks = [n](int64_t block, auto f) {
    for (int64_t r = 0; r < n; r += block) f(r, std::min(block, n - r));
  };
  std::vector<std::byte> plain;
  std::span<const std::byte> src = w.bytes;
  if (w.packed_rows) {
    plain.resize(w.bytes.size());
    blocks(w.packed_rows, [&](int64_t r, int64_t nb) {
      const size_t at = static_cast<size_t>(r) * row_bytes, size = static_cast<size_t>(nb) * row_bytes;
      gpu::unpack_matmul_weights(w.bytes.subspan(at, size), std::span(plain).subspan(at, size), nb, k, w.dtype);
    });
    src = plain;
  }
  HostWeight out;
  out.shape = w.shape;
  out.dtype = w.dtype;
  out.packed_rows = rows;
  std::span<std::byte> dst;
  if (gpu::dtype_bytes(w.dtype) == 4) {
    out.f32_storage.resize(static_cast<size_t>(n * k));
    dst = std::as_writable_bytes(std::span(out.f32_storage));
  } else if (gpu::dtype_bytes(w.dtype) == 1) {
    out.byte_storage.resize(static_cast<size_t>(n * k));
    dst = out.byte_storage;
  } else {
    out.half_storage.resize(static_cast<size_t>(n * k));
    dst = std::as_writable_bytes(std::span(out.half_storage));
  }
  if (rows == 0) {
    std::memcpy(dst.data(), src.data(), src.size());
  } else {
    blocks(rows, [&](int64_t r, int64_t nb) {
      const size_t at = static_cast<size_t>(r) * row_bytes, size = static_cast<size_t>(nb) * row_bytes;
      gpu::pack_matmul_weights(src.subspan(at, size), dst.subspan(at, size), nb, k, w.dtype);
    });
  }
  out.bytes = dst;
  return out;
}

gpu::DType device_dtype(DType t) {
  switch (t) {
    case DType::F32: return gpu::DType::F32;
    case DType::F16: return gpu::DType::F16;
    case DType::BF16: return gpu::DType::BF16;
    default: return gpu::DType::F32;  // converted on the host
  }
}

// Rows decoded to f32 per block: a few MiB, so that converting a matrix costs the host its result and one block.
constexpr uint64_t kConvertBlockBytes = 4u << 20;

// Tensor `name` of `source` decoded to f32 from the mapping a block of rows at a time, `patches` merged into each
// row (PatchRows), and encoded as `dtype` into r's own storage: the host holds the result and one f32 block,
// never an f32 copy of the whole tensor (issue #4). r.shape is set by the caller.
void converted_rows(HostWeight& r, const WeightSource& source, const std::string& name,
                    const std::vector<const WeightPatch*>& patches, gpu::DType dtype) {
  const TensorInfo& info = source.info(name);
  const auto [rows, cols] = matrix_view(info.shape);
  const size_t n = static_cast<size_t>(rows * cols), row_bytes = static_cast<size_t>(cols) * dtype_size(info.dtype);
  const auto stored = source.bytes(name);
  // Stored rows [o, o + count) as f32.
  auto decode = [&](int64_t o, int64_t count) {
    return to_f32(info.dtype, stored.subspan(static_cast<size_t>(o) * row_bytes, static_cast<size_t>(count) * row_bytes),
                  static_cast<size_t>(count * cols));
  };
  std::optional<PatchRows> merge;
  if (!patches.empty()) {
    merge.emplace(patches, cols);
    merge->prepare(rows, [&](int64_t o, float* row) {  // DoRA norms over whole columns, if any
      const std::vector<float> v = decode(o, 1);
      std::copy(v.begin(), v.end(), row);
    });
  }
  r.dtype = dtype;
  std::span<std::byte> dst;
  if (dtype == gpu::DType::F32) {
    r.f32_storage.resize(n);
    dst = std::as_writable_bytes(std::span(r.f32_storage));
  } else if (gpu::dtype_bytes(dtype) == 1) {
    r.byte_storage.resize(n);
    dst = r.byte_storage;
  } else {
    r.half_storage.resize(n);
    dst = std::as_writable_bytes(std::span(r.half_storage));
  }
  const size_t out_bytes = gpu::dtype_bytes(dtype);
  const int64_t block = std::max<int64_t>(1, static_cast<int64_t>(kConvertBlockBytes / (4 * static_cast<uint64_t>(std::max<int64_t>(cols, 1)))));
  for (int64_t o = 0; o < rows; o += block) {
    const int64_t count = std::min(block, rows - o);
    std::vector<float> v = decode(o, count);
    if (merge)
      for (int64_t i = 0; i < count; ++i) merge->add(v.data() + i * cols, o + i);
    gpu::encode(dtype, v, dst.data() + static_cast<size_t>(o * cols) * out_bytes);
  }
  r.bytes = dst;
}

// Device bytes held by every DeviceWeights, per context.
std::mutex context_bytes_mutex;
std::map<const gpu::Context*, uint64_t> context_bytes_map;
}  // namespace

uint64_t device_tensor_bytes(const TensorInfo& info, bool keep_dtype, std::optional<gpu::DType> matrix_dtype) {
  if (keep_dtype && matrix_dtype) return static_cast<uint64_t>(info.numel()) * gpu::dtype_bytes(*matrix_dtype);
  const bool half = info.dtype == DType::F16 || info.dtype == DType::BF16;
  return static_cast<uint64_t>(info.numel()) * (keep_dtype && half ? 2 : 4);
}

HostWeight DeviceWeights::prepare(const std::string& name, bool keep_dtype) const {
  const TensorInfo& info = source_.info(name);
  const bool native = info.dtype == DType::F32 || info.dtype == DType::F16 || info.dtype == DType::BF16;
  std::vector<const WeightPatch*> patches;
  if (patches_)
    for (const auto& p : *patches_)
      if (p.target == name) patches.push_back(&p);
  HostWeight r;
  r.shape = info.shape;
  // A matrix dtype other than the stored one: decoded to f32, merged, and encoded as that dtype.
  const std::optional<gpu::DType> target = keep_dtype ? matrix_dtype_ : std::nullopt;
  const bool convert = target && (exact_device_dtype(info.dtype) != target ||
                                   (!patches.empty() && *target != gpu::DType::F16 && *target != gpu::DType::BF16));
  if (convert || !patches.empty()) {
    // Converted or merged a block of rows at a time into the result's own storage: a 16-bit matrix merged
    // keeps its stored dtype, so that a merged model takes the device memory of its base.
    const bool half = info.dtype == DType::F16 || info.dtype == DType::BF16;
    converted_rows(r, source_, name, patches, convert ? *target : keep_dtype && half ? device_dtype(info.dtype) : gpu::DType::F32);
  } else if (keep_dtype && (native || target)) {  // as stored (a target is then the stored dtype)
    auto bytes = source_.bytes(name);
    r.bytes = {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()};
    r.dtype = target ? *target : device_dtype(info.dtype);
  } else {
    r.f32_storage = source_.load_f32(name);
    r.bytes = std::as_bytes(std::span(r.f32_storage));
    r.dtype = gpu::DType::F32;
  }
  if (keep_dtype && r.shape.size() == 2) {
    const int64_t rows = rows_per_block(r.shape, gpu::dtype_bytes(r.dtype), ctx_.device().max_buffer_bytes());
    if (gpu::matmul_packs_weights(ctx_.device(), r.dtype, rows, r.shape[1])) return with_layout(std::move(r), rows);
  }
  return r;
}

DeviceWeights::~DeviceWeights() { count_uploaded(0, uploaded_); }

void DeviceWeights::count_uploaded(uint64_t add, uint64_t remove) {
  uploaded_ = uploaded_ + add - remove;
  std::lock_guard lock(context_bytes_mutex);
  uint64_t& n = context_bytes_map[&ctx_];
  n = n + add - remove;
  if (n == 0) context_bytes_map.erase(&ctx_);
}

uint64_t DeviceWeights::context_bytes(const gpu::Context& ctx) {
  std::lock_guard lock(context_bytes_mutex);
  const auto it = context_bytes_map.find(&ctx);
  return it == context_bytes_map.end() ? 0 : it->second;
}

int64_t DeviceWeights::rows_per_block(const gpu::Shape& shape, uint64_t element_bytes, uint64_t max_bytes) {
  const uint64_t row_bytes = std::max<uint64_t>(1, static_cast<uint64_t>(shape[1]) * element_bytes);
  return std::min<int64_t>(shape[0], static_cast<int64_t>(std::max<uint64_t>(1, max_bytes / row_bytes)));
}

void DeviceWeights::stage(const std::string& name, bool keep_dtype, HostWeight w) {
  staged_[name + (keep_dtype ? "" : "#f32")] = std::move(w);
}

HostWeight DeviceWeights::take_prepared(const std::string& name, bool keep_dtype) {
  if (auto it = staged_.find(name + (keep_dtype ? "" : "#f32")); it != staged_.end()) {
    HostWeight w = std::move(it->second);
    staged_.erase(it);
    return w;
  }
  return prepare(name, keep_dtype);
}

Tensor DeviceWeights::to_device(std::span<const std::byte> bytes, gpu::Shape shape, gpu::DType dtype) {
  for (auto it = spares_.begin(); it != spares_.end(); ++it)
    if (it->shape() == shape && it->dtype() == dtype) {
      Tensor t = std::move(*it);
      spares_.erase(it);
      t.upload_bytes(bytes);
      count_uploaded(t.bytes(), 0);
      return t;
    }
  Tensor t = Tensor::from_bytes(ctx_, bytes, std::move(shape), dtype);
  count_uploaded(t.bytes(), 0);
  return t;
}

const gpu::MatmulWeights& DeviceWeights::upload(const std::string& name, bool keep_dtype) {
  const std::string key = name + (keep_dtype ? "" : "#f32");
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  HostWeight p = take_prepared(name, keep_dtype);
  // Prepared for row blocks (a matrix larger than a buffer, which the allocation below then refuses).
  if (p.packed_rows && p.packed_rows != p.shape[0]) p = with_layout(std::move(p), p.shape[0]);
  return cache_.emplace(key, gpu::MatmulWeights(to_device(p.bytes, p.shape, p.dtype), p.packed_rows != 0)).first->second;
}

std::vector<gpu::MatmulWeights> DeviceWeights::matrix_rows(const std::string& name, uint64_t max_bytes) {
  if (auto it = row_blocks_.find(name); it != row_blocks_.end()) return it->second;
  const std::vector<int64_t>& shape = source_.info(name).shape;
  if (shape.size() != 2) matrix(name);  // throws the matrix error
  HostWeight p = take_prepared(name, true);
  const uint64_t row_bytes = p.bytes.size() / static_cast<uint64_t>(shape[0]);
  const int64_t per_block = rows_per_block(p.shape, gpu::dtype_bytes(p.dtype), max_bytes);
  // prepare() packs in the blocks of the device's buffer limit; another max_bytes needs other blocks.
  if (p.packed_rows && p.packed_rows != per_block) p = with_layout(std::move(p), per_block);
  std::vector<gpu::MatmulWeights> blocks;
  for (int64_t r = 0; r < shape[0]; r += per_block) {
    const int64_t n = std::min(per_block, shape[0] - r);
    blocks.emplace_back(to_device(p.bytes.subspan(r * row_bytes, n * row_bytes), {n, shape[1]}, p.dtype), p.packed_rows != 0);
  }
  return row_blocks_.emplace(name, std::move(blocks)).first->second;
}

std::vector<Tensor> DeviceWeights::take_tensors() {
  std::vector<Tensor> out;
  for (auto& [k, t] : cache_) out.push_back(std::move(t.tensor));
  for (auto& [k, ts] : row_blocks_)
    for (auto& t : ts) out.push_back(std::move(t.tensor));
  cache_.clear();
  row_blocks_.clear();
  count_uploaded(0, uploaded_);
  return out;
}

void DeviceWeights::release(const std::string& prefix) {
  for (auto it = cache_.lower_bound(prefix); it != cache_.end() && it->first.starts_with(prefix);) {
    count_uploaded(0, it->second.bytes());
    it = cache_.erase(it);
  }
  for (auto it = row_blocks_.lower_bound(prefix); it != row_blocks_.end() && it->first.starts_with(prefix);) {
    for (const auto& t : it->second) count_uploaded(0, t.bytes());
    it = row_blocks_.erase(it);
  }
}

const gpu::MatmulWeights& DeviceWeights::matrix(const std::string& name) {
  if (source_.info(name).shape.size() != 2)
    throw_invalid(source_.origin() + ": tensor '" + name + "' should be a matrix, it has shape " +
                  HostTensor{DType::F32, source_.info(name).shape, {}}.shape_string());
  return upload(name, true);
}

const Tensor& DeviceWeights::vector(const std::string& name) { return upload(name, false).tensor; }
const Tensor& DeviceWeights::f32(const std::string& name) { return upload(name, false).tensor; }

Linear Linear::load(DeviceWeights& w, const std::string& prefix) {
  Linear l;
  const std::string name = prefix + ".weight";
  const TensorInfo& info = w.source().info(name);
  const uint64_t limit = w.context().device().max_buffer_bytes();
  if (device_tensor_bytes(info, true, w.matrix_dtype()) > limit && info.shape.size() == 2)
    l.parts = w.matrix_rows(name, limit);
  else
    l.weight = w.matrix(name);
  if (w.has(prefix + ".bias")) l.bias = w.vector(prefix + ".bias");
  return l;
}

int64_t Linear::out_features() const {
  if (parts.empty()) return weight.dim(0);
  int64_t n = 0;
  for (const auto& p : parts) n += p.dim(0);
  return n;
}

Tensor Linear::operator()(gpu::CommandStream& s, const Tensor& x, std::optional<gpu::UnaryOp> activation) const {
  if (parts.empty()) return gpu::matmul(s, x, weight, bias, {}, activation);
  gpu::Shape shape = x.shape();
  shape.back() = out_features();
  Tensor y = Tensor::empty(s.context(), shape, gpu::DType::F32);
  into(s, x, y, activation);
  return y;
}

void Linear::into(gpu::CommandStream& s, const Tensor& x, const Tensor& out, std::optional<gpu::UnaryOp> activation) const {
  if (parts.empty()) return gpu::matmul_into(s, x, weight, bias, out, activation);
  // Each part writes its own column range of the output.
  int64_t row = 0;
  for (const auto& p : parts) {
    const int64_t n = p.dim(0);
    gpu::matmul_into(s, x, p, bias.defined() ? gpu::narrow(bias, 0, row, n) : Tensor{}, gpu::narrow(out, -1, row, n), activation);
    row += n;
  }
}

Tensor map_token_chunks(gpu::CommandStream& s, const Tensor& x, int64_t widest,
                        const std::function<Tensor(const Tensor&, int64_t)>& f) {
  const uint64_t limit = s.context().device().max_buffer_bytes();
  const int64_t L = x.rank() == 3 ? x.dim(1) : (x.rank() == 2 ? x.dim(0) : 1);
  const int64_t batch = x.rank() == 3 ? x.dim(0) : 1;
  const uint64_t per_row = static_cast<uint64_t>(batch) * static_cast<uint64_t>(std::max(widest, x.dim(-1))) * 4;
  if (x.rank() < 2 || x.rank() > 3 || per_row * static_cast<uint64_t>(L) <= limit) return f(x, 0);
  const int64_t step = static_cast<int64_t>(std::max<uint64_t>(1, limit / per_row));
  const int dim = x.rank() == 3 ? 1 : 0;
  std::vector<Tensor> outs;
  for (int64_t r = 0; r < L; r += step) outs.push_back(f(gpu::contiguous(s, gpu::narrow(x, dim, r, std::min(step, L - r))), r));
  return gpu::concat(s, outs, dim);
}

Tensor chunk(const Tensor& t, int n, int i) {
  const int64_t c = t.dim(-1);
  if (c % n) throw_eval("cannot split " + t.describe() + " into " + std::to_string(n) + " chunks");
  gpu::Shape shape = t.shape();
  shape.back() = c / n;
  return t.view(shape, t.strides(), t.offset() + (c / n) * i * t.strides().back());
}

Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  if (t.rank() != 3 || begin < 0 || end > t.dim(1) || begin > end)
    throw_eval("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + t.describe());
  return gpu::narrow(t, 1, begin, end - begin);
}

Tensor contiguous(gpu::CommandStream& s, const Tensor& t) { return gpu::contiguous(s, t); }

Tensor concat(gpu::CommandStream& s, const Tensor& a, const Tensor& b, int dim) { return gpu::concat(s, {a, b}, dim); }

Tensor modulate(gpu::CommandStream& s, const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return gpu::modulate(s, x, shift, scale);
}

Tensor gated_add(gpu::CommandStream& s, const Tensor& x, const Tensor& gate, const Tensor& y) {
  return gpu::gated_residual(s, x, gate, y);
}

Tensor rope_interleaved(gpu::CommandStream& s, const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t heads) {
  if (x.rank() != 3 || cos.dim(1) * heads != x.dim(2))
    throw_eval("RoPE: table " + cos.describe() + " does not fit " + x.describe() + " with " + std::to_string(heads) + " heads");
  return gpu::rope(s, x, cos, sin, gpu::RopePairing::Interleaved);
}

Tensor attention(gpu::CommandStream& s, const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale,
                 const Tensor& key_bias) {
  gpu::AttentionOptions o;
  o.scale = scale;
  o.key_mask = key_bias;
  return attention(s, q, k, v, heads, o);
}

Tensor attention(gpu::CommandStream& s, const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                 const gpu::AttentionOptions& options) {
  // The result is [B, Lq, H, D] contiguous, so packing the heads back is a free reshape.
  const Tensor out = gpu::attention(s, gpu::split_heads(q, heads), gpu::split_heads(k, heads), gpu::split_heads(v, heads), options);
  return out.reshape({q.dim(0), q.dim(1), q.dim(2)});
}

std::vector<float> timestep_embedding(const std::vector<float>& t, int channels, bool flip_sin_to_cos,
                                      float downscale_freq_shift) {
  // float32 arithmetic in diffusers' order, so that the embedding matches the reference to the last bit
  // where libm agrees.
  const int half = channels / 2;
  std::vector<float> freq(static_cast<size_t>(half));
  const float log_period = static_cast<float>(-std::log(10000.0));
  for (int i = 0; i < half; ++i)
    freq[static_cast<size_t>(i)] = std::exp(log_period * static_cast<float>(i) / (static_cast<float>(half) - downscale_freq_shift));
  std::vector<float> out(t.size() * static_cast<size_t>(channels), 0.0f);
  for (size_t b = 0; b < t.size(); ++b) {
    float* row = out.data() + b * static_cast<size_t>(channels);
    for (int i = 0; i < half; ++i) {
      const float a = t[b] * freq[static_cast<size_t>(i)];
      row[flip_sin_to_cos ? half + i : i] = std::sin(a);
      row[flip_sin_to_cos ? i : half + i] = std::cos(a);
    }
  }
  return out;
}

}  // namespace lattice
