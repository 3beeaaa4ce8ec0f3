// Every golden fixture with a runner is run through the same path as `lattice --run-fixture`, and every
// output is compared with the reference: max |error| <= 1e-4 * max(1, max |reference|) (f32).
#include "nodes/models/fixture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "gpu/error.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";

void check_fixture(const std::string& file) {
  const fs::path out = fs::temp_directory_path() / ("fx_" + std::to_string(::getpid()) + "_" + file);
  ASSERT_NO_THROW(run_fixture_file(kGolden / file, out));
  SafetensorsFile ref(kGolden / file), got(out);
  size_t compared = 0;
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("output.", 0) != 0) continue;
    const auto r = ref.load(t.name).to_f32();
    ASSERT_TRUE(got.find(t.name)) << t.name;
    const auto g = got.load(t.name).to_f32();
    ASSERT_EQ(g.size(), r.size()) << t.name;
    EXPECT_TRUE(test::within_tolerance(g, r)) << file << ": " << t.name;
    ++compared;
  }
  EXPECT_GT(compared, 0u);
  fs::remove(out);
}

TEST(Fixture, FlowMatchEulerScheduler) { check_fixture("flow_match_euler_scheduler.safetensors"); }

TEST(Fixture, UniPcMultistepScheduler) { check_fixture("unipc_multistep_scheduler.safetensors"); }

TEST(Fixture, SchedulerSigmasAreBitExactWithTheReference) {
  // The schedulers are float32 by design: hold their schedules to exact equality, not just the tolerance.
  for (const std::string file : {"flow_match_euler_scheduler.safetensors", "unipc_multistep_scheduler.safetensors"}) {
    const fs::path out = fs::temp_directory_path() / ("fx_exact_" + std::to_string(::getpid()) + ".safetensors");
    run_fixture_file(kGolden / file, out);
    SafetensorsFile ref(kGolden / file), got(out);
    size_t compared = 0;
    for (const auto& t : ref.tensors()) {
      const bool schedule = t.name.ends_with(".sigmas") || t.name.ends_with(".timesteps");
      if (t.name.rfind("output.case", 0) != 0 || !schedule) continue;
      const auto r = ref.load(t.name).to_f32(), g = got.load(t.name).to_f32();
      for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(g[i], r[i]) << file << ": " << t.name << "[" << i << "]";
      ++compared;
    }
    EXPECT_GT(compared, 0u) << file;
    fs::remove(out);
  }
}

