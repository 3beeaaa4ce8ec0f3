// LoRA on the tiny FLUX of the pipeline fixture: files in the diffusers, kohya and BFL conventions, merged
// weights checked against W + s·(alpha/rank)·B·A computed here, strength 0 is the base model, a strength
// change re-runs only lora.apply and what follows, and wrong files fail naming what is wrong. The same for the
// tiny Wan 2.1 and LTX-Video transformers of the golden fixtures (diffusers/PEFT, ComfyUI, original-layout and
// kohya keys), with the patched Wan forward equal to the forward of a checkpoint merged here.
#include <gtest/gtest.h>
#include "tests/support/tolerance.h"

#include "tests/support/tiny_models.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/lora.h"
#include "nodes/models/wan/transformer.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// One LoRA module as written to a file: its key stem, factors and optional alpha.
struct TestModule {
  std::string down_key, up_key, alpha_key;  // alpha_key empty: no alpha tensor
  HostTensor down, up;
  float alpha = 0;
};

class Lora : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_lora_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    test::write_tiny_flux(dir);
    model = std::make_shared<WeightSource>(WeightSource::open(dir / "tiny-flux", "transformer"));
    opts.base_dir = dir;
    opts.output_dir = dir;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(dir); }

  int64_t rows(const std::string& w) const { return model->info(w).shape.at(0); }
  int64_t cols(const std::string& w) const { return model->info(w).shape.at(1); }

  // A module with random factors: down [rank, in], up [out, rank].
  TestModule module(const std::string& stem, const std::string& down_sfx, const std::string& up_sfx, int64_t out,
                    int64_t in, int64_t rank, std::optional<float> alpha) {
    std::normal_distribution<float> nd(0.0f, 0.5f);
    std::vector<float> a(static_cast<size_t>(rank * in)), b(static_cast<size_t>(out * rank));
    for (float& v : a) v = nd(rng);
    for (float& v : b) v = nd(rng);
    TestModule m{stem + down_sfx, stem + up_sfx, alpha ? stem + ".alpha" : "", HostTensor::from_f32({rank, in}, a),
                 HostTensor::from_f32({out, rank}, b), alpha.value_or(0)};
    return m;
  }
  fs::path write(const std::string& name, const std::vector<TestModule>& ms) {
    std::vector<HostTensor> alphas;
    alphas.reserve(ms.size());
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& m : ms) {
      list.emplace_back(m.down_key, &m.down);
      list.emplace_back(m.up_key, &m.up);
      if (!m.alpha_key.empty()) {
        alphas.push_back(HostTensor::from_f32({}, {m.alpha}));
        list.emplace_back(m.alpha_key, &alphas.back());
      }
    }
    write_safetensors(dir / name, list);
    return dir / name;
  }

  // The merged matrix as the device holds it, against W + s·(alpha/rank)·B[rows]·A computed in double.
  void expect_merged(DeviceWeights& dw, const std::string& target, const TestModule& m, float strength, int64_t row0,
                     bool swap_halves = false) {
    SCOPED_TRACE(target);
    const auto got = dw.matrix(target).to_floats();
    const auto w = model->load(target).to_f32();
    const auto a = m.down.to_f32(), b = m.up.to_f32();
    const int64_t out = rows(target), in = cols(target), rank = m.down.shape[0], total = m.up.shape[0];
    const double scale = strength * (m.alpha_key.empty() ? 1.0 : m.alpha / static_cast<double>(rank));
    ASSERT_EQ(got.size(), w.size());
    double max_err = 0, max_delta = 0;
    for (int64_t o = 0; o < out; ++o) {
      const int64_t r = swap_halves ? (o + total / 2) % total : row0 + o;
      for (int64_t i = 0; i < in; ++i) {
        double d = 0;
        for (int64_t k = 0; k < rank; ++k) d += double(b[size_t(r * rank + k)]) * a[size_t(k * in + i)];
        const size_t at = size_t(o * in + i);
        max_err = std::max(max_err, std::fabs(got[at] - (w[at] + scale * d)));
        max_delta = std::max(max_delta, std::fabs(scale * d));
      }
    }
    EXPECT_LE(max_err, 1e-5);
    EXPECT_GT(max_delta, 1e-2);  // the patch did change the matrix
  }

  // The merged matrix for patches made from `ms` (each applied to its own target, rows from 0).
  void expect_all_merged(const WeightPatches& patches, const std::vector<TestModule>& ms,
                         const std::vector<std::string>& targets, float strength) {
    ASSERT_EQ(patches.size(), ms.size());
    DeviceWeights dw(*model, env.get<GpuService>()->context(), std::make_shared<WeightPatches>(patches));
    for (size_t i = 0; i < ms.size(); ++i) expect_merged(dw, targets[i], ms[i], strength, 0);
  }

  fs::path dir;
  std::shared_ptr<WeightSource> model;
  std::mt19937 rng{1234};
  RenderOptions opts;
  Environment env;
};

