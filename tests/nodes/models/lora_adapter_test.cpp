// LyCORIS LoHa and LoKr, full differences (.diff), bias changes (.diff_b, PEFT .lora_B.bias) and plain LoRAs on
// the tiny FLUX (bf16, so merged row by row into 16-bit matrices), Wan 2.1 and LTX-Video transformers (f32), in
// every key convention each model takes. Each expected tensor is W + strength·ΔW with ΔW computed here in double
// from the definitions (products, element-wise products, Kronecker products by index), independently of the
// row-wise merge; malformed adapters fail naming the file and the key.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "tests/support/dense_product.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/lora.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using Dense = std::vector<double>;
using test::dense_product;  // row-major

// One module as written to the file and what it should do: ΔW [rows, cols] (alpha/rank included, strength not)
// lands on `targets` in row order, or on one target with its halves swapped.
struct Case {
  std::vector<std::pair<std::string, HostTensor>> tensors;
  Dense delta;
  int64_t rows = 0, cols = 0;
  std::vector<std::string> targets;
  bool swap = false;
};

class LoraFormats : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_lora_formats_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    env.set(std::make_shared<GpuService>());
  }
  void TearDown() override { fs::remove_all(dir); }

  void use_flux() {
    test::write_random_flux(dir / "flux", 1, 1, 2);
    model = std::make_unique<WeightSource>(WeightSource::open(dir / "flux"));
  }
  void use_video(const std::string& name) {
    const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / (name + "_transformer.safetensors"));
    test::write_fixture_component(fx, "weights.", fx.config(), dir / name / "transformer");
    model = std::make_unique<WeightSource>(WeightSource::open(dir / name, "transformer"));
  }
  int64_t rows(const std::string& t) const { return matrix_view(model->info(t).shape).first; }
  int64_t cols(const std::string& t) const { return matrix_view(model->info(t).shape).second; }

  HostTensor random(std::vector<int64_t> shape, std::vector<float>& values) {
    std::normal_distribution<float> nd(0.0f, 0.5f);
    values.resize(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
    for (float& v : values) v = nd(rng);
    return HostTensor::from_f32(std::move(shape), values);
  }
  static void add_alpha(Case& c, const std::string& stem, float alpha) {
    c.tensors.emplace_back(stem + ".alpha", HostTensor::from_f32({}, {alpha}));
  }

  // LoRA: up [R, rank] · down [rank, C] (down_shape/up_shape override the shapes, for convolutions).
  Case lora(const std::string& stem, std::vector<std::string> targets, int64_t rank, std::optional<float> alpha,
            std::vector<int64_t> down_shape = {}, std::vector<int64_t> up_shape = {}) {
    Case c;
    c.targets = std::move(targets);
    for (const auto& t : c.targets) c.rows += rows(t);
    c.cols = cols(c.targets[0]);
    std::vector<float> u, d;
    c.tensors.emplace_back(stem + ".lora_A.weight", random(down_shape.empty() ? std::vector<int64_t>{rank, c.cols} : down_shape, d));
    c.tensors.emplace_back(stem + ".lora_B.weight", random(up_shape.empty() ? std::vector<int64_t>{c.rows, rank} : up_shape, u));
    c.delta = dense_product(u, d, c.rows, rank, c.cols);
    if (alpha) add_alpha(c, stem, *alpha);
    for (double& v : c.delta) v *= alpha ? *alpha / double(rank) : 1.0;
    return c;
  }
  // LoHa: (w1a·w1b) ⊙ (w2a·w2b) · alpha/r1.
  Case loha(const std::string& stem, std::vector<std::string> targets, int64_t r1, int64_t r2, std::optional<float> alpha) {
    Case c;
    c.targets = std::move(targets);
    for (const auto& t : c.targets) c.rows += rows(t);
    c.cols = cols(c.targets[0]);
    std::vector<float> w1a, w1b, w2a, w2b;
    c.tensors.emplace_back(stem + ".hada_w1_a", random({c.rows, r1}, w1a));
    c.tensors.emplace_back(stem + ".hada_w1_b", random({r1, c.cols}, w1b));
    c.tensors.emplace_back(stem + ".hada_w2_a", random({c.rows, r2}, w2a));
    c.tensors.emplace_back(stem + ".hada_w2_b", random({r2, c.cols}, w2b));
    const Dense m1 = dense_product(w1a, w1b, c.rows, r1, c.cols), m2 = dense_product(w2a, w2b, c.rows, r2, c.cols);
    c.delta.resize(m1.size());
    for (size_t i = 0; i < m1.size(); ++i) c.delta[i] = m1[i] * m2[i] * (alpha ? *alpha / double(r1) : 1.0);
    if (alpha) add_alpha(c, stem, *alpha);
    return c;
  }
  // LoKr: kron(w1 [p, q], w2 [R/p, C/q]), each full (rank 0) or a product of that rank; alpha divides w2's rank
  // when w2 is a product, else w1's, and is not applied when both are full.
  Case lokr(const std::string& stem, std::vector<std::string> targets, int64_t p, int64_t q, int64_t rank1, int64_t rank2,
            std::optional<float> alpha) {
    Case c;
    c.targets = std::move(targets);
    for (const auto& t : c.targets) c.rows += rows(t);
    c.cols = cols(c.targets[0]);
    const int64_t m = c.rows / p, n = c.cols / q;
    EXPECT_EQ(m * p, c.rows);
    EXPECT_EQ(n * q, c.cols);
    auto factor = [&](const std::string& w, int64_t r, int64_t k, int64_t rank) {
      std::vector<float> x, y;
      if (rank == 0) {
        c.tensors.emplace_back(stem + "." + w, random({r, k}, x));
        return Dense(x.begin(), x.end());
      }
      c.tensors.emplace_back(stem + "." + w + "_a", random({r, rank}, x));
      c.tensors.emplace_back(stem + "." + w + "_b", random({rank, k}, y));
      return dense_product(x, y, r, rank, k);
    };
    const Dense A = factor("lokr_w1", p, q, rank1), B = factor("lokr_w2", m, n, rank2);
    const int64_t rank = rank2 ? rank2 : rank1;
    const double scale = rank && alpha ? *alpha / double(rank) : 1.0;
    c.delta.assign(static_cast<size_t>(c.rows * c.cols), 0.0);
    for (int64_t i = 0; i < p; ++i)
      for (int64_t j = 0; j < q; ++j)
        for (int64_t k = 0; k < m; ++k)
          for (int64_t l = 0; l < n; ++l)
            c.delta[size_t((i * m + k) * c.cols + j * n + l)] = scale * A[size_t(i * q + j)] * B[size_t(k * n + l)];
    if (alpha) add_alpha(c, stem, *alpha);
    return c;
  }
  // A full difference `key` of the targets' shape (their rows stacked).
  Case full(const std::string& key, std::vector<std::string> targets) {
    Case c;
    c.targets = std::move(targets);
    std::vector<int64_t> shape = model->info(c.targets[0]).shape;
    for (const auto& t : c.targets) c.rows += rows(t);
    c.cols = cols(c.targets[0]);
    shape[0] = c.rows;
    std::vector<float> v;
    c.tensors.emplace_back(key, random(shape, v));
    c.delta.assign(v.begin(), v.end());
    return c;
  }

  fs::path write(const std::string& name, const std::vector<Case>& cases) {
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& c : cases)
      for (const auto& [k, t] : c.tensors) list.emplace_back(k, &t);
    write_safetensors(dir / name, list);
    return dir / name;
  }

  // Every target of every case, as the device holds it, against W + strength·ΔW[rows]; 16-bit tensors are
  // compared with the rounding of their dtype.
  void expect_merged(const WeightPatches& patches, const std::vector<Case>& cases, float strength) {
    DeviceWeights dw(*model, env.get<GpuService>()->context(), std::make_shared<WeightPatches>(patches));
    for (const auto& c : cases) {
      int64_t row0 = 0;
      for (const auto& target : c.targets) {
        SCOPED_TRACE(target + " from " + c.tensors[0].first);
        const TensorInfo& info = model->info(target);
        const bool half = info.dtype == DType::BF16 && info.shape.size() == 2;
        const auto got = info.shape.size() == 2 ? dw.matrix(target).to_floats() : dw.f32(target).to_floats();
        const auto w = model->load(target).to_f32();
        const int64_t out = rows(target), in = cols(target);
        ASSERT_EQ(got.size(), w.size());
        double max_err = 0, max_delta = 0;
        for (int64_t o = 0; o < out; ++o) {
          const int64_t r = c.swap ? (o + c.rows / 2) % c.rows : row0 + o;
          for (int64_t i = 0; i < in; ++i) {
            const double d = strength * c.delta[size_t(r * c.cols + i)], want = w[size_t(o * in + i)] + d;
            const double tol = half ? std::fabs(want) / 128 + 1e-6 : 1e-5 * std::max(1.0, std::fabs(want));
            max_err = std::max(max_err, std::fabs(got[size_t(o * in + i)] - want) / tol);
            max_delta = std::max(max_delta, std::fabs(d));
          }
        }
        EXPECT_LE(max_err, 1.0);     // within tolerance everywhere
        EXPECT_GT(max_delta, 1e-2);  // and the patch did change the tensor
        row0 += out;
      }
    }
  }

  fs::path dir;
  std::unique_ptr<WeightSource> model;
  std::mt19937 rng{99};
  Environment env;
};

