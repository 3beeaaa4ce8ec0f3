// vae.encode through a graph on the golden FLUX VAE (written as a diffusers vae/ folder): with `sample` off the
// latent is the encoder's mean mapped as the DiT sees it, (mean - shift) * scale, by default a seeded sample of
// the encoder's distribution; under a small device buffer limit the
// node encodes in the largest tiles that fit, reports them, and gives exactly encode_tiled's latent; images
// whose sides are not multiples of the downscale are refused with a message saying so.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/document.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/types/image.h"
#include "gpu/ops/noise.h"
#include "nodes/models/fixture.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/render_info.h"
#include "tests/support/tiny_models.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class VaeEncodeNode : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_vae_encode_" + std::to_string(::getpid()));
    fs::remove_all(root);
    fx = std::make_unique<Fixture>(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_vae.safetensors");
    test::write_fixture_component(*fx, "weights.", fx->config(), root / "vae");
    opts.base_dir = root;
  }
  void TearDown() override { fs::remove_all(root); }

  // `encode_params`: the vae.encode node's params (the mean unless a test samples).
  static Graph graph(int width, int height, const std::string& encode_params = R"({"sample": false})") {
    return parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "vae", "type": "vae.load", "params": {"path": "vae"}},
      {"id": "img", "type": "image.gradient", "params": {"width": )" + std::to_string(width) + R"(, "height": )" +
                       std::to_string(height) + R"(, "direction": "radial", "start": [0.9, 0.2, 0.1, 1], "end": [0.1, 0.3, 0.8, 1]}},
      {"id": "encode", "type": "vae.encode", "params": )" + encode_params + R"(,
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "img", "output": "image"}}}]})");
  }

  // The latent vae.encode gives for the graph's image under `env`, with the report of its render.
  std::pair<std::vector<float>, RenderReport> encode(const Graph& g, Environment& env) {
    RenderOptions o = opts;
    o.env = &env;
    o.targets = {"encode"};
    MemoryCache mem;
    Engine e(&mem);
    const RenderReport r = e.render(g, o);
    auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "encode", "latent", o));
    EXPECT_TRUE(latent);
    return {latent ? latent->device(env.get<GpuService>()->context()).to_floats() : std::vector<float>{}, r};
  }

  // The same image encoded directly: encode_tiled(tile)'s mean in the DiT mapping, and its log-variance.
  std::pair<std::vector<float>, std::vector<float>> direct_moments(const Graph& g, Environment& env, int64_t tile, int64_t overlap) {
    RenderOptions o = opts;
    o.env = &env;
    MemoryCache mem;
    Engine e(&mem);
    auto img = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "img", "image", o));
    gpu::Context& ctx = env.get<GpuService>()->context();
    WeightSource src = WeightSource::open(root / "vae");
    DeviceWeights weights(src, ctx);
    const AutoencoderKL vae(detect_autoencoder_kl_config(src), weights);
    std::vector<float> x(static_cast<size_t>(3 * img->width * img->height));
    for (int k = 0; k < 3; ++k)
      for (int y = 0; y < img->height; ++y)
        for (int q = 0; q < img->width; ++q) x[(static_cast<size_t>(k) * img->height + y) * img->width + q] = img->at(q, y, k) * 2.0f - 1.0f;
    gpu::CommandStream s(ctx);
    const auto [mean, logvar] = vae.encode_tiled(s, gpu::Tensor::from_floats(ctx, x, {1, 3, img->height, img->width}), tile, overlap);
    const gpu::Tensor z = vae.to_dit_latent(s, mean);
    s.finish();
    return {z.to_floats(), logvar.to_floats()};
  }
  std::vector<float> direct(const Graph& g, Environment& env, int64_t tile, int64_t overlap) {
    return direct_moments(g, env, tile, overlap).first;
  }

  fs::path root;
  std::unique_ptr<Fixture> fx;
  RenderOptions opts;
};

