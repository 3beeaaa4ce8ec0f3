// LTX-Video VAE in Lightricks' original naming: the reference VAE written under the original names (as in a
// single-file ltx-video-*.safetensors, with its `vae.` prefix, statistics and a transformer beside it) loads
// to the same config and decodes to exactly the same video as the diffusers-named weights.
#include "nodes/models/ltx/vae_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <map>
#include <regex>

#include "core/safetensors.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/ltx/vae.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// diffusers name -> original name, the inverse of the converter written out by block position (mid block
// first in the decoder, last in the encoder; every block of the reference has its resampler).
std::string original_name(const std::string& n, int n_down) {
  std::smatch m;
  auto res = [](std::string rest) { return std::regex_replace(rest, std::regex("^resnets\\."), "res_blocks."); };
  if (std::regex_match(n, m, std::regex("decoder\\.mid_block\\.(.*)"))) return "decoder.up_blocks.0." + res(m[1]);
  if (std::regex_match(n, m, std::regex("decoder\\.up_blocks\\.(\\d+)\\.upsamplers\\.0\\.(.*)")))
    return "decoder.up_blocks." + std::to_string(2 * std::stoi(m[1]) + 1) + "." + std::string(m[2]);
  if (std::regex_match(n, m, std::regex("decoder\\.up_blocks\\.(\\d+)\\.(.*)")))
    return "decoder.up_blocks." + std::to_string(2 * std::stoi(m[1]) + 2) + "." + res(m[2]);
  if (std::regex_match(n, m, std::regex("encoder\\.down_blocks\\.(\\d+)\\.downsamplers\\.0\\.(.*)")))
    return "encoder.down_blocks." + std::to_string(2 * std::stoi(m[1]) + 1) + "." + std::string(m[2]);
  if (std::regex_match(n, m, std::regex("encoder\\.down_blocks\\.(\\d+)\\.(.*)")))
    return "encoder.down_blocks." + std::to_string(2 * std::stoi(m[1])) + "." + res(m[2]);
  if (std::regex_match(n, m, std::regex("encoder\\.mid_block\\.(.*)"))) return "encoder.down_blocks." + std::to_string(2 * n_down) + "." + res(m[1]);
  if (std::regex_match(n, m, std::regex("decoder\\.time_embedder\\.(.*)"))) return "decoder.last_time_embedder." + std::string(m[1]);
  if (n == "decoder.scale_shift_table") return "decoder.last_scale_shift_table";
  if (n == "latents_mean") return "per_channel_statistics.mean-of-means";
  if (n == "latents_std") return "per_channel_statistics.std-of-means";
  return n;
}

std::vector<float> decode(WeightSource& w, const Fixture& fx) {
  GpuService gpu;
  const LtxVaeConfig c = detect_ltx_vae_config(w);
  DeviceWeights weights(w, gpu.context());
  LtxVae vae(c, weights);
  gpu::CommandStream s(gpu.context());
  const gpu::Tensor out = vae.decode(s, upload_fixture_tensor(gpu.context(), fx, "input.latent"), fx.f32("input.decode_timestep"));
  s.finish();
  return out.to_floats();
}

TEST(LtxVaeCheckpoint, OriginalNamesDecodeExactlyLikeDiffusersNames) {
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors");
  WeightSource diffusers = fixture_weights(fx);
  ASSERT_FALSE(is_ltx_vae_original(diffusers));
  const int n_down = diffusers.count_blocks("encoder.down_blocks.");

  std::deque<HostTensor> held;
  std::vector<std::pair<std::string, const HostTensor*>> tensors;
  for (const std::string& n : diffusers.names()) {
    held.push_back(diffusers.load(n));
    tensors.emplace_back("vae." + original_name(n, n_down), &held.back());
  }
  // What a single file holds beside the VAE: statistics diffusers drops, and the transformer.
  held.push_back(HostTensor::from_f32({16}, std::vector<float>(16, 0.5f)));
  tensors.emplace_back("vae.per_channel_statistics.mean-of-stds", &held.back());
  tensors.emplace_back("vae.per_channel_statistics.channel", &held.back());
  tensors.emplace_back("model.diffusion_model.patchify_proj.weight", &held.back());
  const fs::path file = fs::temp_directory_path() / ("lattice_ltx_original_vae_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(file, tensors);

  WeightSource original = WeightSource::open(file);
  const std::vector<float> a = decode(original, fx);
  // Every diffusers name is there after conversion, with nothing of the VAE left over.
  std::vector<std::string> names;
  for (const std::string& n : original.names())
    if (n.rfind("model.diffusion_model.", 0) != 0) names.push_back(n);
  EXPECT_EQ(names, diffusers.names());
  const std::vector<float> b = decode(diffusers, fx);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a, b);
  fs::remove(file);
}