const std::string kB0 = "transformer_blocks.0.", kS0 = "single_transformer_blocks.0.";

TEST_F(LoraFormats, FluxLohaLokrAndDifferencesInEveryConvention) {
  use_flux();
  const std::string q = kB0 + "attn.to_q.weight", k = kB0 + "attn.to_k.weight", v = kB0 + "attn.to_v.weight";
  const std::vector<std::string> linear1 = {kS0 + "attn.to_q.weight", kS0 + "attn.to_k.weight", kS0 + "attn.to_v.weight",
                                            kS0 + "proj_mlp.weight"};
  const std::string ff = kB0 + "ff.net.0.proj.weight", norm_out = "norm_out.linear.weight";
  std::vector<Case> cases = {
      // kohya, fused qkv split over three matrices: LoHa; LoKr whose 48-row blocks straddle the 128-row targets.
      loha("lora_unet_double_blocks_0_img_attn_qkv", {q, k, v}, 4, 3, 2.0f),
      lokr("lora_unet_double_blocks_0_txt_attn_qkv",
           {kB0 + "attn.add_q_proj.weight", kB0 + "attn.add_k_proj.weight", kB0 + "attn.add_v_proj.weight"}, 8, 4, 0, 3, 6.0f),
      // BFL / ComfyUI: LoKr with both factors full (alpha ignored) over the fused linear1; a swapped-halves LoHa.
      lokr("diffusion_model.single_blocks.0.linear1", linear1, 4, 8, 0, 0, 16.0f),
      loha("diffusion_model.final_layer.adaLN_modulation.1", {norm_out}, 2, 2, std::nullopt),
      // diffusers / PEFT: LoKr with both factors products; a full difference; LoRA with a PEFT bias.
      lokr("transformer." + kB0 + "attn.to_out.0", {kB0 + "attn.to_out.0.weight"}, 16, 2, 2, 3, 3.0f),
      full("transformer." + kB0 + "ff.net.2.diff", {kB0 + "ff.net.2.weight"}),
      lora("base_model.model." + kB0 + "ff.net.0.proj", {ff}, 2, 4.0f),
      // SimpleTuner's LyCORIS names (diffusers paths with underscores), and diffs of a norm and of biases.
      lokr("lycoris_single_transformer_blocks_0_proj_out", {kS0 + "proj_out.weight"}, 4, 4, 2, 0, 1.0f),
      full("transformer." + kB0 + "attn.norm_q.diff", {kB0 + "attn.norm_q.weight"}),
      full("diffusion_model.double_blocks.0.txt_attn.norm.key_norm.scale.diff", {kB0 + "attn.norm_added_k.weight"}),
      full("lora_unet_single_blocks_0_norm_query_norm_scale.diff", {kS0 + "attn.norm_q.weight"}),
      full("lora_unet_double_blocks_0_img_attn_qkv.diff_b", {kB0 + "attn.to_q.bias", kB0 + "attn.to_k.bias", kB0 + "attn.to_v.bias"}),
      full("diffusion_model.final_layer.adaLN_modulation.1.diff_b", {"norm_out.linear.bias"}),
  };
  cases[3].swap = cases.back().swap = true;
  // The PEFT bias of the LoRA on ff.net.0.proj is scaled like its matrix (alpha 4 / rank 2).
  Case bias = full("base_model.model." + kB0 + "ff.net.0.proj.lora_B.bias", {kB0 + "ff.net.0.proj.bias"});
  for (double& x : bias.delta) x *= 2.0;
  cases.push_back(bias);
  const WeightSource lora = WeightSource::open(write("flux.safetensors", cases));
  expect_merged(flux_lora_patches(lora, *model, 0.7f), cases, 0.7f);
}

