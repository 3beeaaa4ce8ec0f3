// FLUX structural control as a user wires it: flux.sample with a 'control' latent, from a full control checkpoint
// (flux.load_transformer) and from a base model with a control LoRA (lora.apply), on the tiny transformer of
// tests/golden/flux_control.safetensors. The LoRA route samples what a checkpoint of the reference's merged weights
// samples; a changed control latent re-runs only what depends on it; a control latent for a model without control
// channels, a control model without one, and a control latent of another size fail with InvalidInput (exit 3)
// naming the node and what disagrees.
#include <gtest/gtest.h>
#include "tests/support/tolerance.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/document.h"
#include "core/engine.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class FluxControlGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_flux_control_graph_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_control.safetensors");
    // Transformer folders: the control checkpoint, the base model, and the base with the reference's merged weights.
    auto folder = [&](const std::string& name, int in_channels, auto&& replace) {
      std::vector<std::pair<std::string, HostTensor>> ts;
      for (const auto& t : fx.file().tensors())
        if (t.name.rfind("weights.", 0) == 0) ts.emplace_back(t.name.substr(8), replace(t.name.substr(8)));
      std::vector<std::pair<std::string, const HostTensor*>> list;
      for (const auto& [k, t] : ts) list.emplace_back(k, &t);
      fs::create_directories(dir / name);
      write_safetensors(dir / name / "diffusion_pytorch_model.safetensors", list);
      nlohmann::json c = fx.config();
      c["in_channels"] = in_channels;
      std::ofstream(dir / name / "config.json") << c.dump();
    };
    folder("control", 128, [&](const std::string& k) { return fx.tensor(k == "x_embedder.weight" ? "control.x_embedder.weight" : "weights." + k); });
    folder("base", 64, [&](const std::string& k) { return fx.tensor("weights." + k); });
    folder("merged", 128, [&](const std::string& k) { return fx.tensor(fx.has("output.merged." + k) ? "output.merged." + k : "weights." + k); });
    std::vector<std::pair<std::string, HostTensor>> lora;
    for (const auto& t : fx.file().tensors())
      if (t.name.rfind("lora_bfl.", 0) == 0) lora.emplace_back(t.name.substr(9), fx.tensor(t.name));
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [k, t] : lora) list.emplace_back(k, &t);
    write_safetensors(dir / "canny-lora.safetensors", list);
    strength = fx.run().at("strength").get<double>();
    // Embeddings, noise, two control latents and one of another size.
    const HostTensor p = fx.tensor("input.encoder_hidden_states"), q = fx.tensor("input.pooled_projections"),
                     n = fx.tensor("input.latents"), c = fx.tensor("input.control");
    std::vector<float> half = c.to_f32();
    for (float& v : half) v *= 0.5f;
    const HostTensor c2 = HostTensor::from_f32(c.shape, half);
    const HostTensor small = HostTensor::from_f32({1, 16, 4, 6}, std::vector<float>(half.begin(), half.begin() + 16 * 4 * 6));
    write_safetensors(dir / "inputs.safetensors", {{"prompt_embeds", &p}, {"pooled_prompt_embeds", &q}, {"noise", &n},
                                                   {"control", &c}, {"control2", &c2}, {"small", &small}});
    opts.base_dir = dir;
    opts.output_dir = dir;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(dir); }

  // The sampler's latents, or the error (kind and message) it fails with.
  std::vector<float> sample(Engine& e, const Graph& g, RenderReport* report = nullptr) {
    const Value v = e.evaluate(g, "sample", "latent", opts, report);
    return std::dynamic_pointer_cast<const TensorValue>(v)->host().to_f32();
  }
  std::string error(const Graph& g) {
    MemoryCache mem;
    Engine e(&mem);
    try {
      e.evaluate(g, "sample", "latent", opts);
    } catch (const Error& err) {
      // InvalidInput (exit 3), from flux.sample itself: the message opens with the node, named once.
      const std::string m = err.what(), who = "node 'sample' (flux.sample): ";
      EXPECT_EQ(err.kind(), ErrorKind::InvalidInput) << m;
      EXPECT_EQ(err.exit_code(), 3) << m;
      EXPECT_EQ(err.node_ids(), std::vector<std::string>{"sample"}) << m;
      EXPECT_EQ(m.rfind(who, 0), 0u) << m;
      EXPECT_EQ(m.find("node 'sample'", 1), std::string::npos) << m;
      return m;
    }
    ADD_FAILURE() << "no error";
    return {};
  }

  fs::path dir;
  double strength = 1;
  RenderOptions opts;
  Environment env;
};

