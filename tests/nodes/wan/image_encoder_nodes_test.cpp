// wan.load_image_encoder and wan.encode_image on a tiny Wan I2V folder made from the reference fixtures (the
// CLIP vision fixture is 24 wide with 257 tokens, the image width and token count of the tiny I2V
// transformer): the node's embedding equals the encoder's penultimate hidden states on the preprocessed
// image, the pipeline's image_processor/ settings are used, and the embedding drives wan.sample.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/tensor.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_io.h"
#include "nodes/models/fixture.h"
#include "nodes/types/image_encoder_handle.h"
#include "nodes/types/tensor_value.h"
#include "tests/support/example_plan.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class WanImageEncoder : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_wan_clipvis_" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
    const Fixture clip(golden / "clip_vision_encoder.safetensors");
    test::write_fixture_component(clip, "weights.", clip.config(), root / "wan" / "image_encoder", "model.safetensors");
    fs::create_directories(root / "wan" / "image_processor");
    std::ofstream(root / "wan" / "image_processor" / "preprocessor_config.json")
        << R"({"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}, "resample": 3})";
    ImageData img(50, 40, 3);
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < 50; ++x)
        for (int c = 0; c < 3; ++c) img.at(x, y, c) = 0.5f + 0.45f * std::sin(0.3f * static_cast<float>(x + 2 * y + 5 * c));
    write_image(root / "first.png", img, "8", nullptr);
    opts.base_dir = root;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(root); }

  fs::path root;
  RenderOptions opts;
  Environment env;
};

const char* kEncodeGraph = R"({"lattice": 1, "nodes": [
  {"id": "clip", "type": "wan.load_image_encoder", "params": {"path": "wan"}},
  {"id": "img", "type": "image.load", "params": {"path": "first.png"}},
  {"id": "emb", "type": "wan.encode_image",
   "inputs": {"image_encoder": {"node": "clip", "output": "image_encoder"}, "image": {"node": "img", "output": "image"}}}]})";

TEST_F(WanImageEncoder, EncodesThePreprocessedImageToPenultimateHiddenStates) {
  Graph g = parse_graph(kEncodeGraph);
  MemoryCache mem;
  Engine e(&mem);
  auto emb = std::dynamic_pointer_cast<const TensorData>(e.evaluate(g, "emb", "image_embeds", opts));
  ASSERT_TRUE(emb);
  ASSERT_EQ(emb->tensor.shape, (std::vector<int64_t>{1, 257, 24}));

  // The same by hand: the file's pixels, the folder's processor settings (32, not Wan's 224), one forward.
  auto enc = std::dynamic_pointer_cast<const ImageEncoderData>(e.evaluate(g, "clip", "image_encoder", opts));
  ASSERT_TRUE(enc);
  EXPECT_EQ(enc->processor.shortest_edge, 32);
  const std::vector<float> pixels = clip_preprocess(*read_image(root / "first.png"), enc->processor);
  gpu::Context& gc = env.get<GpuService>()->context();
  gpu::CommandStream s(gc);
  const ClipVisionOutput ref = enc->clip->model(gc).encode(s, gpu::Tensor::from_floats(gc, pixels, {1, 3, 32, 32}));
  s.finish();
  EXPECT_EQ(emb->tensor.to_f32(), ref.penultimate.to_floats());
}

TEST_F(WanImageEncoder, RefusesAProcessorThatDoesNotFitTheEncoder) {
  fs::remove_all(root / "wan" / "image_processor");  // Wan's defaults crop 224; the tiny encoder takes 32
  Graph g = parse_graph(kEncodeGraph);
  MemoryCache mem;
  Engine e(&mem);
  try {
    e.evaluate(g, "emb", "image_embeds", opts);
    ADD_FAILURE();
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput) << err.what();
    EXPECT_NE(std::string(err.what()).find("224"), std::string::npos) << err.what();
  }
}

