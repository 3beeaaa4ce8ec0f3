#include "nodes/models/checkpoint_shapes.h"

namespace lattice {

namespace {

struct Table {
  CheckpointShapes shapes;
  void add(const std::string& name, std::vector<int64_t> shape) { shapes.emplace_back(name, std::move(shape)); }
  void linear(const std::string& p, int64_t out, int64_t in, bool bias = true) {
    add(p + ".weight", {out, in});
    if (bias) add(p + ".bias", {out});
  }
  void norm(const std::string& p, int64_t n) {
    add(p + ".weight", {n});
    add(p + ".bias", {n});
  }
  void conv(const std::string& p, int64_t in, int64_t out, int64_t k) {
    add(p + ".weight", {out, in, k, k});
    add(p + ".bias", {out});
  }
};

// The CLIP encoder layers both towers share (nodes/models/clip/encoder.h).
void clip_layers(Table& t, const std::string& prefix, int layers, int64_t d, int64_t f) {
  for (int i = 0; i < layers; ++i) {
    const std::string p = prefix + std::to_string(i) + ".";
    t.norm(p + "layer_norm1", d);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) t.linear(p + "self_attn." + n, d, d);
    t.norm(p + "layer_norm2", d);
    t.linear(p + "mlp.fc1", f, d);
    t.linear(p + "mlp.fc2", d, f);
  }
}

}  // namespace

CheckpointShapes clip_text_checkpoint_shapes(const ClipTextConfig& c) {
  Table t;
  const int64_t d = c.hidden_size;
  t.add("text_model.embeddings.token_embedding.weight", {c.vocab_size, d});
  t.add("text_model.embeddings.position_embedding.weight", {c.max_position_embeddings, d});
  clip_layers(t, "text_model.encoder.layers.", c.num_hidden_layers, d, c.intermediate_size);
  t.norm("text_model.final_layer_norm", d);
  return t.shapes;
}

CheckpointShapes clip_vision_checkpoint_shapes(const ClipVisionConfig& c) {
  Table t;
  const int64_t d = c.hidden_size;
  t.add("vision_model.embeddings.class_embedding", {d});
  t.add("vision_model.embeddings.patch_embedding.weight", {d, c.num_channels, c.patch_size, c.patch_size});
  t.add("vision_model.embeddings.position_embedding.weight", {c.tokens(), d});
  t.norm("vision_model.pre_layrnorm", d);
  clip_layers(t, "vision_model.encoder.layers.", c.num_hidden_layers, d, c.intermediate_size);
  t.norm("vision_model.post_layernorm", d);
  if (c.projection_dim > 0) t.linear("visual_projection", c.projection_dim, d, false);
  return t.shapes;
}

CheckpointShapes t5_checkpoint_shapes(const T5Config& c) {
  Table t;
  const int64_t d = c.d_model, in = c.inner_dim(), ff = c.d_ff;
  t.add("shared.weight", {c.vocab_size, d});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
    for (const char* n : {"q", "k", "v"}) t.linear(p + "0.SelfAttention." + n, in, d, false);
    t.linear(p + "0.SelfAttention.o", d, in, false);
    if (i == 0 || c.per_layer_position_bias)
      t.add(p + "0.SelfAttention.relative_attention_bias.weight", {c.relative_attention_num_buckets, c.num_heads});
    t.add(p + "0.layer_norm.weight", {d});
    t.linear(p + "1.DenseReluDense.wi_0", ff, d, false);
    t.linear(p + "1.DenseReluDense.wi_1", ff, d, false);
    t.linear(p + "1.DenseReluDense.wo", d, ff, false);
    t.add(p + "1.layer_norm.weight", {d});
  }
  t.add("encoder.final_layer_norm.weight", {d});
  return t.shapes;
}

CheckpointShapes autoencoder_kl_checkpoint_shapes(const AutoencoderKLConfig& c, bool encoder, bool decoder) {
  Table t;
  auto resnet = [&](const std::string& p, int64_t in, int64_t out) {
    t.norm(p + "norm1", in);
    t.conv(p + "conv1", in, out, 3);
    t.norm(p + "norm2", out);
    t.conv(p + "conv2", out, out, 3);
    if (in != out) t.conv(p + "conv_shortcut", in, out, 1);
  };
  const auto& ch = c.block_out_channels;
  const int64_t last = ch.back(), levels = static_cast<int64_t>(ch.size());
  auto mid = [&](const std::string& p) {
    resnet(p + "mid_block.resnets.0.", last, last);
    if (c.mid_block_add_attention) {
      const std::string a = p + "mid_block.attentions.0.";
      t.norm(a + "group_norm", last);
      for (const char* n : {"to_q", "to_k", "to_v", "to_out.0"}) t.linear(a + n, last, last);
    }
    resnet(p + "mid_block.resnets.1.", last, last);
  };
  if (encoder) {
    t.conv("encoder.conv_in", c.in_channels, ch[0], 3);
    int64_t prev = ch[0];
    for (int64_t i = 0; i < levels; ++i) {
      const std::string b = "encoder.down_blocks." + std::to_string(i) + ".";
      for (int j = 0; j < c.layers_per_block; ++j) resnet(b + "resnets." + std::to_string(j) + ".", j == 0 ? prev : ch[i], ch[i]);
      if (i + 1 < levels) t.conv(b + "downsamplers.0.conv", ch[i], ch[i], 3);
      prev = ch[i];
    }
    mid("encoder.");
    t.norm("encoder.conv_norm_out", last);
    t.conv("encoder.conv_out", last, 2 * int64_t{c.latent_channels}, 3);
  }
  if (decoder) {
    t.conv("decoder.conv_in", c.latent_channels, last, 3);
    mid("decoder.");
    int64_t prev = last;
    for (int64_t i = 0; i < levels; ++i) {  // up_blocks.i works at block_out_channels reversed
      const int64_t out = ch[static_cast<size_t>(levels - 1 - i)];
      const std::string b = "decoder.up_blocks." + std::to_string(i) + ".";
      for (int j = 0; j <= c.layers_per_block; ++j) resnet(b + "resnets." + std::to_string(j) + ".", j == 0 ? prev : out, out);
      if (i + 1 < levels) t.conv(b + "upsamplers.0.conv", out, out, 3);
      prev = out;
    }
    t.norm("decoder.conv_norm_out", ch[0]);
    t.conv("decoder.conv_out", ch[0], c.out_channels, 3);
  }
  return t.shapes;
}

uint64_t element_count(const CheckpointShapes& shapes) {
  uint64_t n = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t e = 1;
    for (int64_t d : shape) e *= static_cast<uint64_t>(d);
    n += e;
  }
  return n;
}

}  // namespace lattice