TEST_F(LoraFormats, WanFormatsInEveryConvention) {
  use_video("wan");
  const std::vector<Case> cases = {
      loha("transformer.blocks.0.attn1.to_q", {"blocks.0.attn1.to_q.weight"}, 2, 3, 1.0f),            // diffusers / PEFT
      lokr("diffusion_model.blocks.0.self_attn.k", {"blocks.0.attn1.to_k.weight"}, 4, 2, 0, 2, 2.0f),  // ComfyUI, original
      lokr("lora_unet_blocks_0_ffn_0", {"blocks.0.ffn.net.0.proj.weight"}, 2, 4, 2, 2, 1.0f),          // kohya, original
      loha("lora_unet_blocks_0_attn2_to_v", {"blocks.0.attn2.to_v.weight"}, 3, 3, std::nullopt),       // kohya, diffusers
      full("diffusion_model.blocks.0.cross_attn.o.diff", {"blocks.0.attn2.to_out.0.weight"}),
      // The full differences Wan LoRAs carry on norms, modulation tables and biases (original names).
      full("diffusion_model.blocks.0.norm3.diff", {"blocks.0.norm2.weight"}),
      full("diffusion_model.blocks.0.self_attn.norm_q.diff", {"blocks.0.attn1.norm_q.weight"}),
      full("diffusion_model.blocks.0.modulation.diff", {"blocks.0.scale_shift_table"}),
      full("diffusion_model.head.modulation.diff", {"scale_shift_table"}),
      full("diffusion_model.head.head.diff_b", {"proj_out.bias"}),
      full("diffusion_model.blocks.0.ffn.2.diff_b", {"blocks.0.ffn.net.2.bias"}),
      // The patch embedding is a convolution [32, 16, 1, 2, 2]: a LoRA of its flattened kernel, and a full diff.
      lora("diffusion_model.patch_embedding", {"patch_embedding.weight"}, 2, 1.0f, {2, 16, 1, 2, 2}, {32, 2, 1, 1, 1}),
      full("diffusion_model.patch_embedding.diff_b", {"patch_embedding.bias"}),
  };
  const WeightSource lora = WeightSource::open(write("wan.safetensors", cases));
  expect_merged(wan_lora_patches(lora, *model, -0.8f), cases, -0.8f);
}