TEST_F(WanImageEncoder, AnImageEncoderOnATextEncoderInputIsRefused) {
  // An image_encoder wire does not fit a text_encoder input: validation refuses the graph, naming both types.
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "clip", "type": "wan.load_image_encoder", "params": {"path": "wan"}},
    {"id": "pos", "type": "wan.text_encode", "params": {"prompt": "a river"},
     "inputs": {"text_encoder": {"node": "clip", "output": "image_encoder"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  try {
    e.evaluate(g, "pos", "conditioning", opts);
    ADD_FAILURE();
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput) << err.what();
    EXPECT_NE(std::string(err.what()).find("expects text_encoder but 'clip.image_encoder' is image_encoder"),
              std::string::npos)
        << err.what();
  }
}

TEST_F(WanImageEncoder, TheEmbeddingDrivesImageToVideoSampling) {
  const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
  const Fixture umt5(golden / "umt5_encoder.safetensors"), i2v(golden / "wan_transformer_i2v.safetensors");
  test::write_fixture_component(i2v, "weights.", i2v.config(), root / "wan" / "transformer");
  test::write_fixture_component(umt5, "weights.", umt5.config(), root / "wan" / "text_encoder", "model.safetensors");
  test::write_tiny_spiece(root / "wan" / "tokenizer", "a slow drone shot over a river at dawn");
  std::vector<float> cond(20 * 2 * 4 * 6);
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = std::cos(0.21f * static_cast<float>(i));
  const HostTensor condition = HostTensor::from_f32({1, 20, 2, 4, 6}, cond);
  write_safetensors(root / "condition.safetensors", {{"condition", &condition}});
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "clip", "type": "wan.load_image_encoder", "params": {"path": "wan"}},
    {"id": "img", "type": "image.load", "params": {"path": "first.png"}},
    {"id": "emb", "type": "wan.encode_image",
     "inputs": {"image_encoder": {"node": "clip", "output": "image_encoder"}, "image": {"node": "img", "output": "image"}}},
    {"id": "enc", "type": "wan.load_text_encoder", "params": {"path": "wan"}},
    {"id": "pos", "type": "wan.text_encode", "params": {"prompt": "a river", "max_length": 12},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
    {"id": "dit", "type": "wan.load_transformer", "params": {"path": "wan"}},
    {"id": "cond", "type": "tensor.load", "params": {"path": "condition.safetensors", "name": "condition"}},
    {"id": "sample", "type": "wan.sample",
     "params": {"width": 48, "height": 32, "num_frames": 5, "steps": 2, "guidance": 1.0, "shift": 5.0, "seed": 3},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "pos", "output": "conditioning"},
                "image_embeds": {"node": "emb", "output": "image_embeds"}, "image_condition": {"node": "cond", "output": "tensor"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent);
  ASSERT_EQ(latent->shape(), (std::vector<int64_t>{1, 16, 2, 4, 6}));

  // A different first frame gives a different video.
  ImageData other(40, 40, 3);
  write_image(root / "other.png", other, "8", nullptr);
  g.find("img")->params["path"] = "other.png";
  auto latent2 = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent2);
  EXPECT_NE(latent->host().to_f32(), latent2->host().to_f32());
}

TEST_F(WanImageEncoder, TheConditionIsTheFirstFrameMaskAndTheNormalisedLatent) {
  // wan.image_condition on the reference Wan VAE: mask channels 0..3 are 1 on latent frame 0 only; the
  // latent part is the normalised encoding of [image, zero frames] (frame 0 then equals wan.vae_encode of the
  // image alone: the encoder is causal).
  const Fixture vae(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/wan_vae.safetensors");
  test::write_fixture_component(vae, "weights.", vae.config(), root / "wan" / "vae");
  ImageData img(48, 32, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = 0.5f + 0.4f * std::sin(0.05f * static_cast<float>(i));
  write_image(root / "frame.png", img, "8", nullptr);
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "vae", "type": "wan.load_vae", "params": {"path": "wan"}},
    {"id": "img", "type": "image.load", "params": {"path": "frame.png"}},
    {"id": "cond", "type": "wan.image_condition", "params": {"num_frames": 9},
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "img", "output": "image"}}},
    {"id": "enc", "type": "wan.vae_encode",
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "img", "output": "image"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  auto cond = std::dynamic_pointer_cast<const TensorData>(e.evaluate(g, "cond", "image_condition", opts));
  ASSERT_TRUE(cond);
  ASSERT_EQ(cond->tensor.shape, (std::vector<int64_t>{1, 20, 3, 4, 6}));
  const std::vector<float> v = cond->tensor.to_f32();
  const size_t frame = 4 * 6, T = 3;
  for (size_t k = 0; k < 4; ++k)
    for (size_t t = 0; t < T; ++t)
      for (size_t i = 0; i < frame; ++i) ASSERT_EQ(v[(k * T + t) * frame + i], t == 0 ? 1.0f : 0.0f) << k << " " << t;
  auto first = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "enc", "latent", opts));
  ASSERT_TRUE(first);
  const std::vector<float> f = first->host().to_f32();  // [1, 16, 1, 4, 6]
  ASSERT_EQ(f.size(), 16 * frame);
  for (size_t c = 0; c < 16; ++c)
    for (size_t i = 0; i < frame; ++i)
      ASSERT_NEAR(v[((4 + c) * T) * frame + i], f[c * frame + i], 1e-5f * std::max(1.0f, std::fabs(f[c * frame + i])));

  g.find("cond")->params["num_frames"] = 8;
  EXPECT_THROW(e.evaluate(g, "cond", "image_condition", opts), Error);
}

TEST_F(WanImageEncoder, DryRunPlansTheI2VExampleFromItsConfigsAlone) {
  const std::map<std::string, PlanInfo> plan = test::plan_example("wan-i2v.lattice", opts);
  EXPECT_NE(plan.at("transformer").shape.find("Wan 2.1 I2V"), std::string::npos) << plan.at("transformer").shape;
  const PlanInfo& clip = plan.at("image_encoder");
  EXPECT_NE(clip.shape.find("1280 wide, 32 layers"), std::string::npos) << clip.shape;
  EXPECT_GT(clip.weight_bytes, 1ull << 30);  // ViT-H/14's 632M parameters in 16 bits
  EXPECT_LT(clip.weight_bytes, 2ull << 30);
  EXPECT_EQ(plan.at("embed").shape, "image embedding [1, 257, 1280]");
  EXPECT_GT(plan.at("embed").flops, 1e11);
  EXPECT_EQ(plan.at("condition").shape, "image condition [1, 20, 21, 60, 104]");
  EXPECT_NE(plan.at("sample").shape.find("[1, 16, 21, 60, 104]"), std::string::npos) << plan.at("sample").shape;
  EXPECT_FALSE(env.get<GpuService>()->started());
}

}  // namespace
}  // namespace lattice
