// LoRA on the tiny FLUX of the pipeline fixture: files in the diffusers, kohya and BFL conventions, merged
// weights checked against W + s·(alpha/rank)·B·A computed here, strength 0 is the base model, a strength
// change re-runs only lora.apply and what follows, and wrong files fail naming what is wrong.
#include <gtest/gtest.h>

#include "tests/support/tiny_models.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/lora.h"

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
    model = std::make_unique<WeightSource>(WeightSource::open(dir / "tiny-flux", "transformer"));
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

  fs::path dir;
  std::unique_ptr<WeightSource> model;
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
  auto patches = std::make_shared<WeightPatches>(flux_lora_patches(lora, *model, 0.7f));
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
  auto patches = std::make_shared<WeightPatches>(flux_lora_patches(lora, *model, -1.5f));
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
  auto patches = std::make_shared<WeightPatches>(flux_lora_patches(lora, *model, 1.0f));
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
  ASSERT_EQ(zero.size(), plain.size());
  EXPECT_EQ(zero, plain);
  double diff = 0;
  for (size_t i = 0; i < plain.size(); ++i) diff = std::max(diff, double(std::fabs(plain[i] - with_lora[i])));
  EXPECT_GT(diff, 1e-3);

  // A strength change re-runs the LoRA and what follows it, nothing upstream or beside it.
  g.find("lora")->params["strength"] = 0.5;
  auto r = e.render(g, opts);
  g.find("lora")->params["strength"] = 0.25;
  r = e.render(g, opts);
  for (const auto& n : r.nodes) {
    const bool reran = n.id == "lora" || n.id == "sample" || n.id == "decode" || n.id == "save";
    EXPECT_EQ(n.status, reran ? "executed" : "cached") << n.id;
  }
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
  }
}

}  // namespace
}  // namespace lattice