TEST_F(LoraFormats, LtxFormatsInEveryConvention) {
  use_video("ltx");
  const std::string b0 = "transformer_blocks.0.";
  const std::vector<Case> cases = {
      loha("transformer." + b0 + "attn1.to_q", {b0 + "attn1.to_q.weight"}, 2, 2, 4.0f),            // diffusers / PEFT
      lokr("diffusion_model.patchify_proj", {"proj_in.weight"}, 4, 4, 0, 2, 1.0f),                  // Lightricks names
      lokr("lora_unet_adaln_single_linear", {"time_embed.linear.weight"}, 6, 2, 0, 0, std::nullopt),  // kohya
      full("diffusion_model." + b0 + "attn1.q_norm.diff", {b0 + "attn1.norm_q.weight"}),
      full("diffusion_model.scale_shift_table.diff", {"scale_shift_table"}),
      full("lora_unet_transformer_blocks_0_ff_net_0_proj.diff_b", {b0 + "ff.net.0.proj.bias"}),
      full("diffusion_model." + b0 + "attn2.to_k.diff", {b0 + "attn2.to_k.weight"}),
  };
  const WeightSource lora = WeightSource::open(write("ltx.safetensors", cases));
  expect_merged(ltx_lora_patches(lora, *model, 1.3f), cases, 1.3f);
}