// diffusers name -> original name for any layout, by walking the diffusers blocks in the original's order
// (decoder: mid block, then per up block its conv_in, upsampler, resnets; encoder: per down block its
// resnets, downsampler, conv_out, then the mid block), each present part taking the next original index.
std::map<std::string, std::string> original_names(const WeightSource& w) {
  std::vector<std::pair<std::string, std::string>> blocks;  // diffusers prefix -> original prefix
  auto has = [&](const std::string& prefix) {
    for (const std::string& n : w.names())
      if (n.rfind(prefix, 0) == 0) return true;
    return false;
  };
  int i = 0;
  blocks.emplace_back("decoder.mid_block.", "decoder.up_blocks." + std::to_string(i++) + ".");
  for (int k = 0; has("decoder.up_blocks." + std::to_string(k) + "."); ++k) {
    const std::string p = "decoder.up_blocks." + std::to_string(k) + ".";
    for (const std::string part : {"conv_in.", "upsamplers.0."})
      if (has(p + part)) blocks.emplace_back(p + part, "decoder.up_blocks." + std::to_string(i++) + ".");
    blocks.emplace_back(p, "decoder.up_blocks." + std::to_string(i++) + ".");
  }
  i = 0;
  for (int k = 0; has("encoder.down_blocks." + std::to_string(k) + "."); ++k) {
    const std::string p = "encoder.down_blocks." + std::to_string(k) + ".";
    const int resnets = i++;
    for (const std::string part : {"downsamplers.0.", "conv_out."})
      if (has(p + part)) blocks.emplace_back(p + part, "encoder.down_blocks." + std::to_string(i++) + ".");
    blocks.emplace_back(p, "encoder.down_blocks." + std::to_string(resnets) + ".");
  }
  blocks.emplace_back("encoder.mid_block.", "encoder.down_blocks." + std::to_string(i) + ".");
  std::map<std::string, std::string> out;
  for (const std::string& n : w.names()) {
    std::string to = n;
    if (n == "latents_mean") to = "per_channel_statistics.mean-of-means";
    else if (n == "latents_std") to = "per_channel_statistics.std-of-means";
    else if (n == "decoder.scale_shift_table") to = "decoder.last_scale_shift_table";
    else if (n.rfind("decoder.time_embedder.", 0) == 0) to = "decoder.last_time_embedder." + n.substr(22);
    for (const auto& [from, into] : blocks)  // the parts come before their block: the first match is the longest
      if (n.rfind(from, 0) == 0) {
        std::string rest = "." + n.substr(from.size());
        rest = std::regex_replace(rest, std::regex("^\\.resnets\\."), ".res_blocks.");
        rest = std::regex_replace(rest, std::regex("\\.conv_shortcut\\.conv\\."), ".conv_shortcut.");
        rest = std::regex_replace(rest, std::regex("\\.norm3\\."), ".norm3.norm.");
        to = into + rest.substr(1);
        break;
      }
    out[n] = to;
  }
  return out;
}

TEST(LtxVaeCheckpoint, The090And091LayoutsConvertFromOriginalNames) {
  for (const char* name : {"ltx_vae_090.safetensors", "ltx_vae_091.safetensors", "ltx_vae.safetensors", "ltx_vae_mixed.safetensors"}) {
    SCOPED_TRACE(name);
    Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / name);
    WeightSource diffusers = fixture_weights(fx);
    const std::map<std::string, std::string> names = original_names(diffusers);
    std::deque<HostTensor> held;
    std::vector<std::pair<std::string, const HostTensor*>> tensors;
    for (const auto& [n, original] : names) {
      held.push_back(diffusers.load(n));
      tensors.emplace_back("vae." + original, &held.back());
    }
    const fs::path file = fs::temp_directory_path() / ("lattice_ltx_original_layouts_" + std::to_string(::getpid()) + ".safetensors");
    write_safetensors(file, tensors);
    WeightSource original = WeightSource::open(file);
    const LtxVaeConfig c = detect_ltx_vae_config(original);
    EXPECT_EQ(original.names(), diffusers.names());
    for (const std::string& n : diffusers.names()) EXPECT_EQ(original.info(n).shape, diffusers.info(n).shape) << n;
    const LtxVaeConfig e = ltx_vae_config_from_json(fx.config());
    EXPECT_EQ(c.block_out_channels, e.block_out_channels);
    EXPECT_EQ(c.decoder_block_out_channels, e.decoder_block_out_channels);
    EXPECT_EQ(c.decoder_inject_noise, e.decoder_inject_noise);
    EXPECT_EQ(c.legacy_encoder(), e.legacy_encoder());
    fs::remove(file);
  }
}

TEST(LtxVaeCheckpoint, ResnetInnerNamesAndUnknownBlocks) {
  const HostTensor t = HostTensor::from_f32({2}, {1.0f, 2.0f});
  const fs::path file = fs::temp_directory_path() / ("lattice_ltx_original_names_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(file, {{"decoder.up_blocks.0.res_blocks.0.conv_shortcut.weight", &t},
                           {"decoder.up_blocks.0.res_blocks.0.conv_shortcut.bias", &t},
                           {"decoder.up_blocks.0.res_blocks.0.norm3.norm.weight", &t},
                           {"decoder.up_blocks.1.conv.conv.weight", &t},
                           {"decoder.up_blocks.2.res_blocks.1.conv1.conv.weight", &t},
                           {"decoder.up_blocks.3.res_blocks.0.conv1.conv.weight", &t}});
  WeightSource w = WeightSource::open(file);
  ASSERT_TRUE(is_ltx_vae_original(w));
  convert_ltx_vae_original(w);
  EXPECT_EQ(w.names(), (std::vector<std::string>{"decoder.mid_block.resnets.0.conv_shortcut.conv.bias",
                                                 "decoder.mid_block.resnets.0.conv_shortcut.conv.weight",
                                                 "decoder.mid_block.resnets.0.norm3.weight",
                                                 "decoder.up_blocks.0.resnets.1.conv1.conv.weight",
                                                 "decoder.up_blocks.0.upsamplers.0.conv.conv.weight",
                                                 "decoder.up_blocks.1.resnets.0.conv1.conv.weight"}));
  write_safetensors(file, {{"decoder.up_blocks.0.res_blocks.0.conv1.conv.weight", &t}, {"decoder.up_blocks.1.mystery.weight", &t}});
  WeightSource bad = WeightSource::open(file);
  try {
    convert_ltx_vae_original(bad);
    FAIL() << "an unclassifiable block was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.up_blocks.1."), std::string::npos) << e.what();
  }
  fs::remove(file);
}

}  // namespace
}  // namespace lattice