const std::string kB0 = "transformer_blocks.0.", kS0 = "single_transformer_blocks.0.", kS1 = "single_transformer_blocks.1.";

TEST_F(Lora, DiffusersKeysMergeIntoTheirMatrices) {
  const std::string q = kB0 + "attn.to_q.weight", po = kS1 + "proj_out.weight", ff = kB0 + "ff.net.0.proj.weight";
  const std::vector<TestModule> ms = {
      module("transformer." + kB0 + "attn.to_q", ".lora_A.weight", ".lora_B.weight", rows(q), cols(q), 2, 8.0f),
      module(kS1 + "proj_out", ".lora.down.weight", ".lora.up.weight", rows(po), cols(po), 3, std::nullopt),
      module("base_model.model." + kB0 + "ff.net.0.proj", ".lora_down.weight", ".lora_up.weight", rows(ff), cols(ff), 4, 2.0f)};
  const WeightSource lora = WeightSource::open(write("diffusers.safetensors", ms));
  auto patches = std::make_shared<WeightPatches>(apply_flux_lora(lora, model, nullptr, 0.7f).patches);
  ASSERT_EQ(patches->size(), 3u);
  DeviceWeights dw(*model, env.get<GpuService>()->context(), patches);
  expect_merged(dw, q, ms[0], 0.7f, 0);
  expect_merged(dw, po, ms[1], 0.7f, 0);
  expect_merged(dw, ff, ms[2], 0.7f, 0);
}

TEST_F(Lora, KohyaFusedModulesSplitOverTheirTargets) {
  const std::string q = kB0 + "attn.to_q.weight", k = kB0 + "attn.to_k.weight", v = kB0 + "attn.to_v.weight";
  const std::string sq = kS0 + "attn.to_q.weight", sk = kS0 + "attn.to_k.weight", sv = kS0 + "attn.to_v.weight",
                    mlp = kS0 + "proj_mlp.weight", tq = kB0 + "attn.add_k_proj.weight", mod = kB0 + "norm1_context.linear.weight";
  const int64_t inner = rows(q), sl1 = rows(sq) + rows(sk) + rows(sv) + rows(mlp);
  const std::vector<TestModule> ms = {
      module("lora_unet_double_blocks_0_img_attn_qkv", ".lora_down.weight", ".lora_up.weight", 3 * inner, cols(q), 4, 2.0f),
      module("lora_unet_single_blocks_0_linear1", ".lora_down.weight", ".lora_up.weight", sl1, cols(sq), 2, std::nullopt),
      module("lora_unet_double_blocks_0_txt_attn_qkv", ".lora_down.weight", ".lora_up.weight", 3 * inner, cols(tq), 2, 1.0f),
      module("lora_unet_double_blocks_0_txt_mod_lin", ".lora_down.weight", ".lora_up.weight", rows(mod), cols(mod), 2, 1.0f)};
  const WeightSource lora = WeightSource::open(write("kohya.safetensors", ms));
  auto patches = std::make_shared<WeightPatches>(apply_flux_lora(lora, model, nullptr, -1.5f).patches);
  ASSERT_EQ(patches->size(), 3u + 4u + 3u + 1u);
  DeviceWeights dw(*model, env.get<GpuService>()->context(), patches);
  expect_merged(dw, q, ms[0], -1.5f, 0);
  expect_merged(dw, k, ms[0], -1.5f, inner);
  expect_merged(dw, v, ms[0], -1.5f, 2 * inner);
  expect_merged(dw, sq, ms[1], -1.5f, 0);
  expect_merged(dw, sv, ms[1], -1.5f, rows(sq) + rows(sk));
  expect_merged(dw, mlp, ms[1], -1.5f, rows(sq) + rows(sk) + rows(sv));
  expect_merged(dw, tq, ms[2], -1.5f, inner);
  expect_merged(dw, mod, ms[3], -1.5f, 0);
}

