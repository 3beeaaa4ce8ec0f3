#pragma once
// Tiny real-architecture checkpoints written from the golden fixtures, for node and graph tests.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "nodes/models/fixture.h"

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

/// A random FLUX transformer in bf16 (every tensor), diffusers layout, as the folder `dir` (config.json +
/// diffusion_pytorch_model.safetensors): `heads` heads of 64 channels (RoPE axes 16, 24, 24), in_channels
/// 64, T5 width 64, CLIP width 32, guidance embedding; weights N(0, 1)/sqrt(fan_in) from `seed`, biases
/// 0.1·N(0, 1), norm scales 1 + 0.1·N(0, 1). Big enough for MiB-granular device budgets (3 heads: about
/// 2.7 MB per double block, 1.1 MB per single block). Returns the config as written.
nlohmann::json write_random_flux(const std::filesystem::path& dir, int num_layers, int num_single_layers, int heads = 2,
                                 unsigned seed = 7);

}  // namespace lattice::test
