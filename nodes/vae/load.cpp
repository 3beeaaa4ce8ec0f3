// vae.load: the 2-D KL autoencoder (FLUX's 16-channel VAE) from a diffusers folder or a single file.
#include "core/eval_context.h"
#include "nodes/models/parameter_count.h"
#include "nodes/node_weights.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

// Single-file SD-style checkpoints wrap the VAE's keys; diffusers folders and FLUX's ae.safetensors do not.
constexpr const char* kWrapper = "first_stage_model.";

NodeDesc make() {
  NodeDesc d;
  d.type = "vae.load";
  d.category = "VAE";
  d.description = "Load an image autoencoder (FLUX's 16-channel VAE) from a diffusers folder or a .safetensors file";
  d.outputs = {{"vae", PortType::VAE, "the autoencoder"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, vae folder, or pipeline folder"},
              {"component", ParamType::String, "vae", "subfolder to use when 'path' is a pipeline folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx, kWrapper);
    const AutoencoderKLConfig c = detect_autoencoder_kl_config(*w);
    ctx.set_output("vae", std::make_shared<VaeHandle>(w, c, ctx.in_path("path").string()));
  };
  d.plan = [](PlanContext& ctx) {
    AutoencoderKLConfig c;
    PlanInfo p;
    std::optional<nlohmann::json> cfg;
    if (auto w = open_node_weights_or_config(ctx, kWrapper, cfg)) {
      c = detect_autoencoder_kl_config(*w);
      p.weight_bytes = w->total_bytes();
    } else {
      // No weights yet: plan from the folder's config.json (bf16 assumed).
      c = autoencoder_kl_config_from_json(*cfg);
      p.weight_bytes = parameter_count(c) * 2;
      p.shape = "(config only, bf16) ";
    }
    p.shape += "VAE " + std::to_string(c.latent_channels) + " latent channels, /" + std::to_string(c.downscale());
    p.meta = {{"latent_channels", c.latent_channels}, {"downscale", c.downscale()}, {"channels", c.block_out_channels}};
    ctx.set_output("vae", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