TEST_F(Lora, BflKeysMapToDiffusersNames) {
  const std::string proj = kB0 + "attn.to_out.0.weight", sq = kS0 + "attn.to_q.weight", mlp = kS1 + "proj_mlp.weight",
                    norm_out = "norm_out.linear.weight", smod = kS1 + "norm.linear.weight";
  const int64_t sl1 = 3 * rows(sq) + rows(mlp);
  const std::vector<TestModule> ms = {
      module("diffusion_model.double_blocks.0.img_attn.proj", ".lora_A.weight", ".lora_B.weight", rows(proj), cols(proj), 2, 1.0f),
      module("diffusion_model.single_blocks.1.linear1", ".lora_A.weight", ".lora_B.weight", sl1, cols(sq), 3, 6.0f),
      module("diffusion_model.final_layer.adaLN_modulation.1", ".lora_A.weight", ".lora_B.weight", rows(norm_out), cols(norm_out), 2, std::nullopt),
      module("single_blocks.1.modulation.lin", ".lora_down.weight", ".lora_up.weight", rows(smod), cols(smod), 2, std::nullopt)};
  const WeightSource lora = WeightSource::open(write("bfl.safetensors", ms));
  auto patches = std::make_shared<WeightPatches>(apply_flux_lora(lora, model, nullptr, 1.0f).patches);
  DeviceWeights dw(*model, env.get<GpuService>()->context(), patches);
  expect_merged(dw, proj, ms[0], 1.0f, 0);
  expect_merged(dw, kS1 + "attn.to_k.weight", ms[1], 1.0f, rows(sq));
  expect_merged(dw, mlp, ms[1], 1.0f, 3 * rows(sq));
  expect_merged(dw, norm_out, ms[2], 1.0f, 0, /*swap_halves=*/true);
  expect_merged(dw, smod, ms[3], 1.0f, 0);
}

const char* kGraph = R"({"lattice": 1, "nodes": [
  {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
  {"id": "noise_t", "type": "tensor.load", "params": {"path": "inputs.safetensors", "name": "noise"}},
  {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
  {"id": "noise", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "noise_t", "output": "tensor"}}},
  {"id": "dit", "type": "flux.load_transformer", "params": {"path": "tiny-flux"}},
  {"id": "lora", "type": "lora.apply", "params": {"path": "style.safetensors", "strength": 1.0},
   "inputs": {"dit": {"node": "dit", "output": "dit"}}},
  {"id": "vae", "type": "vae.load", "params": {"path": "tiny-flux"}},
  {"id": "sample", "type": "flux.sample", "params": {"steps": 2, "guidance": 3.5},
   "inputs": {"dit": {"node": "lora", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
              "noise": {"node": "noise", "output": "latent"}}},
  {"id": "decode", "type": "vae.decode", "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "sample", "output": "latent"}}},
  {"id": "save", "type": "image.save", "params": {"path": "lora.exr", "depth": "float"}, "inputs": {"image": {"node": "decode", "output": "image"}}}
]})";

std::vector<float> pixels(const Value& v) {
  auto img = std::dynamic_pointer_cast<const ImageData>(v);
  EXPECT_TRUE(img);
  std::vector<float> p;
  if (!img) return p;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < img->height; ++y)
      for (int x = 0; x < img->width; ++x) p.push_back(img->at(x, y, c));
  return p;
}

