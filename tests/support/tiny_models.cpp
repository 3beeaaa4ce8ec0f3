#include "tests/support/tiny_models.h"

#include <sentencepiece_trainer.h>

#include <fstream>
#include <stdexcept>

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

void write_tiny_spiece(const std::filesystem::path& dir, const std::string& sentence) {
  std::filesystem::create_directories(dir);
  const std::filesystem::path corpus = dir / "corpus.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 2000; ++i) out << sentence << " number " << i % 97 << "\n";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus.string() + " --model_prefix=" + (dir / "spiece").string() +
      " --model_type=unigram --vocab_size=40 --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2 --num_threads=1");
  std::filesystem::remove(corpus);
  if (!status.ok()) throw std::runtime_error("training the test SentencePiece model: " + status.ToString());
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
