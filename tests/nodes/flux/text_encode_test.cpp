// flux.load_text_encoders + flux.text_encode on a tiny pipeline folder made from the reference fixtures'
// CLIP and T5 weights, the real CLIP BPE vocabulary and a SentencePiece model trained here.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/document.h"
#include "core/engine.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/types/model_handles.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

void write_component(const fs::path& golden, const fs::path& dir) {
  Fixture fx(golden);
  test::write_fixture_component(fx, "weights.", fx.config(), dir, "model.safetensors");
}

class FluxTextEncode : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_text_encode_" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
    write_component(golden / "clip_text_encoder.safetensors", root / "flux" / "text_encoder");
    write_component(golden / "t5_encoder.safetensors", root / "flux" / "text_encoder_2");
    fs::create_directories(root / "flux" / "tokenizer_2");
    {
      std::ofstream corpus(root / "corpus.txt");
      for (int i = 0; i < 2000; ++i) corpus << "a photo of a cat number " << i % 97 << " in a quiet garden at night\n";
    }
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (root / "corpus.txt").string() + " --model_prefix=" + (root / "flux" / "tokenizer_2" / "spiece").string() +
        " --model_type=unigram --vocab_size=40 --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2 --num_threads=1");
    ASSERT_TRUE(status.ok()) << status.ToString();
    opts.base_dir = root;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(root); }
  fs::path root;
  RenderOptions opts;
  Environment env;
};

TEST_F(FluxTextEncode, PromptToConditioningThroughTheGraph) {
  const std::string gz = std::string(LATTICE_SOURCE_DIR) + "/tests/golden/clip_bpe_simple_vocab_16e6.txt.gz";
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "enc", "type": "flux.load_text_encoders", "params": {"path": "flux", "clip_tokenizer": ")" + gz + R"("}},
    {"id": "text", "type": "flux.text_encode", "params": {"prompt": "a photo of a cat in a quiet garden", "max_length": 64},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  auto cond = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "text", "conditioning", opts));
  ASSERT_TRUE(cond);
  EXPECT_EQ(cond->prompt_embeds.shape, (std::vector<int64_t>{1, 64, 32}));
  EXPECT_EQ(cond->pooled.shape, (std::vector<int64_t>{1, 32}));

  // The node's result equals encoding the tokenizer's ids directly.
  auto enc = std::dynamic_pointer_cast<const FluxTextEncodersData>(e.evaluate(g, "enc", "text_encoder", opts));
  EXPECT_FALSE(enc->clip->resident());  // released after encoding
  gpu::Context& gc = env.get<GpuService>()->context();
  const TokenBatch clip_ids = enc->clip_tokenizer.encode_padded("a photo of a cat in a quiet garden", ClipTokenizer::kContextLength, -1,
                                                                 clip::CleanMode::HfSlow);
  const TokenBatch t5_ids = enc->t5_tokenizer.encode_padded("a photo of a cat in a quiet garden", 64);
  gpu::CommandStream s(gc);
  const auto pooled = enc->clip->model(gc).encode(s, std::span<const TokenBatch>(&clip_ids, 1)).pooled;
  const auto seq = enc->t5->model(gc).encode(s, std::span<const TokenBatch>(&t5_ids, 1), false);
  s.finish();
  EXPECT_EQ(pooled.to_floats(), cond->pooled.to_f32());
  EXPECT_EQ(seq.to_floats(), cond->prompt_embeds.to_f32());
  // A different prompt gives different conditioning.
  g.find("text")->params["prompt"] = "a red house";
  auto other = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "text", "conditioning", opts));
  EXPECT_NE(other->pooled.to_f32(), cond->pooled.to_f32());

  // FluxPipeline's CLIPTokenizer (transformers' slow one) keeps entities that openai CLIP's html.unescape
  // would decode where the text has literal tags (ftfy then leaves them): the node cleans as the pipeline does.
  const std::string tagged = "<b>fish &amp; chips</b> &lt;3";
  const TokenBatch slow = enc->clip_tokenizer.encode_padded(tagged, ClipTokenizer::kContextLength, -1, clip::CleanMode::HfSlow);
  ASSERT_NE(slow.ids, enc->clip_tokenizer.encode_padded(tagged).ids) << "the modes should differ on this prompt";
  g.find("text")->params["prompt"] = tagged;
  auto t = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "text", "conditioning", opts));
  const auto expected = enc->clip->model(gc).encode(s, std::span<const TokenBatch>(&slow, 1)).pooled;
  s.finish();
  EXPECT_EQ(expected.to_floats(), t->pooled.to_f32());
}

TEST_F(FluxTextEncode, MissingPiecesAreNamed) {
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "enc", "type": "flux.load_text_encoders", "params": {"path": "flux"}}]})");
  MemoryCache mem;
  Engine e(&mem);
  try {
    e.evaluate(g, "enc", "text_encoder", opts);  // no tokenizer/ folder for CLIP
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(err.what()).find("tokenizer"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace lattice