// Strength 0 gave the base model's output exactly, strength 1 changed it, and a strength change re-runs exactly
// the nodes `reran` (the LoRA and what follows it), nothing upstream or beside it.
void expect_strength_behaviour(Engine& e, Graph& g, const RenderOptions& opts, const std::vector<float>& with_lora,
                               const std::vector<float>& zero, const std::vector<float>& plain, const std::set<std::string>& reran) {
  ASSERT_EQ(zero.size(), plain.size());
  EXPECT_EQ(zero, plain);
  ASSERT_EQ(with_lora.size(), plain.size());
  double diff = 0;
  for (size_t i = 0; i < plain.size(); ++i) diff = std::max(diff, double(std::fabs(plain[i] - with_lora[i])));
  EXPECT_GT(diff, 1e-3);
  g.find("lora")->params["strength"] = 0.5;
  auto r = e.render(g, opts);
  g.find("lora")->params["strength"] = 0.25;
  r = e.render(g, opts);
  for (const auto& n : r.nodes) EXPECT_EQ(n.status, reran.count(n.id) ? "executed" : "cached") << n.id;
}

TEST_F(Lora, StrengthIsAParameterOfTheGraph) {
  const std::string q = kB0 + "attn.to_q.weight", sq = kS0 + "attn.to_q.weight";
  write("style.safetensors",
        {module("lora_unet_double_blocks_0_img_attn_qkv", ".lora_down.weight", ".lora_up.weight", 3 * rows(q), cols(q), 4, 4.0f),
         module("lora_unet_single_blocks_0_linear1", ".lora_down.weight", ".lora_up.weight", 3 * rows(sq) + rows(kS0 + "proj_mlp.weight"),
                cols(sq), 4, 4.0f)});
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const auto with_lora = pixels(e.evaluate(g, "decode", "image", opts));

  // Strength 0 is the base model exactly; strength 1 changes the image.
  g.find("lora")->params["strength"] = 0.0;
  const auto zero = pixels(e.evaluate(g, "decode", "image", opts));
  Graph base = parse_graph(kGraph);
  base.find("sample")->inputs["dit"].node = "dit";
  MemoryCache mem2;
  Engine e2(&mem2);
  const auto plain = pixels(e2.evaluate(base, "decode", "image", opts));
  expect_strength_behaviour(e, g, opts, with_lora, zero, plain, {"lora", "sample", "decode", "save"});
}