// tests/golden/lora_formats.safetensors (tools/make_lora_formats_fixture.py): the merge torch computed from the
// formats' definitions, for LoHa, LoKr (each factor full or a product), .diff, .diff_b, a PEFT bias and a
// convolution LoRA on a model with Wan 2.1 names.
TEST_F(LoraFormats, MergesAsTorchComputesThem) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/lora_formats.safetensors");
  std::vector<std::pair<std::string, HostTensor>> weights, adapter;
  for (const auto& t : fx.file().tensors()) {
    if (t.name.rfind("weights.", 0) == 0) weights.emplace_back(t.name.substr(8), fx.tensor(t.name));
    if (t.name.rfind("input.", 0) == 0) adapter.emplace_back(t.name.substr(6), fx.tensor(t.name));
  }
  auto save = [&](const fs::path& path, const std::vector<std::pair<std::string, HostTensor>>& ts) {
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [k, t] : ts) list.emplace_back(k, &t);
    write_safetensors(path, list);
  };
  save(dir / "model.safetensors", weights);
  save(dir / "lora.safetensors", adapter);
  model = std::make_unique<WeightSource>(WeightSource::open(dir / "model.safetensors"));
  const WeightSource lora = WeightSource::open(dir / "lora.safetensors");
  const float strength = fx.run().at("strength").get<float>();
  DeviceWeights dw(*model, env.get<GpuService>()->context(), std::make_shared<WeightPatches>(wan_lora_patches(lora, *model, strength)));
  const auto outputs = fx.output_names();
  ASSERT_EQ(outputs.size(), 9u);
  for (const std::string& out : outputs) {
    const std::string name = out.substr(7);
    SCOPED_TRACE(name);
    const std::vector<float> want = fx.f32(out), base = model->load(name).to_f32();
    const std::vector<float> got = model->info(name).shape.size() == 2 ? dw.matrix(name).to_floats() : dw.f32(name).to_floats();
    ASSERT_EQ(got.size(), want.size());
    float max_err = 0, max_ref = 0, change = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_err = std::max(max_err, std::fabs(got[i] - want[i]));
      max_ref = std::max(max_ref, std::fabs(want[i]));
      change = std::max(change, std::fabs(want[i] - base[i]));
    }
    EXPECT_LE(max_err, 1e-4f * std::max(1.0f, max_ref));
    EXPECT_GT(change, 1e-2f);
  }
}

// The error for a file holding `tensors`, which must be InvalidInput and name the file and `needle`.
void expect_refused(const WeightSource& model, const fs::path& file, const std::vector<std::pair<std::string, HostTensor>>& tensors,
                    const std::string& needle) {
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [k, t] : tensors) list.emplace_back(k, &t);
  write_safetensors(file, list);
  const WeightSource lora = WeightSource::open(file);
  try {
    wan_lora_patches(lora, model, 1.0f);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    const std::string m = e.what();
    EXPECT_NE(m.find(file.string()), std::string::npos) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << m;
  }
}

