#include "nodes/models/parameter_count.h"

namespace lattice {

uint64_t parameter_count(const ClipTextConfig& c) {
  const uint64_t d = static_cast<uint64_t>(c.hidden_size), f = static_cast<uint64_t>(c.intermediate_size);
  const uint64_t layer = 4 * (d * d + d) + 4 * d + (d * f + f) + (f * d + d);  // q,k,v,out; 2 layer norms; fc1, fc2
  return static_cast<uint64_t>(c.vocab_size + c.max_position_embeddings) * d + c.num_hidden_layers * layer + 2 * d;
}

uint64_t parameter_count(const T5Config& c) {
  const uint64_t d = static_cast<uint64_t>(c.d_model), in = static_cast<uint64_t>(c.inner_dim()), ff = static_cast<uint64_t>(c.d_ff);
  const uint64_t bias = static_cast<uint64_t>(c.relative_attention_num_buckets * c.num_heads);
  const uint64_t layer = 4 * d * in + 2 * d + 3 * d * ff;  // q,k,v,o; two RMSNorms; wi_0, wi_1, wo
  return static_cast<uint64_t>(c.vocab_size) * d + c.num_layers * layer + bias * (c.per_layer_position_bias ? c.num_layers : 1) + d;
}

uint64_t parameter_count(const AutoencoderKLConfig& c) {
  auto conv = [](uint64_t in, uint64_t out, uint64_t k) { return in * out * k * k + out; };
  auto resnet = [&](uint64_t in, uint64_t out) {
    return 2 * in + conv(in, out, 3) + 2 * out + conv(out, out, 3) + (in != out ? conv(in, out, 1) : 0);
  };
  const auto& ch = c.block_out_channels;
  const uint64_t last = static_cast<uint64_t>(ch.back()), lat = static_cast<uint64_t>(c.latent_channels);
  const uint64_t mid = 2 * resnet(last, last) + (c.mid_block_add_attention ? 2 * last + 4 * (last * last + last) : 0);
  // Encoder: conv_in, levels (resnets + downsampler), mid, norm_out, conv_out to 2 x latent.
  uint64_t n = conv(static_cast<uint64_t>(c.in_channels), static_cast<uint64_t>(ch[0]), 3);
  uint64_t prev = static_cast<uint64_t>(ch[0]);
  for (size_t i = 0; i < ch.size(); ++i) {
    const uint64_t out = static_cast<uint64_t>(ch[i]);
    for (int j = 0; j < c.layers_per_block; ++j) n += resnet(j == 0 ? prev : out, out);
    if (i + 1 < ch.size()) n += conv(out, out, 3);
    prev = out;
  }
  n += mid + 2 * last + conv(last, 2 * lat, 3);
  // Decoder: conv_in, mid, levels reversed (one more resnet each + upsampler), norm_out, conv_out.
  n += conv(lat, last, 3) + mid;
  prev = last;
  for (size_t i = ch.size(); i-- > 0;) {
    const uint64_t out = static_cast<uint64_t>(ch[i]);
    for (int j = 0; j <= c.layers_per_block; ++j) n += resnet(j == 0 ? prev : out, out);
    if (i > 0) n += conv(out, out, 3);
    prev = out;
  }
  n += 2 * static_cast<uint64_t>(ch[0]) + conv(static_cast<uint64_t>(ch[0]), static_cast<uint64_t>(c.out_channels), 3);
  return n;
}

}  // namespace lattice
