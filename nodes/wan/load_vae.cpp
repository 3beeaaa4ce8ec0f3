// wan.load_vae: the Wan 2.1 video VAE from a diffusers folder (vae/), a pipeline folder, or a single
// .safetensors file in the diffusers or the original Wan-AI layout (Wan2.1_VAE converted to safetensors).
#include "core/eval_context.h"
#include "nodes/node_weights.h"
#include "nodes/types/wan_vae_handle.h"

namespace lattice {
namespace {

// Some single-file pipeline dumps wrap the VAE's keys.
constexpr const char* kWrapper = "vae.";

uint64_t weight_bytes_f32(const WanVaeConfig& c) {
  uint64_t n = 0;
  for (const auto& [name, shape] : wan_vae_tensor_shapes(c)) {
    uint64_t k = 1;
    for (int64_t d : shape) k *= static_cast<uint64_t>(d);
    n += k;
  }
  return n * 4;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.load_vae";
  d.category = "Wan";
  d.description = "Load the Wan 2.1 video VAE (diffusers folder, pipeline folder, or a single .safetensors file)";
  d.outputs = {{"vae", PortType::VAE, "the Wan video autoencoder"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, vae folder, or pipeline folder"},
              {"component", ParamType::String, "vae", "subfolder to use when 'path' is a pipeline folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx, kWrapper);
    convert_wan_vae_original(*w);
    const WanVaeConfig c = detect_wan_vae_config(*w);
    ctx.set_output("vae", std::make_shared<WanVaeHandle>(w, c, ctx.in_path("path").string()));
  };
  d.plan = [](PlanContext& ctx) {
    // From the weights when they are here, else from the folder's config.json (weights as f32, as shipped).
    WanVaeConfig c;
    PlanInfo p;
    std::optional<nlohmann::json> config;
    if (auto w = open_node_weights_or_config(ctx, kWrapper, config)) {
      convert_wan_vae_original(*w);
      c = detect_wan_vae_config(*w);
      p.weight_bytes = w->total_bytes();
    } else {
      c = wan_vae_config_from_json(*config);
      p.weight_bytes = weight_bytes_f32(c);
      p.shape = "(config only) ";
    }
    p.shape += "Wan VAE " + std::to_string(c.z_dim) + " latent channels, /" + std::to_string(c.spatial_compression()) + " space, /" +
               std::to_string(c.temporal_compression()) + " time";
    p.meta = {{"latent_channels", c.z_dim},
              {"downscale", c.spatial_compression()},
              {"time_downscale", c.temporal_compression()},
              {"config", wan_vae_config_to_json(c)}};
    ctx.set_output("vae", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