TEST_F(LoraFormats, MalformedAdaptersAreRefusedNamingFileAndKey) {
  use_video("wan");
  const fs::path file = dir / "bad.safetensors";
  auto z = [](std::vector<int64_t> shape) {
    return HostTensor::from_f32(shape, std::vector<float>(size_t(HostTensor{DType::F32, shape, {}}.numel()), 0.5f));
  };
  const std::string m = "diffusion_model.blocks.0.self_attn.q";  // attn1.to_q [32, 32]
  // LoHa missing a factor; inner dimensions that disagree; products of different shapes; Tucker factors.
  expect_refused(*model, file, {{m + ".hada_w1_a", z({32, 2})}, {m + ".hada_w1_b", z({2, 32})}, {m + ".hada_w2_a", z({32, 2})}},
                 "'" + m + ".hada_w2_b'");
  expect_refused(*model, file,
                 {{m + ".hada_w1_a", z({32, 2})}, {m + ".hada_w1_b", z({3, 32})}, {m + ".hada_w2_a", z({32, 2})}, {m + ".hada_w2_b", z({2, 32})}},
                 "'" + m + ".hada_w1_b' [3, 32]");
  expect_refused(*model, file,
                 {{m + ".hada_w1_a", z({32, 2})}, {m + ".hada_w1_b", z({2, 32})}, {m + ".hada_w2_a", z({16, 2})}, {m + ".hada_w2_b", z({2, 32})}},
                 "of different shapes");
  expect_refused(*model, file,
                 {{m + ".hada_w1_a", z({32, 2})}, {m + ".hada_w1_b", z({2, 32})}, {m + ".hada_w2_a", z({32, 2})}, {m + ".hada_w2_b", z({2, 32})},
                  {m + ".hada_t1", z({2, 2, 3, 3})}, {m + ".hada_t2", z({2, 2, 3, 3})}},
                 "'" + m + ".hada_t1'");
  // LoKr without w2; with w1 twice; a Kronecker product of the wrong size for the matrix.
  expect_refused(*model, file, {{m + ".lokr_w1", z({4, 4})}}, "lacks lokr_w2");
  expect_refused(*model, file, {{m + ".lokr_w1", z({4, 4})}, {m + ".lokr_w1_a", z({4, 2})}, {m + ".lokr_w2", z({8, 8})}}, "'" + m + ".lokr_w1'");
  expect_refused(*model, file, {{m + ".lokr_w1", z({4, 4})}, {m + ".lokr_w2", z({8, 4})}}, "'blocks.0.attn1.to_q.weight'");
  expect_refused(*model, file, {{m + ".lokr_w1", z({4, 4})}, {m + ".lokr_w2", z({4, 8})}}, "have 32 rows");
  // A diff of the wrong shape; a bias change for a layer without bias; a vector given low-rank factors.
  expect_refused(*model, file, {{m + ".diff", z({32, 16})}}, "'blocks.0.attn1.to_q.weight' [32, 32]");
  expect_refused(*model, file, {{"diffusion_model.blocks.0.modulation.diff_b", z({192})}}, "has none");
  expect_refused(*model, file, {{"diffusion_model.blocks.0.norm3.lora_A.weight", z({2, 1})}, {"diffusion_model.blocks.0.norm3.lora_B.weight", z({32, 2})}},
                 "a vector takes a .diff");
  // Formats mixed in one module, DoRA, two tensors for one role, a non-scalar alpha.
  expect_refused(*model, file, {{m + ".diff", z({32, 32})}, {m + ".lokr_w1", z({4, 4})}, {m + ".lokr_w2", z({8, 8})}}, "mixes formats");
  expect_refused(*model, file, {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".dora_scale", z({1, 32})}},
                 "'" + m + ".dora_scale'");
  expect_refused(*model, file, {{m + ".diff", z({32, 32})}, {m + ".w_norm", z({32, 32})}}, "'" + m + ".w_norm'");
  expect_refused(*model, file, {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".alpha", z({2})}},
                 "'" + m + ".alpha' should be a scalar");
}

}  // namespace
}  // namespace lattice
