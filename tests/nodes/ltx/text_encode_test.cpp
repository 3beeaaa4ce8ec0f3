// ltx.load_text_encoder + ltx.text_encode on a tiny LTX pipeline folder: the reference fixture's T5 weights
// and a SentencePiece model trained here. The conditioning carries the padding mask the transformer needs.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>

#include "core/document.h"
#include "core/engine.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/types/ltx_handles.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(LtxTextEncode, PromptToMaskedConditioningThroughTheGraph) {
  const fs::path root = fs::temp_directory_path() / ("lattice_ltx_text_" + std::to_string(::getpid()));
  fs::remove_all(root);
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/t5_encoder.safetensors");
  test::write_fixture_component(fx, "weights.", fx.config(), root / "ltx" / "text_encoder", "model.safetensors");
  fs::create_directories(root / "ltx" / "tokenizer");
  {
    std::ofstream corpus(root / "corpus.txt");
    for (int i = 0; i < 2000; ++i) corpus << "a photo of a cat number " << i % 97 << " in a quiet garden at night\n";
  }
  ASSERT_TRUE(sentencepiece::SentencePieceTrainer::Train(
                  "--input=" + (root / "corpus.txt").string() + " --model_prefix=" + (root / "ltx" / "tokenizer" / "spiece").string() +
                  " --model_type=unigram --vocab_size=40 --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2 --num_threads=1")
                  .ok());
  RenderOptions opts;
  Environment env;
  opts.base_dir = root;
  env.set(std::make_shared<GpuService>());
  opts.env = &env;
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "enc", "type": "ltx.load_text_encoder", "params": {"path": "ltx"}},
    {"id": "text", "type": "ltx.text_encode", "params": {"prompt": "a photo of a cat in a quiet garden", "max_length": 64},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  auto cond = std::dynamic_pointer_cast<const LtxConditioningData>(e.evaluate(g, "text", "conditioning", opts));
  ASSERT_TRUE(cond);
  EXPECT_EQ(cond->prompt_embeds.shape, (std::vector<int64_t>{1, 64, 32}));

  // Equal to encoding the tokenizer's ids with their mask; the mask marks the tokens up to EOS.
  auto enc = std::dynamic_pointer_cast<const LtxTextEncoderData>(e.evaluate(g, "enc", "text_encoder", opts));
  EXPECT_FALSE(enc->t5->resident());  // released after encoding
  const TokenBatch ids = enc->tokenizer.encode_padded("a photo of a cat in a quiet garden", 64);
  ASSERT_GT(ids.valid_len, 1u);
  ASSERT_LT(ids.valid_len, 64u);
  std::vector<float> mask(64, 0.0f);
  std::fill_n(mask.begin(), ids.valid_len, 1.0f);
  EXPECT_EQ(cond->mask, mask);
  gpu::Context& gc = env.get<GpuService>()->context();
  gpu::CommandStream s(gc);
  const auto seq = enc->t5->model(gc).encode(s, std::span<const TokenBatch>(&ids, 1), true);
  s.finish();
  EXPECT_EQ(seq.to_floats(), cond->prompt_embeds.to_f32());

  // The masked conditioning reaches the sampler; a transformer expecting another text width says so.
  Fixture tr(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_transformer.safetensors");
  test::write_fixture_component(tr, "weights.", tr.config(), root / "ltx" / "transformer");
  Graph g2 = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "enc", "type": "ltx.load_text_encoder", "params": {"path": "ltx"}},
    {"id": "text", "type": "ltx.text_encode", "params": {"prompt": "a cat", "max_length": 64},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
    {"id": "dit", "type": "ltx.load_transformer", "params": {"path": "ltx"}},
    {"id": "sample", "type": "ltx.sample", "params": {"steps": 2, "guidance": 1.0, "width": 64, "height": 64, "num_frames": 9},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "text", "output": "conditioning"}}}]})");
  try {
    e.evaluate(g2, "sample", "latent", opts);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("should be [1, L, 24]"), std::string::npos) << err.what();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace lattice
