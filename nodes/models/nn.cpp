#include "nodes/models/nn.h"

#include <cmath>
#include <cstring>
#include <span>

#include "core/error.h"
#include "gpu/ops/attention.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/matmul.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/rope.h"

namespace lattice {

using gpu::Tensor;

namespace {
gpu::DType device_dtype(DType t) {
  switch (t) {
    case DType::F32: return gpu::DType::F32;
    case DType::F16: return gpu::DType::F16;
    case DType::BF16: return gpu::DType::BF16;
    default: return gpu::DType::F32;  // converted on the host
  }
}
}  // namespace

void apply_patches(std::vector<float>& w, int64_t out, int64_t in, const std::vector<const WeightPatch*>& patches) {
  for (const WeightPatch* p : patches) {
    const int64_t rank = p->down.shape.at(0);
    const std::vector<float> up = p->up.to_f32(), down = p->down.to_f32();
    // Row by row, i-k-j order: the inner loop runs over contiguous rows of `down` and `w` and vectorises.
    for (int64_t o = 0; o < out; ++o) {
      float* row = w.data() + o * in;
      for (int64_t k = 0; k < rank; ++k) {
        const float a = p->scale * up[static_cast<size_t>(o * rank + k)];
        if (a == 0) continue;
        const float* d = down.data() + k * in;
        for (int64_t i = 0; i < in; ++i) row[i] += a * d[i];
      }
    }
  }
}

const Tensor& DeviceWeights::upload(const std::string& name, bool keep_dtype) {
  const std::string key = name + (keep_dtype ? "" : "#f32");
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  const TensorInfo& info = source_.info(name);
  Tensor t;
  const bool native = info.dtype == DType::F32 || info.dtype == DType::F16 || info.dtype == DType::BF16;
  std::vector<const WeightPatch*> patches;
  if (patches_)
    for (const auto& p : *patches_)
      if (p.target == name) patches.push_back(&p);
  if (!patches.empty()) {
    std::vector<float> w = source_.load(name).to_f32();
    apply_patches(w, info.shape.at(0), info.shape.at(1), patches);
    // Round back to the stored half dtype: a merged model then takes the device memory of its base.
    const bool half = keep_dtype && (info.dtype == DType::F16 || info.dtype == DType::BF16);
    if (half) {
      std::vector<uint16_t> h(w.size());
      for (size_t i = 0; i < w.size(); ++i) h[i] = info.dtype == DType::BF16 ? float_to_bf16(w[i]) : float_to_half(w[i]);
      t = Tensor::from_bytes(ctx_, std::as_bytes(std::span(h)), info.shape, device_dtype(info.dtype));
    } else {
      t = Tensor::from_floats(ctx_, w, info.shape, gpu::DType::F32);
    }
  } else if (keep_dtype && native) {
    auto bytes = source_.bytes(name);
    t = Tensor::from_bytes(ctx_, {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}, info.shape,
                           device_dtype(info.dtype));
  } else {
    const HostTensor h = source_.load(name);
    t = Tensor::from_floats(ctx_, h.to_f32(), info.shape, gpu::DType::F32);
  }
  uploaded_ += t.bytes();
  return cache_.emplace(key, std::move(t)).first->second;
}

const Tensor& DeviceWeights::matrix(const std::string& name) {
  if (source_.info(name).shape.size() != 2)
    throw_invalid(source_.origin() + ": tensor '" + name + "' should be a matrix, it has shape " +
                  HostTensor{DType::F32, source_.info(name).shape, {}}.shape_string());
  return upload(name, true);
}

const Tensor& DeviceWeights::vector(const std::string& name) { return upload(name, false); }
const Tensor& DeviceWeights::f32(const std::string& name) { return upload(name, false); }

Linear Linear::load(DeviceWeights& w, const std::string& prefix) {
  Linear l;
  l.weight = w.matrix(prefix + ".weight");
  if (w.has(prefix + ".bias")) l.bias = w.vector(prefix + ".bias");
  return l;
}

Tensor Linear::operator()(gpu::CommandStream& s, const Tensor& x) const { return gpu::matmul(s, x, weight, bias); }

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
  return t.view({t.dim(0), end - begin, t.dim(2)}, t.strides(), t.offset() + begin * t.strides()[1]);
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
