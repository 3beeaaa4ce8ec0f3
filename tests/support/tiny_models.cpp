#include "tests/support/tiny_models.h"

#include <fstream>

namespace lattice::test {

void write_fixture_component(const Fixture& fx, const std::string& prefix, const nlohmann::json& config,
                             const std::filesystem::path& dir, const std::string& file) {
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind(prefix, 0) == 0) ts.emplace_back(t.name.substr(prefix.size()), fx.file().load(t.name));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  std::filesystem::create_directories(dir);
  write_safetensors(dir / file, list);
  std::ofstream(dir / "config.json") << config.dump();
}

HostTensor write_tiny_flux(const std::filesystem::path& dir) {
  Fixture fx(std::filesystem::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_pipeline.safetensors");
  for (const char* comp : {"transformer", "vae"})
    write_fixture_component(fx, std::string("weights.") + comp + ".", fx.config()[comp], dir / "tiny-flux" / comp);
  const HostTensor p = fx.tensor("input.prompt_embeds"), q = fx.tensor("input.pooled_prompt_embeds"), n = fx.tensor("input.noise");
  write_safetensors(dir / "inputs.safetensors", {{"prompt_embeds", &p}, {"pooled_prompt_embeds", &q}, {"noise", &n}});
  return fx.tensor("output.image");
}

}  // namespace lattice::test
