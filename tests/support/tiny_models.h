#pragma once
// Tiny real-architecture checkpoints written from the golden fixtures, for node and graph tests.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "nodes/models/fixture.h"
#include "nodes/models/ltx/config.h"
#include "nodes/models/wan/config.h"

namespace lattice::test {

/// Writes the fixture tensors named `prefix`<key> as `dir`/`file` with keys <key>, plus `dir`/config.json.
void write_fixture_component(const Fixture& fx, const std::string& prefix, const nlohmann::json& config,
                             const std::filesystem::path& dir, const std::string& file = "diffusion_pytorch_model.safetensors");

/// Trains a tiny T5-style SentencePiece model (unigram, 40 pieces; pad 0, EOS 1, unk 2, no BOS) on 2,000
/// numbered copies of `sentence` and writes it as `dir`/spiece.model. Throws std::runtime_error on failure.
void write_tiny_spiece(const std::filesystem::path& dir, const std::string& sentence);

/// The tiny FLUX of tests/golden/flux_pipeline.safetensors as a diffusers pipeline folder `dir`/tiny-flux
/// (transformer/, vae/), and its embeddings and noise as `dir`/inputs.safetensors (prompt_embeds,
/// pooled_prompt_embeds, noise). Returns the fixture's reference image [1, 3, 64, 48].
HostTensor write_tiny_flux(const std::filesystem::path& dir);

/// A random checkpoint in bf16 with the given tensors, in order, as the folder `dir` (config.json +
/// diffusion_pytorch_model.safetensors): "*.weight" of rank >= 2 N(0, 1)/sqrt(fan_in), "*.weight" of rank 1
/// (norm scales) 1 + 0.1·N(0, 1), everything else (biases, modulation tables) 0.1·N(0, 1), from `seed`.
void write_random_checkpoint(const std::filesystem::path& dir, const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                             const nlohmann::json& config, unsigned seed);

/// A random FLUX transformer in bf16 (every tensor), diffusers layout, as the folder `dir` (config.json +
/// diffusion_pytorch_model.safetensors): `heads` heads of 64 channels (RoPE axes 16, 24, 24), in_channels
/// 64, T5 width 64, CLIP width 32, guidance embedding; weights N(0, 1)/sqrt(fan_in) from `seed`, biases
/// 0.1·N(0, 1), norm scales 1 + 0.1·N(0, 1). Big enough for MiB-granular device budgets (3 heads: about
/// 2.7 MB per double block, 1.1 MB per single block). Returns the config as written.
/// `in_channels` 128 makes a structural-control model (FLUX.1-Canny/Depth-dev: out_channels stays 64); `head_dim`
/// 128 has FLUX.1's RoPE axes (16, 56, 56), which need no config.json (a BFL single file, write_flux_bfl).
/// `guidance_embeds` false leaves out the guidance embedder, as FLUX.1-schnell has none.
nlohmann::json write_random_flux(const std::filesystem::path& dir, int num_layers, int num_single_layers, int heads = 2,
                                 unsigned seed = 7, int in_channels = 64, int head_dim = 64, bool guidance_embeds = true);

/// The FLUX transformer `w` (diffusers names) in BFL's original layout as the single file `file`: fused qkv and
/// single-block linear1 (rows concatenated), `img_in`, `final_layer.adaLN_modulation.1` with its halves swapped
/// (shift, scale), RMSNorm scales as `..._norm.scale`; dtypes as stored.
void write_flux_bfl(const WeightSource& w, const std::filesystem::path& file);

/// A random Wan 2.1 transformer of config `c` (T2V or I2V) in bf16, diffusers layout, as the folder `dir`
/// (write_random_checkpoint with wan_checkpoint_shapes; config.json names the head count so that
/// detect_wan_config finds `c`). Returns the config as written.
nlohmann::json write_random_wan(const std::filesystem::path& dir, const WanConfig& c, unsigned seed = 7);

/// A random LTX-Video transformer of config `c` in bf16, diffusers layout, as the folder `dir`
/// (write_random_checkpoint with ltx_checkpoint_shapes; config.json holds the head split so that
/// detect_ltx_transformer_config finds `c`). Returns the config as written.
nlohmann::json write_random_ltx(const std::filesystem::path& dir, const LtxTransformerConfig& c, unsigned seed = 7);

}  // namespace lattice::test
