// LyCORIS LoHa and LoKr, full differences (.diff), bias changes (.diff_b, PEFT .lora_B.bias) and plain LoRAs on
// the tiny FLUX (bf16, so merged row by row into 16-bit matrices), Wan 2.1 and LTX-Video transformers (f32), in
// every key convention each model takes. Each expected tensor is W + strength·ΔW with ΔW computed here in double
// from the definitions (products, element-wise products, Kronecker products by index), independently of the
// row-wise merge; Tucker factors of a convolution and DoRA decompositions likewise against references in double;
// malformed adapters and FLUX control LoRAs fail naming the file and the key.
#include <gtest/gtest.h>
#include "tests/support/tolerance.h"

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
    model = std::make_shared<WeightSource>(WeightSource::open(dir / "flux"));
  }
  void use_video(const std::string& name) {
    const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / (name + "_transformer.safetensors"));
    test::write_fixture_component(fx, "weights.", fx.config(), dir / name / "transformer");
    model = std::make_shared<WeightSource>(WeightSource::open(dir / name, "transformer"));
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

  // Σ_j t[i, j, k]·b[j, c] as [I, C·K] (column c·K + k), t [I, J, K], b [J, C], in double.
  static Dense tucker(const std::vector<float>& t, const std::vector<float>& b, int64_t I, int64_t J, int64_t K, int64_t C) {
    Dense out(size_t(I * C * K), 0.0);
    for (int64_t i = 0; i < I; ++i)
      for (int64_t j = 0; j < J; ++j)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < K; ++k) out[size_t((i * C + c) * K + k)] += double(t[size_t((i * J + j) * K + k)]) * b[size_t(j * C + c)];
    return out;
  }
  // aᵀ·m for a [r, n] and m [r, cols] (double): [n, cols].
  static Dense at_times(const std::vector<float>& a, const Dense& m, int64_t r, int64_t n, int64_t cols) {
    Dense out(size_t(n * cols), 0.0);
    for (int64_t k = 0; k < r; ++k)
      for (int64_t o = 0; o < n; ++o)
        for (int64_t c = 0; c < cols; ++c) out[size_t(o * cols + c)] += double(a[size_t(k * n + o)]) * m[size_t(k * cols + c)];
    return out;
  }
  // Tucker-factored modules of the convolution `target` [out, in, kernel...] (K = Π kernel), rank 2, alpha 3:
  // "lora" LoCon (up, mid, down), "loha" (hada_t1/t2), "lokr" (w1 full [2, 2], w2 from lokr_t2).
  Case tucker_case(const std::string& stem, const std::string& target, const std::string& kind) {
    const std::vector<int64_t> shape = model->info(target).shape;
    std::vector<int64_t> kernel(shape.begin() + 2, shape.end()), ones(shape.size() - 2, 1);
    const int64_t out = shape[0], in = shape[1], K = cols(target) / in, r = 2;
    auto with = [](std::vector<int64_t> head, const std::vector<int64_t>& tail) {
      head.insert(head.end(), tail.begin(), tail.end());
      return head;
    };
    Case c;
    c.targets = {target};
    c.rows = out;
    c.cols = in * K;
    std::vector<float> a, b, t, a2, b2, t2;
    if (kind == "lora") {
      c.tensors.emplace_back(stem + ".lora_up.weight", random(with({out, r}, ones), a));
      c.tensors.emplace_back(stem + ".lora_mid.weight", random(with({r, r}, kernel), t));
      c.tensors.emplace_back(stem + ".lora_down.weight", random(with({r, in}, ones), b));
      const Dense core = tucker(t, b, r, r, K, in);  // [r, in·K]
      c.delta.assign(size_t(out * c.cols), 0.0);
      for (int64_t o = 0; o < out; ++o)
        for (int64_t m = 0; m < r; ++m)
          for (int64_t x = 0; x < c.cols; ++x) c.delta[size_t(o * c.cols + x)] += double(a[size_t(o * r + m)]) * core[size_t(m * c.cols + x)];
    } else if (kind == "loha") {
      c.tensors.emplace_back(stem + ".hada_w1_a", random({r, out}, a));
      c.tensors.emplace_back(stem + ".hada_w1_b", random({r, in}, b));
      c.tensors.emplace_back(stem + ".hada_t1", random(with({r, r}, kernel), t));
      c.tensors.emplace_back(stem + ".hada_w2_a", random({r, out}, a2));
      c.tensors.emplace_back(stem + ".hada_w2_b", random({r, in}, b2));
      c.tensors.emplace_back(stem + ".hada_t2", random(with({r, r}, kernel), t2));
      const Dense m1 = at_times(a, tucker(t, b, r, r, K, in), r, out, c.cols), m2 = at_times(a2, tucker(t2, b2, r, r, K, in), r, out, c.cols);
      c.delta.resize(m1.size());
      for (size_t i = 0; i < m1.size(); ++i) c.delta[i] = m1[i] * m2[i];
    } else {
      EXPECT_EQ(out % 2, 0);
      EXPECT_EQ(in % 2, 0);
      const int64_t o2 = out / 2, i2 = in / 2, c2 = i2 * K;
      c.tensors.emplace_back(stem + ".lokr_w1", random({2, 2}, a));
      c.tensors.emplace_back(stem + ".lokr_w2_a", random({r, o2}, a2));
      c.tensors.emplace_back(stem + ".lokr_w2_b", random({r, i2}, b2));
      c.tensors.emplace_back(stem + ".lokr_t2", random(with({r, r}, kernel), t2));
      const Dense w2 = at_times(a2, tucker(t2, b2, r, r, K, i2), r, o2, c2);  // [out/2, in/2·K]
      c.delta.assign(size_t(out * c.cols), 0.0);
      // kron(w1[:, :, 1...], w2) flattened: row p·o2 + q, column (j·i2 + l)·K + k = j·c2 + (l·K + k).
      for (int64_t p = 0; p < 2; ++p)
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t q = 0; q < o2; ++q)
            for (int64_t x = 0; x < c2; ++x) c.delta[size_t((p * o2 + q) * c.cols + j * c2 + x)] = a[size_t(p * 2 + j)] * w2[size_t(q * c2 + x)];
    }
    add_alpha(c, stem, 3.0f);
    for (double& v : c.delta) v *= 3.0 / r;
    return c;
  }

  // Adds a DoRA magnitude under `key` (one positive value per row of the case when `per_row`, else [1, channels]
  // of its first target) and returns it.
  std::vector<float> add_magnitude(Case& c, const std::string& key, bool per_row, bool vector = false) {
    std::uniform_real_distribution<float> pos(0.5f, 2.0f);
    const int64_t channels = model->info(c.targets[0]).shape[1];
    std::vector<int64_t> shape = per_row ? (vector ? std::vector<int64_t>{c.rows} : std::vector<int64_t>{c.rows, 1})
                                         : std::vector<int64_t>{1, channels};
    std::vector<float> m(size_t(per_row ? c.rows : channels));
    for (float& x : m) x = pos(rng);
    c.tensors.emplace_back(key, HostTensor::from_f32(shape, m));
    return m;
  }

  // The targets of a DoRA case as the device holds them against its decomposition in double over the targets'
  // rows stacked (in ΔW's order: rotated when the case swaps halves).
  void expect_dora(const WeightPatches& patches, const Case& c, const std::vector<float>& m, bool per_row, float strength) {
    std::vector<double> w(size_t(c.rows * c.cols));
    std::vector<std::pair<std::string, int64_t>> where;  // target, first ΔW row
    int64_t row0 = 0;
    bool half = false;
    for (const auto& target : c.targets) {
      const auto v = model->load(target).to_f32();
      half = half || model->info(target).dtype == DType::BF16;
      for (int64_t o = 0; o < rows(target); ++o) {
        const int64_t r = c.swap ? (o + c.rows / 2) % c.rows : row0 + o;
        std::copy_n(v.begin() + o * c.cols, c.cols, w.begin() + r * c.cols);
      }
      row0 += rows(target);
    }
    const int64_t group = per_row ? 0 : c.cols / int64_t(m.size());
    const Dense want = test::dora_merge(w, c.delta, m, c.rows, c.cols, group, strength);
    DeviceWeights dw(*model, env.get<GpuService>()->context(), std::make_shared<WeightPatches>(patches));
    row0 = 0;
    for (const auto& target : c.targets) {
      SCOPED_TRACE(target + " from " + c.tensors[0].first);
      const auto got = model->info(target).shape.size() == 2 ? dw.matrix(target).to_floats() : dw.f32(target).to_floats();
      double max_err = 0, change = 0;
      for (int64_t o = 0; o < rows(target); ++o) {
        const int64_t r = c.swap ? (o + c.rows / 2) % c.rows : row0 + o;
        for (int64_t i = 0; i < c.cols; ++i) {
          const double x = want[size_t(r * c.cols + i)], tol = half ? std::fabs(x) / 128 + 1e-6 : 1e-5 * std::max(1.0, std::fabs(x));
          max_err = std::max(max_err, std::fabs(got[size_t(o * c.cols + i)] - x) / tol);
          change = std::max(change, std::fabs(x - w[size_t(r * c.cols + i)]));
        }
      }
      EXPECT_LE(max_err, 1.0);
      EXPECT_GT(change, 1e-2);
      row0 += rows(target);
    }
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
  std::shared_ptr<WeightSource> model;
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
  expect_merged(apply_flux_lora(lora, model, nullptr, 0.7f).patches, cases, 0.7f);
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

// LyCORIS Tucker factors (LoCon lora_mid, LoHa hada_t1/t2, LoKr lokr_t2) on Wan's convolution, the one layer of
// these models they are made for: each module alone, in the original-layout, kohya and diffusers conventions.
TEST_F(LoraFormats, TuckerFactorsOfTheWanPatchEmbedding) {
  use_video("wan");
  for (const auto& [stem, kind] : {std::pair{"diffusion_model.patch_embedding", "lora"}, std::pair{"lora_unet_patch_embedding", "loha"},
                                   std::pair{"transformer.patch_embedding", "lokr"}}) {
    SCOPED_TRACE(kind);
    const std::vector<Case> cases = {tucker_case(stem, "patch_embedding.weight", kind)};
    const WeightSource lora = WeightSource::open(write(std::string(kind) + "_tucker.safetensors", cases));
    expect_merged(wan_lora_patches(lora, *model, 0.6f), cases, 0.6f);
  }
}

// DoRA on the tiny FLUX (bf16: merged row by row into 16-bit matrices): a kohya fused qkv with one magnitude per
// row, split over to_q/to_k/to_v; the swapped-halves final modulation with one per input channel; a LoKr with a
// per-row 1-D magnitude; a LoKr over the fused txt qkv with one per row. Each module in its own file, at strengths 1 and 0.6.
TEST_F(LoraFormats, FluxDoraDecomposesRowByRow) {
  use_flux();
  for (const float strength : {1.0f, 0.6f}) {
    Case qkv = loha("lora_unet_double_blocks_0_img_attn_qkv", {kB0 + "attn.to_q.weight", kB0 + "attn.to_k.weight", kB0 + "attn.to_v.weight"}, 4, 3, 2.0f);
    const auto m1 = add_magnitude(qkv, "lora_unet_double_blocks_0_img_attn_qkv.dora_scale", true);
    Case out = lora("diffusion_model.final_layer.adaLN_modulation.1", {"norm_out.linear.weight"}, 2, 1.0f);
    out.swap = true;
    const auto m2 = add_magnitude(out, "diffusion_model.final_layer.adaLN_modulation.1.dora_scale", false);
    Case lokr_case = lokr("transformer." + kB0 + "attn.to_out.0", {kB0 + "attn.to_out.0.weight"}, 16, 2, 2, 3, 3.0f);
    const auto m3 = add_magnitude(lokr_case, "transformer." + kB0 + "attn.to_out.0.lora_magnitude_vector", true, true);
    // A LoKr over the fused txt qkv: its Kronecker rows are split by offset, the magnitude stays whole.
    Case txt = lokr("lora_unet_double_blocks_0_txt_attn_qkv",
                    {kB0 + "attn.add_q_proj.weight", kB0 + "attn.add_k_proj.weight", kB0 + "attn.add_v_proj.weight"}, 8, 4, 0, 3, 6.0f);
    const auto m4 = add_magnitude(txt, "lora_unet_double_blocks_0_txt_attn_qkv.dora_scale", true);
    for (const auto& [c, m, per_row] : {std::tuple{&qkv, &m1, true}, std::tuple{&out, &m2, false}, std::tuple{&lokr_case, &m3, true},
                                        std::tuple{&txt, &m4, true}}) {
      const WeightSource file = WeightSource::open(write("dora.safetensors", {*c}));
      expect_dora(apply_flux_lora(file, model, nullptr, strength).patches, *c, *m, per_row, strength);
    }
  }
}

// DoRA on the f32 Wan transformer: PEFT lora_magnitude_vector per row, a LoHa with LyCORIS' per-channel dora_scale.
TEST_F(LoraFormats, WanDoraDecomposes) {
  use_video("wan");
  Case a = lora("base_model.model.blocks.0.attn1.to_q", {"blocks.0.attn1.to_q.weight"}, 2, 4.0f);
  const auto ma = add_magnitude(a, "base_model.model.blocks.0.attn1.to_q.lora_magnitude_vector.weight", true, true);
  Case b = loha("diffusion_model.blocks.0.ffn.0", {"blocks.0.ffn.net.0.proj.weight"}, 2, 2, std::nullopt);
  const auto mb = add_magnitude(b, "diffusion_model.blocks.0.ffn.0.dora_scale", false);
  for (const auto& [c, m, per_row] : {std::tuple{&a, &ma, true}, std::tuple{&b, &mb, false}}) {
    const WeightSource file = WeightSource::open(write("dora.safetensors", {*c}));
    expect_dora(wan_lora_patches(file, *model, -0.7f), *c, *m, per_row, -0.7f);
  }
}

// tests/golden/lora_formats.safetensors (tools/make_lora_formats_fixture.py): the merge torch computed from the
// formats' definitions, for LoHa, LoKr (each factor full or a product), .diff, .diff_b, a PEFT bias, a
// convolution LoRA, Tucker-factored LoCon/LoHa/LoKr convolutions and DoRA (per row and per input channel, as
// ComfyUI's weight_decompose applies strength) on a model with Wan 2.1 names.
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
  model = std::make_shared<WeightSource>(WeightSource::open(dir / "model.safetensors"));
  const WeightSource lora = WeightSource::open(dir / "lora.safetensors");
  const float strength = fx.run().at("strength").get<float>();
  DeviceWeights dw(*model, env.get<GpuService>()->context(), std::make_shared<WeightPatches>(wan_lora_patches(lora, *model, strength)));
  const auto outputs = fx.output_names();
  ASSERT_EQ(outputs.size(), 16u);
  for (const std::string& out : outputs) {
    const std::string name = out.substr(7);
    SCOPED_TRACE(name);
    const std::vector<float> want = fx.f32(out), base = model->load(name).to_f32();
    const std::vector<float> got = model->info(name).shape.size() == 2 ? dw.matrix(name).to_floats() : dw.f32(name).to_floats();
    EXPECT_TRUE(test::within_tolerance(got, want));
    float change = 0;
    for (size_t i = 0; i < want.size(); ++i) change = std::max(change, std::fabs(want[i] - base[i]));
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
  // Formats mixed in one module, two tensors for one role, a non-scalar alpha.
  expect_refused(*model, file, {{m + ".diff", z({32, 32})}, {m + ".lokr_w1", z({4, 4})}, {m + ".lokr_w2", z({8, 8})}}, "mixes formats");
  // DoRA: a magnitude of neither one value per row nor per input channel; one beside a full difference only;
  // a per-channel one on a module whose rows are split over several layers (FLUX fused qkv, below).
  expect_refused(*model, file, {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".dora_scale", z({1, 16})}},
                 "'" + m + ".dora_scale' [1, 16]");
  expect_refused(*model, file, {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".dora_scale", z({16, 2})}},
                 "'" + m + ".dora_scale'");
  expect_refused(*model, file, {{m + ".diff", z({32, 32})}, {m + ".dora_scale", z({32, 1})}}, "'" + m + ".dora_scale' but no LoRA");
  expect_refused(*model, file,
                 {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".dora_scale", z({32, 1})}, {m + ".wd_for_diff", z({})}},
                 "'" + m + ".wd_for_diff'");
  // Tucker: a core without its factors; a core beside a full w2; a core of the wrong ranks; a 2-D core.
  const std::string pe = "diffusion_model.patch_embedding";  // [32, 16, 1, 2, 2]
  expect_refused(*model, file, {{pe + ".lokr_w1", z({2, 2})}, {pe + ".lokr_w2", z({16, 32})}, {pe + ".lokr_t2", z({2, 2, 1, 2, 2})}},
                 "'" + pe + ".lokr_t2'");
  expect_refused(*model, file, {{pe + ".diff", z({32, 16, 1, 2, 2})}, {pe + ".lora_mid.weight", z({2, 2, 1, 2, 2})}},
                 "'" + pe + ".lora_mid.weight' but not the factors");
  expect_refused(*model, file,
                 {{pe + ".lora_up.weight", z({32, 2, 1, 1, 1})}, {pe + ".lora_down.weight", z({2, 16, 1, 1, 1})}, {pe + ".lora_mid.weight", z({3, 2, 1, 2, 2})}},
                 "'" + pe + ".lora_mid.weight' [3, 2, 1, 2, 2]");
  expect_refused(*model, file,
                 {{pe + ".hada_w1_a", z({2, 32})}, {pe + ".hada_w1_b", z({2, 16})}, {pe + ".hada_t1", z({2, 2})}, {pe + ".hada_w2_a", z({2, 32})},
                  {pe + ".hada_w2_b", z({2, 16})}, {pe + ".hada_t2", z({2, 2, 1, 2, 2})}},
                 "'" + pe + ".hada_t1' [2, 2]");
  expect_refused(*model, file, {{m + ".diff", z({32, 32})}, {m + ".w_norm", z({32, 32})}}, "'" + m + ".w_norm'");
  expect_refused(*model, file, {{m + ".lora_A.weight", z({2, 32})}, {m + ".lora_B.weight", z({32, 2})}, {m + ".alpha", z({2})}},
                 "'" + m + ".alpha' should be a scalar");
}