TEST(Fixture, UnsupportedOrMalformedFixturesAreRefused) {
  const fs::path dir = fs::temp_directory_path() / ("fx_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  HostTensor t = HostTensor::from_f32({1}, {1});
  write_safetensors(dir / "noclass.safetensors", {{"x", &t}});
  write_safetensors(dir / "unknown.safetensors", {{"x", &t}}, {{"class", "NoSuchModel"}});
  write_safetensors(dir / "badjson.safetensors", {{"x", &t}}, {{"class", "FlowMatchEulerDiscreteScheduler"}, {"run", "{oops"}});
  for (const char* f : {"noclass.safetensors", "unknown.safetensors", "badjson.safetensors"}) {
    try {
      run_fixture_file(dir / f, dir / "out.safetensors");
      ADD_FAILURE() << f;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << f << ": " << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
  fs::remove_all(dir);
}

// How a failure while running is sorted (fixture.h): the fixture's fault (a model or an op refusing what it was
// given) is InvalidInput naming the file; the device's (lost, out of memory) stays Evaluation.
const FixtureRegistrar failing("TestFailingRunner", [](const Fixture& fx) -> FixtureOutputs {
  const std::string how = fx.run().at("throw").get<std::string>();
  if (how == "lost") throw gpu::DeviceError(gpu::Failure::DeviceLost, "device lost");
  if (how == "memory") throw gpu::DeviceError(gpu::Failure::OutOfMemory, "out of device memory");
  if (how == "unsupported") gpu::throw_unsupported("reshape of [1, 7, 32] f32 to [1, 7, 3, 16]: element counts differ");
  if (how == "model") throw_eval("FLUX transformer: hidden states should be [B, S, 64]");
  if (how == "host") throw std::bad_alloc();
  return {{"output.x", HostTensor::from_f32({2}, {1, 2})}};
});

TEST(Fixture, FailuresWhileRunningAreSortedIntoTheFixturesAndTheDevices) {
  const fs::path dir = fs::temp_directory_path() / ("fx_sort_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  HostTensor ref = HostTensor::from_f32({3}, {1, 2, 3});
  const std::pair<const char*, ErrorKind> cases[] = {{"lost", ErrorKind::Evaluation},       {"memory", ErrorKind::Evaluation},
                                                     {"host", ErrorKind::Evaluation},       {"unsupported", ErrorKind::InvalidInput},
                                                     {"model", ErrorKind::InvalidInput},    {"none", ErrorKind::InvalidInput}};
  for (const auto& [how, kind] : cases) {
    const fs::path f = dir / (std::string(how) + ".safetensors");
    // "none" runs, but its output.x is [2] where the fixture's reference is [3].
    write_safetensors(f, {{"output.x", &ref}}, {{"class", "TestFailingRunner"}, {"run", std::string(R"({"throw": ")") + how + "\"}"}});
    try {
      run_fixture_file(f, dir / "out.safetensors");
      ADD_FAILURE() << how;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << how << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
  fs::remove_all(dir);
}

TEST(Fixture, ShapesBindNamedSizesAcrossTensors) {
  const fs::path f = fs::temp_directory_path() / ("fx_shapes_" + std::to_string(::getpid()) + ".safetensors");
  HostTensor a = HostTensor::from_f32({2, 3}, std::vector<float>(6)), b = HostTensor::from_f32({2, 4}, std::vector<float>(8));
  write_safetensors(f, {{"input.a", &a}, {"input.b", &b}}, {{"class", "X"}});
  const Fixture fx(f);
  FixtureShapes ok(fx);
  ok.need("input.a", {"B", 3}).need("input.b", {"B", FixtureShapes::kAnyDim});
  EXPECT_EQ(ok["B"], 2);
  EXPECT_FALSE(ok.optional("input.c", {"B"}));
  auto refusal = [&](const std::function<void()>& check) -> std::string {
    try {
      check();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(refusal([&] { FixtureShapes(fx).need("input.a", {"N", 3}).need("input.b", {"N", "N"}); }),
            f.string() + ": 'input.b' is [2, 4], expected [N, N] with N = 2 (from input.a)");
  EXPECT_EQ(refusal([&] { FixtureShapes(fx).need("input.a", {2, 3, 1}); }), f.string() + ": 'input.a' is [2, 3], expected [2, 3, 1]");
  EXPECT_EQ(refusal([&] {
              FixtureShapes s(fx);
              s.bind("B", 5, "run.batch");
              s.need("input.a", {"B", 3});
            }),
            f.string() + ": 'input.a' is [2, 3], expected [B, 3] with B = 5 (from run.batch)");
  EXPECT_EQ(refusal([&] { check_fixture_weights(fx, {{"w", {2}}}); }),
            f.string() + ": weight 'weights.w' is missing (the config needs it, shaped [2])");
  fs::remove(f);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, FluxTransformer) { check_fixture("flux_transformer.safetensors"); }
TEST(Fixture, ClipTextEncoder) { check_fixture("clip_text_encoder.safetensors"); }

TEST(Fixture, T5Encoder) { check_fixture("t5_encoder.safetensors"); }

TEST(Fixture, UMT5Encoder) { check_fixture("umt5_encoder.safetensors"); }

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, FluxVae) { check_fixture("flux_vae.safetensors"); }
}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, FluxPipeline) { check_fixture("flux_pipeline.safetensors"); }
TEST(Fixture, FluxControl) { check_fixture("flux_control.safetensors"); }
TEST(Fixture, LtxConditionPipeline) { check_fixture("ltx_condition_sampler.safetensors"); }
}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, LtxTransformer) { check_fixture("ltx_transformer.safetensors"); }
}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, LtxVae) { check_fixture("ltx_vae.safetensors"); }
TEST(Fixture, LtxVae090) { check_fixture("ltx_vae_090.safetensors"); }
TEST(Fixture, LtxVae091) { check_fixture("ltx_vae_091.safetensors"); }
TEST(Fixture, LtxVaeMixed) { check_fixture("ltx_vae_mixed.safetensors"); }
}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, LtxLatentUpsampler) { check_fixture("ltx_latent_upsampler.safetensors"); }
TEST(Fixture, LtxLatentUpsamplerTemporal) { check_fixture("ltx_latent_upsampler_temporal.safetensors"); }
TEST(Fixture, WanTransformer) { check_fixture("wan_transformer.safetensors"); }
TEST(Fixture, WanTransformerI2V) { check_fixture("wan_transformer_i2v.safetensors"); }
TEST(Fixture, WanVae) { check_fixture("wan_vae.safetensors"); }
}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(Fixture, ClipVisionEncoder) { check_fixture("clip_vision_encoder.safetensors"); }
TEST(Fixture, ClipVisionEncoderOpenAI) { check_fixture("clip_vision_encoder_openai.safetensors"); }
TEST(Fixture, ClipImageProcessor) { check_fixture("clip_image_processor.safetensors"); }
}  // namespace
}  // namespace lattice
