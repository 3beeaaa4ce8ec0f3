#pragma once
/// The FLUX.1 MM-DiT (diffusers FluxTransformer2DModel), on the GPU, with blocks named after the diffusers
/// checkpoint keys. BFL-layout checkpoints are read through their diffusers names (flux/checkpoint.h).
///
/// forward() records one full forward into the caller's CommandStream and returns the output; the caller
/// submits. Shapes: hidden [B, S_img, in_channels] (packed latents), context [B, S_txt, joint_attention_dim],
/// pooled [B, pooled_projection_dim], timestep [B] as the pipeline passes it (t/1000), guidance [B] (raw
/// scale; ignored unless guidance_embeds), rope cos/sin [S_txt + S_img, head_dim] from gpu::flux_rope_tables().
/// Output: [B, S_img, out_channels]. With a step cache, forward() submits once mid-way to decide whether to
/// skip the blocks: the decision needs the relative change on the host (two floats a chunk of rows, reduced on
/// the device).
///
/// Memory: the embedders and the output layers are uploaded when the model is made; the blocks at the first
/// forward, through a BlockStreamer (nodes/models/block_streamer.h). forward() submits after every block and
/// waits for it before recording the next, so at most one block's temporaries are alive
/// (flux_activation_bytes); where every block is resident and the budget also holds a second block's
/// temporaries, it waits only for the block before the previous one (the device runs a block while the
/// next is recorded; activation_bytes() says which). When the blocks do not all fit the device budget beside what is already in use
/// and those activations, the leading blocks that fit stay resident and the others stream through reusable
/// slots on every forward (results are identical); a budget too small for even one block plus activations
/// is Error(Evaluation) naming the need.
///
/// Long sequences: the joint sequence [text; image] is held as chunks of rows that each fit one device buffer
/// (one chunk, the whole sequence, where buffers are large: up to about 10,900 tokens at width 3,072 on
/// lavapipe's 128 MiB). Between the double blocks each chunk is kept as its text and image rows; every
/// row-wise layer runs per chunk and stream, the streams' Q/K/V are written straight into their rows of the
/// joint chunk (no concatenation), and attention runs over the chunks (nodes/models/chunked_attention.h).

#include <memory>
#include <vector>

#include "nodes/models/block_streamer.h"
#include "nodes/models/flux/config.h"
#include "nodes/models/nn.h"

namespace lattice {

/// The ids FluxPipeline builds: image (0, row, col) row-major over (h/2, w/2); text all zeros.
std::vector<float> flux_image_ids(int64_t latent_h, int64_t latent_w);

/// The checkpoint prefixes of the blocks in the order forward() runs them: the double-stream blocks
/// ("transformer_blocks.N."), then the single-stream ones.
std::vector<std::string> flux_block_prefixes(const FluxConfig& c);

/// Device bytes of activations a forward holds at once (the largest block's temporaries, for each block in
/// flight, plus the streams kept between blocks), f32, for `batch` sequences of image and text tokens. The
/// run reserves this (one block in flight) beside the weights and --dry-run plans with it.
uint64_t flux_activation_bytes(const FluxConfig& c, int64_t batch, int64_t image_tokens, int64_t text_tokens,
                               int blocks_in_flight = 1);

/// Step caching (TeaCache-style). Consecutive sampling steps often change the transformer's input little;
/// the relative L1 change of the first block's modulated input is accumulated over steps, and while it
/// stays under `threshold` the blocks are skipped and the image stream reuses the residual (blocks' output
/// minus their input) of the last computed step. threshold 0 disables it. One cache per sequence of calls
/// with the same conditioning (a CFG negative pass needs its own). Both the previous modulated input and the
/// residual stay on the device between calls (an image stream each, [B, S_img, inner_dim] f32).
struct FluxStepCache {
  float threshold = 0;
  std::vector<gpu::Tensor> previous;  ///< the first block's modulated input at the previous call (per chunk)
  double accumulated = 0;
  std::vector<gpu::Tensor> residual;  ///< per chunk of image rows (one where the stream fits a buffer)
  int skipped = 0, computed = 0;
  bool last_skipped = false;
};

class FluxTransformer {
 public:
  FluxTransformer(FluxConfig config, DeviceWeights& weights);
  const FluxConfig& config() const { return config_; }
  /// What stays resident and what streamed so far (plan.blocks 0 until the first forward).
  const BlockStreamStats& stream_stats() const { return blocks_->stats(); }
  /// Device bytes of the streaming slots (counted in the model handle's cache size).
  uint64_t streaming_slot_bytes() const { return blocks_->slot_device_bytes(); }
  /// The activation bytes the plan reserved: flux_activation_bytes with one or two blocks in flight (0
  /// until the first forward).
  uint64_t activation_bytes() const { return blocks_->stats().activation_bytes; }

  gpu::Tensor forward(gpu::CommandStream& s, const gpu::Tensor& hidden, const gpu::Tensor& context,
                      const gpu::Tensor& pooled, const std::vector<float>& timestep, const std::vector<float>& guidance,
                      const gpu::Tensor& rope_cos, const gpu::Tensor& rope_sin, FluxStepCache* cache = nullptr);

 private:
  struct Mlp {  // linear 1 - activation - linear 2
    Linear l1, l2;
  };
  struct DoubleBlock {
    Linear norm1, norm1_context;                     // adaLN-Zero: 6 vectors each
    Linear to_q, to_k, to_v, add_q, add_k, add_v;     // image and text projections
    gpu::Tensor norm_q, norm_k, norm_added_q, norm_added_k;
    Linear to_out, to_add_out;
    Linear ff1, ff2, ff_context1, ff_context2;
  };
  struct SingleBlock {
    Linear norm;  // adaLN-Zero single: 3 vectors
    Linear to_q, to_k, to_v, proj_mlp, proj_out;
    gpu::Tensor norm_q, norm_k;
  };
  /// Chunk j of the joint sequence: joint rows [begin, end), of which [begin, split) are text and
  /// [split, end) image (either part may be empty).
  struct Span {
    int64_t begin, split, end;
  };
  DoubleBlock load_double(DeviceWeights& w, int i) const;
  SingleBlock load_single(DeviceWeights& w, int i) const;
  gpu::Tensor embed_time(gpu::CommandStream& s, const Mlp& m, const std::vector<float>& t, int64_t batch);
  /// txt, img: per span its text and image rows [B, l, C] (undefined where empty), updated in place.
  void double_block(gpu::CommandStream& s, const DoubleBlock& b, const std::vector<Span>& spans, std::vector<gpu::Tensor>& txt,
                    std::vector<gpu::Tensor>& img, const gpu::Tensor& temb_act, const gpu::Tensor& cos, const gpu::Tensor& sin);
  /// h: per span its joint rows [B, l, C], updated in place.
  void single_block(gpu::CommandStream& s, const SingleBlock& b, const std::vector<Span>& spans, std::vector<gpu::Tensor>& h,
                    const gpu::Tensor& temb_act, const gpu::Tensor& cos, const gpu::Tensor& sin);

  FluxConfig config_;
  gpu::Context& ctx_;
  Linear x_embedder_, context_embedder_, norm_out_, proj_out_;
  Mlp timestep_embedder_, guidance_embedder_, text_embedder_;
  std::unique_ptr<BlockStreamer> blocks_;
};

}  // namespace lattice