// FLUX: a per-channel DoRA magnitude on the fused qkv (its norm would span three layers); a norm scale of the wrong
// size (control LoRAs themselves: tests/nodes/models/flux/control_test.cpp).
TEST_F(LoraFormats, FluxSplitChannelDoraAndWrongNormScalesAreRefused) {
  use_flux();
  auto z = [](std::vector<int64_t> shape) {
    return HostTensor::from_f32(shape, std::vector<float>(size_t(HostTensor{DType::F32, shape, {}}.numel()), 0.5f));
  };
  auto refused = [&](const std::vector<std::pair<std::string, HostTensor>>& tensors, const std::vector<std::string>& needles) {
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [k, t] : tensors) list.emplace_back(k, &t);
    write_safetensors(dir / "bad.safetensors", list);
    const WeightSource lora = WeightSource::open(dir / "bad.safetensors");
    try {
      (void)apply_flux_lora(lora, model, nullptr, 1.0f);
      ADD_FAILURE() << "no error for " << needles[0];
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      const std::string m = e.what();
      EXPECT_NE(m.find((dir / "bad.safetensors").string()), std::string::npos) << m;
      for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << m;
    }
  };
  const int64_t q = rows(kB0 + "attn.to_q.weight");
  const std::string s = "lora_unet_double_blocks_0_img_attn_qkv";
  refused({{s + ".lora_down.weight", z({2, cols(kB0 + "attn.to_q.weight")})}, {s + ".lora_up.weight", z({3 * q, 2})},
           {s + ".dora_scale", z({1, cols(kB0 + "attn.to_q.weight")})}},
          {"'" + s + ".dora_scale'", "split over"});
  // A norm scale of the wrong size is refused naming both shapes.
  const int64_t head = model->info(kS0 + "attn.norm_k.weight").shape[0];
  refused({{"transformer.transformer_blocks.0.attn.norm_k.weight", z({head / 2})}},
          {"'transformer.transformer_blocks.0.attn.norm_k.weight' [" + std::to_string(head / 2) + "] should replace 'transformer_blocks.0.attn.norm_k.weight' [" +
           std::to_string(head) + "]"});
}

}  // namespace
}  // namespace lattice
