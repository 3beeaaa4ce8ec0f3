#include "nodes/models/clip/encoder.h"

#include <cmath>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/unary.h"

namespace lattice {

using gpu::Tensor;

ClipActivation parse_clip_activation(const std::string& name, const std::string& what) {
  if (name == "quick_gelu") return ClipActivation::QuickGelu;
  if (name == "gelu") return ClipActivation::Gelu;
  throw_invalid(what + ": hidden_act '" + name + "' is not supported (quick_gelu, gelu)");
}

ClipEncoder::ClipEncoder(DeviceWeights& w, const std::string& prefix, ClipEncoderShape shape) : shape_(shape) {
  for (int i = 0; i < shape_.layers; ++i) {
    const std::string p = prefix + std::to_string(i) + ".";
    Layer l;
    l.layer_norm1_w = w.vector(p + "layer_norm1.weight");
    l.layer_norm1_b = w.vector(p + "layer_norm1.bias");
    l.layer_norm2_w = w.vector(p + "layer_norm2.weight");
    l.layer_norm2_b = w.vector(p + "layer_norm2.bias");
    l.q_proj = Linear::load(w, p + "self_attn.q_proj");
    l.k_proj = Linear::load(w, p + "self_attn.k_proj");
    l.v_proj = Linear::load(w, p + "self_attn.v_proj");
    l.out_proj = Linear::load(w, p + "self_attn.out_proj");
    l.fc1 = Linear::load(w, p + "mlp.fc1");
    l.fc2 = Linear::load(w, p + "mlp.fc2");
    layers_.push_back(std::move(l));
  }
  const float k = 1.702f, inv_k = 1.0f / 1.702f;
  quick_gelu_k_ = Tensor::from_floats(w.context(), std::span<const float>(&k, 1), {1});
  quick_gelu_inv_k_ = Tensor::from_floats(w.context(), std::span<const float>(&inv_k, 1), {1});
}

Tensor ClipEncoder::mlp_act(gpu::CommandStream& s, const Tensor& x) const {
  if (shape_.activation == ClipActivation::Gelu) return gpu::gelu(s, x);
  // quick_gelu(x) = x·sigmoid(1.702x) = silu(1.702x) / 1.702, from existing ops (no sigmoid op); the
  // round trip through 1.702 costs under an ulp.
  return gpu::mul(s, gpu::silu(s, gpu::mul(s, x, quick_gelu_k_)), quick_gelu_inv_k_);
}

void ClipEncoder::layer(gpu::CommandStream& s, const Layer& l, Tensor& x, bool causal) const {
  // x: [B, L, C]; pre-norm residual blocks.
  const Tensor h = gpu::layer_norm(s, x, shape_.layer_norm_eps, l.layer_norm1_w, l.layer_norm1_b);
  gpu::AttentionOptions o;
  o.scale = 1.0f / std::sqrt(static_cast<float>(x.dim(2) / shape_.heads));
  o.causal = causal;
  const Tensor a = attention(s, l.q_proj(s, h), l.k_proj(s, h), l.v_proj(s, h), shape_.heads, o);
  x = gpu::add(s, x, l.out_proj(s, a));
  const Tensor h2 = gpu::layer_norm(s, x, shape_.layer_norm_eps, l.layer_norm2_w, l.layer_norm2_b);
  x = gpu::add(s, x, l.fc2(s, mlp_act(s, l.fc1(s, h2))));  // fc1: [B, L, intermediate]
}

Tensor ClipEncoder::forward(gpu::CommandStream& s, Tensor x, bool causal, int count, Tensor* penultimate) const {
  if (count < 1 || count > layers())
    throw_eval("CLIP encoder: cannot run " + std::to_string(count) + " of " + std::to_string(layers()) + " layers");
  for (int i = 0; i < count; ++i) {
    if (penultimate && i + 1 == count) *penultimate = x;
    layer(s, layers_[static_cast<size_t>(i)], x, causal);
  }
  return x;
}

}  // namespace lattice
