#pragma once
/// LTX-Video's latent upsampler (diffusers LTXLatentUpsamplerModel, released with LTX-Video 0.9.7:
/// ltxv-spatial-upscaler-0.9.7), blocks named after its checkpoint keys: initial_conv/norm, res_blocks.N,
/// upsampler.0 (conv + pixel shuffle), post_upsample_res_blocks.N, final_conv.
///
/// forward(): raw (de-normalised) latents [B, C, F, h, w] -> [B, C, F, 2h, 2w] (spatial, ltxv-spatial-upscaler),
/// [B, C, 2F-1, h, w] (temporal, ltxv-temporal-upscaler) or [B, C, 2F-1, 2h, 2w] (both). GroupNorm has 32 groups, eps 1e-5. Records into the caller's
/// stream; nothing is submitted.

#include <nlohmann/json.hpp>
#include <vector>

#include "nodes/models/nn.h"

namespace lattice {

struct LtxUpsamplerConfig {
  int in_channels = 128;
  int mid_channels = 512;
  int num_blocks_per_stage = 4;
  int dims = 3;  ///< 3: Conv3d blocks; 2: Conv2d blocks applied frame by frame
  bool spatial_upsample = true;
  bool temporal_upsample = false;
  void validate() const;
};

LtxUpsamplerConfig ltx_upsampler_config_from_json(const nlohmann::json& j);
/// Every tensor a checkpoint of `c` holds, name and shape (the fixture runner's weight check).
std::vector<std::pair<std::string, std::vector<int64_t>>> ltx_upsampler_checkpoint_shapes(const LtxUpsamplerConfig& c);
/// From the weights' names and shapes. Throws Error(InvalidInput) when they are not an LTX latent upsampler.
LtxUpsamplerConfig detect_ltx_upsampler_config(const WeightSource& w);

class LtxLatentUpsampler {
 public:
  LtxLatentUpsampler(LtxUpsamplerConfig config, DeviceWeights& weights);
  const LtxUpsamplerConfig& config() const { return config_; }
  gpu::Tensor forward(gpu::CommandStream& s, const gpu::Tensor& x) const;

 private:
  struct Conv {
    gpu::Tensor w, b;
  };
  struct Norm {
    gpu::Tensor w, b;
  };
  struct ResBlock {
    Conv conv1, conv2;
    Norm norm1, norm2;
  };
  Conv conv(DeviceWeights& w, const std::string& p) const;
  Norm norm(DeviceWeights& w, const std::string& p) const;
  gpu::Tensor apply(gpu::CommandStream& s, const Conv& c, const gpu::Tensor& x) const;  // 3x3(x3), zero padding 1
  gpu::Tensor block(gpu::CommandStream& s, const ResBlock& b, const gpu::Tensor& x) const;

  LtxUpsamplerConfig config_;
  Conv initial_conv_, upsampler_, final_conv_;
  Norm initial_norm_;
  std::vector<ResBlock> res_blocks_, post_blocks_;
};

}  // namespace lattice
