#pragma once
/// The LTX-Video DiT (diffusers LTXVideoTransformer3DModel, v0.33 layout with a top-level
/// scale_shift_table), on the GPU, with blocks named after the diffusers checkpoint keys.
///
/// forward() records one full forward into the caller's CommandStream and returns the output; it submits
/// after each block and waits for it before recording the next (bounding device memory to one block's
/// temporaries: ltx_activation_bytes), the caller submits the rest.
///
/// Weights: the embedders and the output layers are uploaded when the model is made; the blocks
/// ("transformer_blocks.N.") at the first forward, through a BlockStreamer (nodes/models/block_streamer.h):
/// when they do not all fit the device budget beside what is in use and the activations, the leading blocks
/// that fit stay resident and the others stream through one or two reusable slots on every forward (results
/// are identical); a budget too small for one block plus activations is Error(Evaluation) naming the need. Shapes: hidden [B, S, in_channels] with S = F·H·W tokens in (f, h, w) row-major order (the
/// LTX pipeline's packing with patch 1); context [B, L, caption_channels] (T5 states); text_mask: B·L
/// values, 1 = keep, 0 = padding (empty = attend to every token); timestep: B values (one per video) or
/// B·S values (one per token, for image conditioning), raw in [0, 1000]; rope cos/sin [S, inner_dim] from
/// ltx_rope_tables(). Output: [B, S, out_channels].

#include <array>
#include <memory>
#include <vector>

#include "gpu/ops/rope.h"
#include "nodes/models/block_streamer.h"
#include "nodes/models/ltx/config.h"
#include "nodes/models/nn.h"

namespace lattice {

/// LTXVideoRotaryPosEmbed for a frames x height x width latent grid: `dim` (= inner width) columns per
/// token, `dim % 6` leading identity columns, then for each frequency j the three axes (f, h, w), each
/// angle twice (interleaved pairs). scale = rope_interpolation_scale (LTXPipeline: (8 / frame_rate, 32, 32)).
gpu::RopeTables ltx_rope_tables(int64_t frames, int64_t height, int64_t width, const std::array<float, 3>& scale, int64_t dim);
/// The same from explicit token positions (LTXConditionPipeline's video_coords): coords[i] = (t, y, x) of token i
/// already scaled (t in seconds, y and x in pixels: LTXPipeline's grid is (f·8/frame_rate, h·32, w·32)); divided
/// here by the bases (20, 2048, 2048). A token's table row depends on its position alone.
gpu::RopeTables ltx_rope_tables(const std::vector<std::array<float, 3>>& coords, int64_t dim);

/// The checkpoint prefixes of the blocks in the order forward() runs them ("transformer_blocks.N.").
std::vector<std::string> ltx_block_prefixes(const LtxTransformerConfig& c);

/// Device bytes of activations a forward holds at once (f32): one block's temporaries for `tokens` video
/// tokens and `text_tokens` text tokens per batch entry, the stream between blocks, the text projection and
/// the timestep embeddings (per token with `per_token_timesteps`, as image conditioning runs). The run
/// reserves this beside the weights and --dry-run plans with it.
uint64_t ltx_activation_bytes(const LtxTransformerConfig& c, int64_t tokens, int64_t text_tokens, int64_t batch,
                              bool per_token_timesteps);

class LtxTransformer {
 public:
  LtxTransformer(LtxTransformerConfig config, DeviceWeights& weights);
  const LtxTransformerConfig& config() const { return config_; }
  /// What stays resident and what streamed so far (plan.blocks 0 until the first forward).
  const BlockStreamStats& stream_stats() const { return blocks_->stats(); }
  /// Device bytes of the streaming slots (counted in the model handle's cache size).
  uint64_t streaming_slot_bytes() const { return blocks_->slot_device_bytes(); }

  gpu::Tensor forward(gpu::CommandStream& s, const gpu::Tensor& hidden, const gpu::Tensor& context,
                      const std::vector<float>& text_mask, const std::vector<float>& timestep, const gpu::Tensor& rope_cos,
                      const gpu::Tensor& rope_sin);

 private:
  struct Attention {
    Linear to_q, to_k, to_v, to_out;
    gpu::Tensor norm_q, norm_k;  // RMSNorm across heads, eps 1e-5
  };
  struct Block {
    Attention attn1, attn2;  // self (RoPE), cross (text mask)
    Linear ff1, ff2;
    gpu::Tensor scale_shift_table;  // [6, C]
  };
  static Attention load_attention(DeviceWeights& w, const std::string& prefix);
  Block load_block(DeviceWeights& w, int i) const;
  gpu::Tensor attend(gpu::CommandStream& s, const Attention& a, const gpu::Tensor& x, const gpu::Tensor& kv,
                     const gpu::Tensor* rope_cos, const gpu::Tensor* rope_sin, const gpu::Tensor& key_bias);
  void block(gpu::CommandStream& s, const Block& b, gpu::Tensor& x, const gpu::Tensor& ctx, const gpu::Tensor& temb,
             const gpu::Tensor& cos, const gpu::Tensor& sin, const gpu::Tensor& key_bias);

  LtxTransformerConfig config_;
  gpu::Context& ctx_;
  Linear proj_in_, proj_out_, time_linear_1_, time_linear_2_, time_linear_, caption_1_, caption_2_;
  gpu::Tensor scale_shift_table_;  // [2, C]
  std::unique_ptr<BlockStreamer> blocks_;
};

}  // namespace lattice