const char* kGraph = R"({"lattice": 1, "nodes": [
  {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
  {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
  {"id": "noise_t", "type": "tensor.load", "params": {"path": "inputs.safetensors", "name": "noise"}},
  {"id": "noise", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "noise_t", "output": "tensor"}}},
  {"id": "control_t", "type": "tensor.load", "params": {"path": "inputs.safetensors", "name": "control"}},
  {"id": "control", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "control_t", "output": "tensor"}}},
  {"id": "dit", "type": "flux.load_transformer", "params": {"path": "control"}},
  {"id": "sample", "type": "flux.sample", "params": {"steps": 2, "guidance": 3.5},
   "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
              "noise": {"node": "noise", "output": "latent"}, "control": {"node": "control", "output": "latent"}}}
]})";

// The graph with the transformer from the base model and the control LoRA at `strength`.
Graph with_lora(double strength) {
  Graph g = parse_graph(kGraph);
  g.find("dit")->params["path"] = "base";
  Node lora;
  lora.id = "lora";
  lora.type = "lora.apply";
  lora.params["path"] = "canny-lora.safetensors";
  lora.params["strength"] = strength;
  lora.inputs["dit"] = {"dit", "dit"};
  g.nodes.push_back(lora);
  g.find("sample")->inputs["dit"] = {"lora", "dit"};
  return g;
}

TEST_F(FluxControlGraph, ControlCheckpointSamplesAndCachesByItsControlLatent) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const std::vector<float> first = sample(e, g);
  ASSERT_EQ(first.size(), 16u * 8 * 6);
  for (float v : first) ASSERT_TRUE(std::isfinite(v));
  // Another control latent: only it and the sampler run again, and the result changes.
  g.find("control_t")->params["name"] = "control2";
  RenderReport report;
  const std::vector<float> second = sample(e, g, &report);
  EXPECT_NE(second, first);
  for (const auto& n : report.nodes) {
    const bool reran = n.id == "control_t" || n.id == "control" || n.id == "sample";
    EXPECT_EQ(n.status, reran ? "executed" : "cached") << n.id;
  }
}

TEST_F(FluxControlGraph, ControlLoraSamplesAsTheMergedCheckpoint) {
  MemoryCache mem;
  Engine e(&mem);
  const std::vector<float> lora = sample(e, with_lora(strength));
  Graph merged = parse_graph(kGraph);
  merged.find("dit")->params["path"] = "merged";
  const std::vector<float> want = sample(e, merged);
  EXPECT_TRUE(test::within_tolerance(lora, want));
  // The control checkpoint (other weights) samples something else from the same inputs.
  EXPECT_NE(sample(e, parse_graph(kGraph)), want);
}

TEST_F(FluxControlGraph, MismatchedControlInputsFailNamingWhatIsWrong) {
  // A control latent for a model without control channels.
  Graph g = parse_graph(kGraph);
  g.find("dit")->params["path"] = "base";
  std::string m = error(g);
  EXPECT_NE(m.find("input 'control' is connected, but the transformer has no control channels"), std::string::npos) << m;
  // A control model without one, from a checkpoint and from a control LoRA.
  for (Graph h : {parse_graph(kGraph), with_lora(strength)}) {
    h.find("sample")->inputs.erase("control");
    m = error(h);
    EXPECT_NE(m.find("structural-control model (x_embedder takes 128 channels: 64 latent + 64 control)"), std::string::npos) << m;
    EXPECT_NE(m.find("input 'control'"), std::string::npos) << m;
  }
  // A control latent of another size than the noise.
  g = parse_graph(kGraph);
  g.find("control_t")->params["name"] = "small";
  m = error(g);
  for (const char* part : {"control latents [1, 16, 4, 6]", "noise [1, 16, 8, 6]", "differ in shape"})
    EXPECT_NE(m.find(part), std::string::npos) << m;
}

// examples/flux-canny-lora.lattice wires image -> image.canny -> vae.encode -> flux.sample 'control' validly.
TEST_F(FluxControlGraph, CannyExampleIsAValidGraph) {
  std::ifstream in(fs::path(LATTICE_SOURCE_DIR) / "examples/flux-canny-lora.lattice");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Graph g = parse_graph(text, "flux-canny-lora.lattice");
  EXPECT_TRUE(validate(g).empty());
  EXPECT_EQ(g.find("sample")->inputs.at("control").node, "control");
  EXPECT_EQ(g.find("control")->inputs.at("image").node, "canny");
}

}  // namespace
}  // namespace lattice