// The node's error for a LoRA file with these modules (or these raw tensors).
std::string node_error(Lora& t, Engine& e, RenderOptions& opts) {
  Graph g = parse_graph(kGraph);
  (void)t;
  try {
    e.evaluate(g, "lora", "dit", opts);
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput) << err.what();
    return err.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST_F(Lora, WrongFilesFailNamingWhatIsWrong) {
  MemoryCache mem;
  Engine e(&mem);
  const std::string q = kB0 + "attn.to_q.weight";
  auto expect_error = [&](const std::vector<TestModule>& ms, const std::string& needle) {
    write("style.safetensors", ms);
    const std::string msg = node_error(*this, e, opts);
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find("node 'lora'"), std::string::npos) << msg;
    fs::remove(dir / "style.safetensors");  // a new file identity for the next case
  };
  // A LoRA for another model (SDXL text encoder and UNet keys).
  expect_error({module("lora_te1_text_model_encoder_layers_0_mlp_fc1", ".lora_down.weight", ".lora_up.weight", 8, 8, 2, 1.0f),
                module("lora_unet_down_blocks_0_attentions_0_proj_in", ".lora_down.weight", ".lora_up.weight", 8, 8, 2, 1.0f)},
               "match no FLUX transformer weight");
  // Right name, wrong shapes.
  expect_error({module("transformer." + kB0 + "attn.to_q", ".lora_A.weight", ".lora_B.weight", rows(q), cols(q) + 1, 2, 1.0f)},
               "'" + q + "'");
  expect_error({module(kB0 + "attn.to_q", ".lora_A.weight", ".lora_B.weight", rows(q) + 2, cols(q), 2, 1.0f)}, "has up [");
  // A qkv whose up is not three times the width.
  expect_error({module("lora_unet_double_blocks_0_img_attn_qkv", ".lora_down.weight", ".lora_up.weight", rows(q), cols(q), 2, 1.0f)},
               "lora_unet_double_blocks_0_img_attn_qkv");
  // A factor without its partner, and a tensor that is no LoRA factor.
  TestModule half = module(kB0 + "attn.to_q", ".lora_A.weight", ".lora_B.weight", rows(q), cols(q), 2, std::nullopt);
  {
    std::vector<std::pair<std::string, const HostTensor*>> list = {{half.down_key, &half.down}};
    write_safetensors(dir / "style.safetensors", list);
    const std::string msg = node_error(*this, e, opts);
    EXPECT_NE(msg.find("lacks its up (B) matrix"), std::string::npos) << msg;
    fs::remove(dir / "style.safetensors");
  }
  {
    std::vector<std::pair<std::string, const HostTensor*>> list = {{half.down_key, &half.down}, {half.up_key, &half.up}, {"text.embedding", &half.up}};
    write_safetensors(dir / "style.safetensors", list);
    const std::string msg = node_error(*this, e, opts);
    EXPECT_NE(msg.find("'text.embedding'"), std::string::npos) << msg;
    fs::remove(dir / "style.safetensors");
  }
  // A LyCORIS LoHa module without its second product (InvalidInput: exit code 3 from the command line).
  {
    std::vector<std::pair<std::string, const HostTensor*>> list = {{"lora_unet_double_blocks_0_img_attn_qkv.hada_w1_a", &half.up},
                                                                   {"lora_unet_double_blocks_0_img_attn_qkv.hada_w1_b", &half.down}};
    write_safetensors(dir / "style.safetensors", list);
    const std::string msg = node_error(*this, e, opts);
    EXPECT_NE(msg.find("style.safetensors: LoRA module 'lora_unet_double_blocks_0_img_attn_qkv' lacks its 'hada_w2_a' tensor"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("node 'lora'"), std::string::npos) << msg;
    fs::remove(dir / "style.safetensors");
  }
  // A DoRA magnitude of the wrong shape, a Tucker core of the wrong ranks, a misshapen FLUX control LoRA: InvalidInput
  // through the node too, naming the file and the key.
  {
    const HostTensor bad_m = HostTensor::from_f32({2, 3}, std::vector<float>(6, 1.0f));
    const HostTensor core = HostTensor::from_f32({5, 5, 3, 3}, std::vector<float>(225, 1.0f));
    // A control LoRA must widen img_in to twice the latent channels (latent + control); 3x is no FLUX control.
    const HostTensor wide = HostTensor::from_f32({2, 3 * cols("x_embedder.weight")}, std::vector<float>(size_t(6 * cols("x_embedder.weight")), 1.0f));
    for (const auto& [list, needle] :
         {std::pair{std::vector<std::pair<std::string, const HostTensor*>>{{half.down_key, &half.down}, {half.up_key, &half.up},
                                                                           {kB0 + "attn.to_q.dora_scale", &bad_m}},
                    "style.safetensors: LoRA module '" + kB0 + "attn.to_q' has the DoRA magnitude '" + kB0 + "attn.to_q.dora_scale' [2, 3]"},
          std::pair{std::vector<std::pair<std::string, const HostTensor*>>{{kB0 + "attn.to_q.lora_down.weight", &half.down},
                                                                           {kB0 + "attn.to_q.lora_up.weight", &half.up},
                                                                           {kB0 + "attn.to_q.lora_mid.weight", &core}},
                    "has the Tucker core '" + kB0 + "attn.to_q.lora_mid.weight' [5, 5, 3, 3]"},
          std::pair{std::vector<std::pair<std::string, const HostTensor*>>{{"img_in.lora_A.weight", &wide}},
                    "'img_in.lora_A.weight' [2, " + std::to_string(3 * cols("x_embedder.weight")) + "] widens x_embedder from " +
                        std::to_string(cols("x_embedder.weight")) + " to " + std::to_string(3 * cols("x_embedder.weight")) + " input channels"}}) {
      write_safetensors(dir / "style.safetensors", list);
      const std::string msg = node_error(*this, e, opts);
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_NE(msg.find("node 'lora'"), std::string::npos) << msg;
      fs::remove(dir / "style.safetensors");
    }
  }
}

// The tiny Wan 2.1 and LTX-Video transformers of the golden fixtures, with their prompt states, as pipeline folders.
class VideoLora : public Lora {
 protected:
  void SetUp() override {
    Lora::SetUp();
    const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
    for (const auto& [name, file] : {std::pair{"wan", "wan_transformer"}, std::pair{"ltx", "ltx_transformer"}}) {
      const Fixture fx(golden / (std::string(file) + ".safetensors"));
      test::write_fixture_component(fx, "weights.", fx.config(), dir / name / "transformer");
      const HostTensor embeds = fx.tensor("input.encoder_hidden_states");
      const HostTensor pooled = HostTensor::from_f32({1, 1}, {0.0f});
      const HostTensor first = HostTensor{embeds.dtype, {1, embeds.shape[1], embeds.shape[2]},
                                          std::vector<uint8_t>(embeds.data.begin(), embeds.data.begin() + embeds.data.size() /
                                                                                                              static_cast<size_t>(embeds.shape[0]))};
      write_safetensors(dir / (std::string(name) + "_inputs.safetensors"), {{"prompt_embeds", &first}, {"pooled_prompt_embeds", &pooled}});
    }
  }
  void use(const std::string& name) { model = std::make_shared<WeightSource>(WeightSource::open(dir / name, "transformer")); }
  TestModule peft(const std::string& key, const std::string& target, int64_t rank, std::optional<float> alpha) {
    return module(key, ".lora_A.weight", ".lora_B.weight", rows(target), cols(target), rank, alpha);
  }
  TestModule kohya(const std::string& key, const std::string& target, int64_t rank, std::optional<float> alpha) {
    return module(key, ".lora_down.weight", ".lora_up.weight", rows(target), cols(target), rank, alpha);
  }
};

TEST_F(VideoLora, WanKeysOfEveryConventionMergeIntoTheDiffusersMatrices) {
  use("wan");
  const std::vector<std::string> targets = {
      "blocks.0.attn1.to_q.weight", "blocks.0.attn1.to_k.weight",      "blocks.1.attn2.to_v.weight",
      "blocks.1.ffn.net.0.proj.weight", "blocks.0.attn2.to_out.0.weight", "proj_out.weight",
      "condition_embedder.text_embedder.linear_1.weight", "blocks.1.attn1.to_out.0.weight"};
  const std::vector<TestModule> ms = {
      peft("transformer.blocks.0.attn1.to_q", targets[0], 2, std::nullopt),     // diffusers / PEFT
      peft("diffusion_model.blocks.0.self_attn.k", targets[1], 3, 6.0f),        // ComfyUI, original names
      kohya("lora_unet_blocks_1_cross_attn_v", targets[2], 2, 1.0f),            // kohya, original names
      kohya("blocks.1.ffn.0", targets[3], 4, 2.0f),                             // original, no prefix
      kohya("lora_unet_blocks_0_attn2_to_out_0", targets[4], 2, std::nullopt),  // kohya, diffusers names
      peft("diffusion_model.head.head", targets[5], 2, 1.0f),                   // top-level, original
      peft("model.diffusion_model.text_embedding.0", targets[6], 2, 4.0f),
      module("base_model.model.blocks.1.attn1.to_out.0", ".lora.down.weight", ".lora.up.weight", rows(targets[7]),
             cols(targets[7]), 3, std::nullopt)};
  const WeightSource lora = WeightSource::open(write("wan.safetensors", ms));
  expect_all_merged(wan_lora_patches(lora, *model, 0.8f), ms, targets, 0.8f);

  // The patched model's forward is the forward of the checkpoint merged here (W + s·(alpha/rank)·B·A in double).
  const WeightPatches patches = wan_lora_patches(lora, *model, 0.8f);
  std::vector<std::pair<std::string, HostTensor>> merged;
  for (const std::string& n : model->names()) merged.emplace_back(n, HostTensor::from_f32(model->info(n).shape, model->load(n).to_f32()));
  for (size_t i = 0; i < ms.size(); ++i) {
    auto& w = std::find_if(merged.begin(), merged.end(), [&](const auto& e) { return e.first == targets[i]; })->second;
    std::vector<float> v = w.to_f32();
    const auto a = ms[i].down.to_f32(), b = ms[i].up.to_f32();
    const int64_t out = w.shape[0], in = w.shape[1], rank = ms[i].down.shape[0];
    const double scale = 0.8 * (ms[i].alpha_key.empty() ? 1.0 : ms[i].alpha / static_cast<double>(rank));
    for (int64_t o = 0; o < out; ++o)
      for (int64_t c = 0; c < in; ++c) {
        double d = 0;
        for (int64_t k = 0; k < rank; ++k) d += double(b[size_t(o * rank + k)]) * a[size_t(k * in + c)];
        v[size_t(o * in + c)] = static_cast<float>(v[size_t(o * in + c)] + scale * d);
      }
    w = HostTensor::from_f32(w.shape, v);
  }
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : merged) list.emplace_back(n, &t);
  fs::create_directories(dir / "wan_merged");
  write_safetensors(dir / "wan_merged" / "diffusion_pytorch_model.safetensors", list);
  fs::copy_file(dir / "wan" / "transformer" / "config.json", dir / "wan_merged" / "config.json");
  const WeightSource merged_source = WeightSource::open(dir / "wan_merged");

  gpu::Context& ctx = env.get<GpuService>()->context();
  const WanConfig c = detect_wan_config(*model);
  DeviceWeights patched_w(*model, ctx, std::make_shared<WeightPatches>(patches)), merged_w(merged_source, ctx), base_w(*model, ctx);
  WanTransformer patched(c, patched_w), by_hand(c, merged_w), base(c, base_w);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(c.in_channels * 2 * 4 * 4)), txt(static_cast<size_t>(5 * c.text_dim));
  for (float& v : x) v = nd(rng);
  for (float& v : txt) v = nd(rng);
  const gpu::Tensor xt = gpu::Tensor::from_floats(ctx, x, {1, c.in_channels, 2, 4, 4});
  const gpu::Tensor tt = gpu::Tensor::from_floats(ctx, txt, {1, 5, c.text_dim});
  gpu::CommandStream s(ctx);
  const gpu::Tensor yp = patched.forward(s, xt, {500.0f}, tt), ym = by_hand.forward(s, xt, {500.0f}, tt), yb = base.forward(s, xt, {500.0f}, tt);
  s.finish();
  const auto p = yp.to_floats(), m = ym.to_floats(), b0 = yb.to_floats();
  EXPECT_TRUE(test::within_tolerance(p, m));
  float change = 0;
  for (size_t i = 0; i < m.size(); ++i) change = std::max(change, std::fabs(m[i] - b0[i]));
  EXPECT_GT(change, 1e-2f);  // the LoRA changed the output
}