TEST_F(VaeEncodeNode, EncodesWholeOrInTilesThatFitTheDevice) {
  const AutoencoderKLConfig c = autoencoder_kl_config_from_json(fx->config());
  const int64_t f = c.downscale(), h = 6, w = 7;
  const Graph g = graph(static_cast<int>(w * f), static_cast<int>(h * f));
  Environment env;
  env.set(std::make_shared<GpuService>());
  const auto [whole, r] = encode(g, env);
  EXPECT_FALSE(test::node_info(r, "encode").contains("auto_tile"));
  EXPECT_EQ(whole, direct(g, env, 0, 0));

  Environment small;
  small.set(test::gpu_with_buffer_limit(c.encode_peak_tensor_bytes(4, 4)));
  const auto [tiled, rs] = encode(g, small);
  EXPECT_EQ(test::node_info(rs, "encode").value("auto_tile", -1), 4);
  EXPECT_EQ(tiled, direct(g, env, 4, 3));
  EXPECT_NE(tiled, whole);

  // A device budget too small for the whole encode's working set (every layer's tensors until the pass is
  // submitted) tiles it the same way.
  Environment lean;
  auto lean_gpu = std::make_shared<GpuService>();
  lean_gpu->context().allocator().set_budget(2 * AutoencoderKLConfig::kWorkingSetFactor * c.encode_peak_tensor_bytes(4, 4));
  lean.set(lean_gpu);
  const auto [lean_tiled, rl] = encode(g, lean);
  EXPECT_EQ(test::node_info(rl, "encode").value("auto_tile", -1), 4);
  EXPECT_EQ(lean_tiled, tiled);
}

// By default vae.encode samples the latent as diffusers' FLUX img2img/control pipelines do: mean + std·n with
// n the node seed's counter-based noise at offset 2^44, drawn on the device. The same seed gives the same latent,
// another seed another; it matches a CPU reference of the same noise within the project tolerance, and the
// standardised difference from the mean latent is that noise, and looks N(0, 1).
TEST_F(VaeEncodeNode, SamplesTheLatentDistributionWithTheNodesSeed) {
  const AutoencoderKLConfig c = autoencoder_kl_config_from_json(fx->config());
  const int64_t f = c.downscale(), h = 16, w = 16;
  Environment env;
  env.set(std::make_shared<GpuService>());
  const Graph mean_graph = graph(static_cast<int>(w * f), static_cast<int>(h * f));
  const std::vector<float> mean = encode(mean_graph, env).first;
  const std::vector<float> a = encode(graph(static_cast<int>(w * f), static_cast<int>(h * f), R"({"seed": 7})"), env).first;
  const std::vector<float> b = encode(graph(static_cast<int>(w * f), static_cast<int>(h * f), R"({"seed": 7, "sample": true})"), env).first;
  const std::vector<float> other = encode(graph(static_cast<int>(w * f), static_cast<int>(h * f), R"({"seed": 8})"), env).first;
  ASSERT_EQ(a.size(), mean.size());
  EXPECT_EQ(a, b);  // sampling is the default, and deterministic for a seed
  EXPECT_NE(a, other);
  EXPECT_NE(a, mean);

  // The encoder's log-variance for the same image (and its mean, as the node gives it), and the seed's noise.
  const auto [direct_mean, logvar] = direct_moments(mean_graph, env, 0, 0);
  EXPECT_EQ(direct_mean, mean);
  std::vector<float> noise(a.size());
  gpu::normal_noise_cpu(7, uint64_t{1} << 44, noise);
  // The device's sample (noise drawn on the device, exp(logvar / 2) there) against the CPU reference of it.
  std::vector<float> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = mean[i] + c.scaling_factor * std::exp(0.5f * logvar[i]) * noise[i];
  EXPECT_TRUE(test::within_tolerance(a, want));
  double sum = 0, sq = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    // (z - shift) * scaling: the sampled and mean latents differ by scaling * std * n.
    const double n = (a[i] - mean[i]) / (c.scaling_factor * std::exp(0.5 * logvar[i]));
    worst = std::max(worst, std::fabs(n - noise[i]));
    sum += n;
    sq += n * n;
  }
  const double count = static_cast<double>(a.size()), m = sum / count, sd = std::sqrt(sq / count - m * m);
  std::printf("  %zu latent values: standardised sample - mean has mean %.4f, sd %.4f; max |diff| from the noise %.2g\n", a.size(), m, sd, worst);
  EXPECT_LT(worst, 1e-3);
  EXPECT_LT(std::fabs(m), 4 / std::sqrt(count));  // 4 standard errors
  EXPECT_NEAR(sd, 1.0, 0.06);
}

TEST_F(VaeEncodeNode, SidesThatAreNotMultiplesOfTheDownscaleAreRefused) {
  Environment env;
  env.set(std::make_shared<GpuService>());
  try {
    encode(graph(31, 32), env);
    ADD_FAILURE() << "a 31-pixel-wide image was encoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a multiple of"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lattice
