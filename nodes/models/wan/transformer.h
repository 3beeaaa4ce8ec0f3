#pragma once
/// The Wan 2.1 video DiT (diffusers WanTransformer3DModel), on the GPU, with blocks named after the diffusers
/// checkpoint keys. Original Wan-AI checkpoints are read through their diffusers names (wan/checkpoint.h).
///
/// forward() records one full forward into the caller's CommandStream and returns the output; the caller
/// submits the rest. To bound memory, it submits and waits after each sub-layer (self-attention,
/// cross-attention, FFN), so that at most one sub-layer's temporaries are alive: peak activations are about
/// max(13 x width, 5 x width + 2 x ffn_dim) f32 values per token and batch entry (wan_activation_bytes()).
///
/// Weights: the embedders and the output layers are uploaded when the model is made; the blocks
/// ("blocks.N.") at the first forward, through a BlockStreamer (nodes/models/block_streamer.h). When they do
/// not all fit the device budget beside what is in use and wan_activation_bytes(), the leading blocks that
/// fit stay resident and the others stream through one or two reusable slots on every forward (results
/// are identical); a budget too small for one block plus activations is Error(Evaluation) naming the need.
/// T2V and I2V blocks stream alike (I2V blocks are larger by their image K/V projections). Shapes: hidden [B, in_channels, F, H, W] (F, H, W divisible by the patch), timestep [B] raw
/// scheduler timesteps in [0, 1000], context [B, L_txt, text_dim] (UMT5 output), image [B, 257, image_dim]
/// (CLIP features; required for I2V models, must be undefined otherwise). Output: [B, out_channels, F, H, W].
/// Every batch entry has its own timestep, context and image, so a CFG pair runs as one batch-2 forward.
///
/// Long sequences: the token stream x [B, L, width] is held as chunks of rows that each fit one device
/// buffer (one chunk, the whole stream, where buffers are large), every row-wise sub-layer runs per chunk,
/// and self-attention runs over the chunks (nodes/models/chunked_attention.h: heads in groups whose keys
/// fit a buffer). Wan 14B at 720p (75,600 tokens of 5,120 channels: 1.5 GB per tensor) thus runs within
/// lavapipe's 128 MiB buffers; one head's keys and values (B x L x 128 x 4 bytes) must fit.

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "nodes/models/block_streamer.h"
#include "nodes/models/nn.h"
#include "nodes/models/wan/config.h"

namespace lattice {

/// Peak activation bytes of one forward as implemented (f32), for plans: the largest sub-layer's
/// temporaries for every token and batch entry, plus the text context and its K/V, the patchified input
/// and the RoPE tables. The run reserves this beside the weights and --dry-run plans with it.
uint64_t wan_activation_bytes(const WanConfig& c, int64_t tokens, int64_t text_tokens, int64_t batch);

/// The checkpoint prefixes of the blocks in the order forward() runs them ("blocks.N.").
std::vector<std::string> wan_block_prefixes(const WanConfig& c);

class WanTransformer {
 public:
  WanTransformer(WanConfig config, DeviceWeights& weights);
  const WanConfig& config() const { return config_; }
  /// What stays resident and what streamed so far (plan.blocks 0 until the first forward).
  const BlockStreamStats& stream_stats() const { return blocks_->stats(); }
  /// Device bytes of the streaming slots (counted in the model handle's cache size).
  uint64_t streaming_slot_bytes() const { return blocks_->slot_device_bytes(); }
  /// Whether a forward of `batch` entries over `tokens` patch tokens and `context_tokens` (text + image) can be
  /// planned under the device budget, streaming blocks where needed, once `pending_bytes` more are allocated
  /// beside what is in use now (BlockStreamer::fits): for choosing CFG in turn before the first forward.
  bool forward_fits(int64_t tokens, int64_t context_tokens, int64_t batch, uint64_t pending_bytes) const {
    return blocks_->fits(wan_activation_bytes(config_, tokens, context_tokens, batch), pending_bytes);
  }

  gpu::Tensor forward(gpu::CommandStream& s, const gpu::Tensor& hidden, const std::vector<float>& timestep,
                      const gpu::Tensor& context, const gpu::Tensor& image = {});

 private:
  struct Attention {
    Linear to_q, to_k, to_v, to_out;
    gpu::Tensor norm_q, norm_k;       // RMSNorm over all heads [inner]
    Linear add_k_proj, add_v_proj;    // I2V cross-attention only
    gpu::Tensor norm_added_k;
  };
  struct Block {
    Attention attn1, attn2;
    gpu::Tensor norm2_weight, norm2_bias;  // affine LayerNorm before the cross-attention (cross_attn_norm)
    Linear ffn1, ffn2;
    gpu::Tensor scale_shift_table;         // [1, 6 * inner]
  };
  struct ImageEmbedder {  // LayerNorm - Linear - GELU - Linear - LayerNorm
    gpu::Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;
    Linear ff1, ff2;
  };
  struct Rope {
    gpu::Tensor cos, sin;
  };
  Attention load_attention(DeviceWeights& w, const std::string& prefix, bool image) const;
  Block load_block(DeviceWeights& w, int i) const;
  const Rope& rope(int64_t f, int64_t h, int64_t w);
  /// x: the token stream as row chunks [B, l_i, width], updated in place.
  void block(gpu::CommandStream& s, const Block& b, std::vector<gpu::Tensor>& x, const gpu::Tensor& text,
             const gpu::Tensor& image, const gpu::Tensor& timestep_proj, const Rope& rope);

  WanConfig config_;
  gpu::Context& ctx_;
  Linear patch_embedding_, time_embedder1_, time_embedder2_, time_proj_, text_embedder1_, text_embedder2_, proj_out_;
  ImageEmbedder image_embedder_;
  std::unique_ptr<BlockStreamer> blocks_;
  gpu::Tensor scale_shift_table_;  // [1, 2, inner]: (shift, scale) of the output norm
  std::map<std::tuple<int64_t, int64_t, int64_t>, Rope> ropes_;  // per patch grid
};

}  // namespace lattice