TEST_F(VideoLora, LtxKeysOfEveryConventionMergeIntoTheDiffusersMatrices) {
  use("ltx");
  const std::vector<std::string> targets = {"transformer_blocks.0.attn1.to_q.weight", "transformer_blocks.1.ff.net.0.proj.weight",
                                            "proj_in.weight", "time_embed.linear.weight", "transformer_blocks.0.attn2.to_k.weight",
                                            "caption_projection.linear_1.weight"};
  const std::vector<TestModule> ms = {
      peft("transformer.transformer_blocks.0.attn1.to_q", targets[0], 2, std::nullopt),  // diffusers / PEFT
      peft("diffusion_model.transformer_blocks.1.ff.net.0.proj", targets[1], 3, 1.5f),   // ComfyUI
      peft("diffusion_model.patchify_proj", targets[2], 2, 2.0f),                        // Lightricks names
      kohya("adaln_single.linear", targets[3], 2, std::nullopt),
      kohya("lora_unet_transformer_blocks_0_attn2_to_k", targets[4], 4, 4.0f),           // kohya
      kohya("lora_unet_caption_projection_linear_1", targets[5], 2, 1.0f)};
  const WeightSource lora = WeightSource::open(write("ltx.safetensors", ms));
  expect_all_merged(ltx_lora_patches(lora, *model, -0.6f), ms, targets, -0.6f);
}

TEST_F(VideoLora, ForeignOrMisshapenLorasAreRefusedNamingTheModel) {
  use("wan");
  const std::string q = "blocks.0.attn1.to_q.weight";
  // A FLUX LoRA on Wan: no such modules.
  const WeightSource flux = WeightSource::open(
      write("flux.safetensors", {module("transformer.transformer_blocks.0.attn.to_q", ".lora_A.weight", ".lora_B.weight", 8, 8, 2, 1.0f)}));
  try {
    wan_lora_patches(flux, *model, 1.0f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("match no Wan 2.1 transformer weight"), std::string::npos) << e.what();
  }
  // Original-layout name, wrong width.
  const WeightSource bad = WeightSource::open(
      write("bad.safetensors", {module("diffusion_model.blocks.0.self_attn.q", ".lora_A.weight", ".lora_B.weight", rows(q), cols(q) + 1, 2, 1.0f)}));
  try {
    wan_lora_patches(bad, *model, 1.0f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + q + "'"), std::string::npos) << e.what();
  }
  use("ltx");
  try {
    ltx_lora_patches(flux, *model, 1.0f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("match no LTX-Video transformer weight"), std::string::npos) << e.what();
  }
}

// lora.apply between the loader and the sampler of each video model: strength 0 is the base model exactly, a
// non-zero strength changes the latents, and a strength change re-runs only the LoRA and the sampler.
TEST_F(VideoLora, StrengthIsAParameterOfWanAndLtxGraphs) {
  for (const std::string name : {"wan", "ltx"}) {
    SCOPED_TRACE(name);
    use(name);
    const std::string q = name == "wan" ? "blocks.0.attn1.to_q.weight" : "transformer_blocks.0.attn1.to_q.weight";
    const std::string ff = name == "wan" ? "blocks.1.ffn.net.0.proj.weight" : "transformer_blocks.1.ff.net.0.proj.weight";
    write(name + "_style.safetensors", {peft("diffusion_model." + q.substr(0, q.size() - 7), q, 4, 4.0f),
                                        peft("diffusion_model." + ff.substr(0, ff.size() - 7), ff, 4, 4.0f)});
    const std::string sample = name == "wan"
        ? R"({"id": "sample", "type": "wan.sample", "params": {"width": 32, "height": 32, "num_frames": 5, "steps": 2, "guidance": 1.0, "seed": 4},)"
        : R"({"id": "sample", "type": "ltx.sample", "params": {"width": 64, "height": 64, "num_frames": 9, "steps": 2, "guidance": 1.0, "seed": 4},)";
    const std::string json = R"({"lattice": 1, "nodes": [
      {"id": "inputs", "type": "tensor.load", "params": {"path": ")" + name + R"(_inputs.safetensors"}},
      {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
      {"id": "dit", "type": ")" + name + R"(.load_transformer", "params": {"path": ")" + name + R"("}},
      {"id": "lora", "type": "lora.apply", "params": {"path": ")" + name + R"(_style.safetensors", "strength": 1.0},
       "inputs": {"dit": {"node": "dit", "output": "dit"}}},
      )" + sample + R"(
       "inputs": {"dit": {"node": "lora", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"}}}]})";
    Graph g = parse_graph(json);
    MemoryCache mem;
    Engine e(&mem);
    auto latent = [&](Engine& en, const Graph& gr) {
      return std::dynamic_pointer_cast<const TensorValue>(en.evaluate(gr, "sample", "latent", opts))->host().to_f32();
    };
    const auto with_lora = latent(e, g);
    g.find("lora")->params["strength"] = 0.0;
    const auto zero = latent(e, g);
    Graph base = parse_graph(json);
    base.find("sample")->inputs["dit"].node = "dit";
    MemoryCache mem2;
    Engine e2(&mem2);
    const auto plain = latent(e2, base);
    expect_strength_behaviour(e, g, opts, with_lora, zero, plain, {"lora", "sample"});
  }
}

}  // namespace
}  // namespace lattice
