// The command line as users run it: the real `lattice` binary, its exit codes, outputs and report.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "nodes/models/block_streamer.h"
#include "nodes/models/wan/transformer.h"
#include "nodes/video/ffmpeg_io.h"
#include "tests/nodes/video/video_test_util.h"
#include "tests/support/tiny_models.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;
};

Result run(const std::string& args, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : env + " ") + std::string(LATTICE_BINARY_DIR) + "/lattice " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, {}};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_cli_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  fs::path dir;
  const std::string example = std::string(LATTICE_SOURCE_DIR) + "/examples/default.lattice";
};

TEST_F(Cli, RendersTheDefaultExampleWithAReport) {
  auto r = run("--render " + example + " --output-dir " + dir.string() + " --report " + (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + (dir / "default.png").string()), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "default.png"));
  std::ifstream f(dir / "r.json");
  auto rep = nlohmann::json::parse(f);
  ASSERT_EQ(rep["nodes"].size(), 5u);
  for (const auto& n : rep["nodes"]) {
    EXPECT_EQ(n["status"], "executed");
    EXPECT_TRUE(n.contains("id") && n.contains("type") && n.contains("ms"));
  }
  EXPECT_EQ(rep["outputs"][0], (dir / "default.png").string());
  EXPECT_GT(rep["peak_host_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(rep.contains("total_ms") && rep.contains("peak_device_bytes"));
}

TEST_F(Cli, ReportCountsCachedLatentsSpilledUnderTheDeviceBudget) {
  // Three 1 MiB noise latents under a 2 MiB device budget: making the third spills the first to host memory.
  std::string nodes;
  for (int i = 1; i <= 3; ++i)
    nodes += std::string(i > 1 ? "," : "") + R"({"id": "n)" + std::to_string(i) +
             R"(", "type": "latent.noise", "params": {"width": 1024, "height": 1024, "seed": )" + std::to_string(i) + "}}";
  const std::string graph = write("noise.lattice", R"({"lattice": 1, "nodes": [)" + nodes + "]}");
  auto r = run("--render " + graph + " --output-dir " + dir.string() + " --vram-budget 0.002 --report " +
               (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("spilled 1 cached values"), std::string::npos) << r.out;
  std::ifstream f(dir / "r.json");
  const auto rep = nlohmann::json::parse(f);
  EXPECT_EQ(rep["device_spills"]["values"], 1);
  EXPECT_EQ(rep["device_spills"]["bytes"], 1 << 20);
}

TEST_F(Cli, ReRenderFromTheImageItMade) {
  ASSERT_EQ(run("--render " + example + " --output-dir " + dir.string()).code, 0);
  auto r = run("--render " + (dir / "default.png").string() + " --output-dir " + (dir / "again").string() +
               " --set save.path=copy.png");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "again" / "copy.png"));
}

TEST_F(Cli, DiskCacheIsReusedByASecondProcess) {
  const std::string common = "--render " + example + " --output-dir " + dir.string() + " --cache-dir " +
                             (dir / "cache").string() + " --report " + (dir / "r.json").string();
  ASSERT_EQ(run(common).code, 0);
  auto r = run(common + " --set save.path=second.png");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(dir / "r.json");
  auto rep = nlohmann::json::parse(f);
  for (const auto& n : rep["nodes"]) EXPECT_EQ(n["status"], n["id"] == "save" ? "executed" : "cached") << n.dump();
}

TEST_F(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(run("--bogus").code, 2);
  EXPECT_EQ(run("--render").code, 2);
  EXPECT_EQ(run("--render " + example + " --set nodot").code, 2);
  EXPECT_EQ(run("--render " + example + " --set ghost.x=1").code, 2);
  EXPECT_EQ(run("--render " + example + " --set grade.nope=1").code, 2);
  EXPECT_EQ(run("--render " + example + " --set grade.exposure=bright").code, 2);
  EXPECT_EQ(run("--render " + example + " --frames 5-2").code, 2);
}

TEST_F(Cli, InvalidInputsExitWith3AndWriteNothing) {
  const std::string out = " --output-dir " + (dir / "out").string();
  auto missing = run("--render " + (dir / "nope.lattice").string() + out);
  EXPECT_EQ(missing.code, 3);
  EXPECT_NE(missing.out.find("nope.lattice"), std::string::npos);
  auto trunc = run("--render " + write("t.lattice", R"({"lattice": 1, "nodes": [{"id": "a")") + out);
  EXPECT_EQ(trunc.code, 3);
  EXPECT_NE(trunc.out.find("t.lattice: malformed JSON"), std::string::npos) << trunc.out;
  auto cyc = run("--render " + write("c.lattice", R"({"lattice":1,"nodes":[
      {"id":"x","type":"image.color","inputs":{"image":{"node":"y","output":"image"}}},
      {"id":"y","type":"image.color","inputs":{"image":{"node":"x","output":"image"}}},
      {"id":"s","type":"image.save","inputs":{"image":{"node":"y","output":"image"}}}]})") + out);
  EXPECT_EQ(cyc.code, 3);
  EXPECT_NE(cyc.out.find("cycle"), std::string::npos) << cyc.out;
  auto badparam = run("--render " + write("p.lattice", R"({"lattice":1,"nodes":[
      {"id":"c","type":"image.constant","params":{"width":"wide"}},
      {"id":"s","type":"image.save","inputs":{"image":{"node":"c","output":"image"}}}]})") + out);
  EXPECT_EQ(badparam.code, 3);
  EXPECT_NE(badparam.out.find("node 'c' (image.constant): parameter 'width'"), std::string::npos) << badparam.out;
  auto newer = run("--render " + write("n.lattice", R"({"lattice":99,"nodes":[]})") + out);
  EXPECT_EQ(newer.code, 3);
  auto noimage = run("--render " + write("x.png", "not an image") + out);
  EXPECT_EQ(noimage.code, 3);
  EXPECT_FALSE(fs::exists(dir / "out") && !fs::is_empty(dir / "out"));
}

TEST_F(Cli, UnreadableNodeInputExitsWith3AndLeavesNoPartialFile) {
  auto r = run("--render " + write("e.lattice", R"({"lattice":1,"nodes":[
      {"id":"l","type":"image.load","params":{"path":"missing.png"}},
      {"id":"s","type":"image.save","params":{"path":"out.png"},"inputs":{"image":{"node":"l","output":"image"}}}]})") +
               " --output-dir " + dir.string());
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("node 'l' (image.load)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing.png"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos);
}

TEST_F(Cli, EvaluationFailureExitsWith4) {
  // A PNG cannot hold float data: the save node fails while running.
  auto r = run("--render " + example + " --set save.depth=float --output-dir " + dir.string());
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_NE(r.out.find("node 'save' (image.save)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "default.png"));
}

// dir/in.mp4: a 6-frame 40x24 movie for graphs that read one.
void write_movie(const fs::path& dir) {
  lattice::VideoEncodeOptions o;
  o.preset = "ultrafast";
  o.fps_num = 25;
  lattice::VideoWriter w(dir / "in.mp4", 40, 24, o);
  for (int t = 0; t < 6; ++t) w.push(*lattice::test::moving_gradient(40, 24, t));
  w.finish();
}

TEST_F(Cli, VideoSaveOfAFormatItCannotWriteIsRefusedBeforeAnythingRuns) {
  // The file's extension is checked with the parameters: exit 3 before the image beside it is written, in the
  // dry run too; on --set it is a bad --set (exit 2), as other bad values there are.
  write_movie(dir);
  const std::string graph = write("v.lattice", R"({"lattice":1,"nodes":[
      {"id":"c","type":"image.constant","params":{"width":8,"height":8}},
      {"id":"first","type":"image.save","params":{"path":"first.png"},"inputs":{"image":{"node":"c","output":"image"}}},
      {"id":"l","type":"video.load","params":{"path":"in.mp4"}},
      {"id":"s","type":"video.save","params":{"path":"out.avi"},"inputs":{"video":{"node":"l","output":"video"}}}]})");
  for (const std::string mode : {"", " --dry-run"}) {
    auto r = run("--render " + graph + mode + " --output-dir " + dir.string());
    EXPECT_EQ(r.code, 3) << mode << r.out;
    EXPECT_NE(r.out.find("node 's' (video.save): parameter 'path': cannot tell the format of 'out.avi': use .mp4, .mov or .mkv"),
              std::string::npos)
        << r.out;
    EXPECT_FALSE(fs::exists(dir / "first.png")) << mode;
  }
  for (const std::string path : {"out.webm", "out"}) {
    auto r = run("--render " + graph + " --set s.path=" + path + " --output-dir " + dir.string());
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("cannot tell the format of '" + path + "'"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir / "first.png"));
}

TEST_F(Cli, FramePastTheVideosEndIsInvalidInputAndTheDryRunSeesIt) {
  // video.frame following the render frame past a 6-frame movie: the dry run of --frames 4-8 refuses it (it
  // plans the last frame too); the render writes frames 4 to 6, then exits 3 at frame 7.
  write_movie(dir);
  const std::string graph = write("f.lattice", R"({"lattice":1,"nodes":[
      {"id":"l","type":"video.load","params":{"path":"in.mp4"}},
      {"id":"f","type":"video.frame","params":{"index":-1,"follow_render_frame":true},"inputs":{"video":{"node":"l","output":"video"}}},
      {"id":"s","type":"image.save","params":{"path":"f.####.png"},"inputs":{"image":{"node":"f","output":"image"}}}]})");
  const std::string words = "node 'f' (video.frame): frame 6 is outside the video's 6 frames (0..5)";
  auto plan = run("--render " + graph + " --frames 4-8 --dry-run --output-dir " + dir.string());
  EXPECT_EQ(plan.code, 3) << plan.out;
  EXPECT_NE(plan.out.find("node 'f' (video.frame): frame 7 is outside the video's 6 frames (0..5)"), std::string::npos) << plan.out;
  EXPECT_EQ(run("--render " + graph + " --frames 4-6 --dry-run").code, 0);
  auto r = run("--render " + graph + " --frames 4-8 --output-dir " + dir.string());
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find(words), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "f.0006.png"));
  EXPECT_FALSE(fs::exists(dir / "f.0007.png"));
}

TEST_F(Cli, DryRunErrorsNameTheNode) {
  // A size the model cannot make, found while planning: named as the run names it.
  const std::string wan = (fs::path(LATTICE_SOURCE_DIR) / "examples/wan-t2v.lattice").string();
  auto r = run("--render " + wan + " --dry-run --set sample.num_frames=8");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("node 'sample' (wan.sample): Wan: num_frames must be 4k + 1"), std::string::npos) << r.out;
}

TEST_F(Cli, DryRunPrintsThePlanAndWritesNothing) {
  auto r = run("--render " + example + " --dry-run --output-dir " + (dir / "o").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("image 640x360x4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total:"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "o" / "default.png"));
}

TEST_F(Cli, FramesRenderASequence) {
  auto r = run("--render " + example + " --frames 1-3 --set save.path=seq.####.png --output-dir " + dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"seq.0001.png", "seq.0002.png", "seq.0003.png"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
}

TEST_F(Cli, CatalogueIsJsonWithEveryNode) {
  auto r = run("--list-nodes --json");
  ASSERT_EQ(r.code, 0);
  auto cat = nlohmann::json::parse(r.out);
  bool has_load = false;
  for (const auto& n : cat["nodes"]) {
    EXPECT_TRUE(n.contains("inputs") && n.contains("outputs") && n.contains("params") && n.contains("category"));
    for (const auto& p : n["params"]) EXPECT_TRUE(p.contains("default") && p.contains("type") && p.contains("description"));
    has_load |= n["type"] == "image.load";
  }
  EXPECT_TRUE(has_load);
  EXPECT_EQ(run("--version").code, 0);
  EXPECT_EQ(run("--help").code, 0);
}

}  // namespace

namespace lattice {
namespace {

TEST_F(Cli, MemoryPlanCountsOnlyTheModelsEachNodeUses) {
  // FLUX.1-dev from its configs: the peak is while sampling (the DiT and the preview VAE, not the text
  // encoders, which are released after encoding); at 12 GiB the DiT streams.
  const std::string flux = (fs::path(LATTICE_SOURCE_DIR) / "examples/flux-dev.lattice").string();
  const fs::path report = dir / "plan.json";
  auto r = run("--render " + flux + " --dry-run --vram-budget 12 --vram-budget 24 --report " + report.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(report);
  const auto memory = nlohmann::json::parse(in)["memory"];
  EXPECT_EQ(memory["peak_node"], "sample");
  EXPECT_EQ(memory["largest_model"], "transformer");
  const double gib = 1073741824.0, peak = memory["sequential_peak_bytes"].get<double>();
  EXPECT_GT(peak, 22.2 * gib);
  EXPECT_LT(peak, 24.5 * gib);  // DiT + preview VAE + sampling activations, not the VAE decode's on top
  ASSERT_EQ(memory["budgets"].size(), 2u);
  const auto& at12 = memory["budgets"][0];
  EXPECT_FALSE(at12["fits"].get<bool>());
  EXPECT_EQ(at12["streaming_model"], "transformer");
  EXPECT_EQ(at12["blocks"], 57);
  EXPECT_EQ(at12["slots"], 2);
  EXPECT_GT(at12["resident_blocks"].get<int>(), 0);
  EXPECT_LT(at12["resident_blocks"].get<int>(), 57);
  // At 24 GiB only the last few blocks stream (one block's activations are 1.9 GiB at 4,608 tokens).
  EXPECT_GT(memory["budgets"][1]["resident_blocks"].get<int>(), 50);
  // The 1024x1024 decode tiles itself as the run would at each budget (its largest tensor, 64 KiB per latent
  // pixel, within a 64th of the budget): 52 latent pixels at 12 GiB, 74 at 24 GiB; whole it would need some
  // 32 GiB.
  std::ifstream again(report);
  const auto plan = nlohmann::json::parse(again)["plan"];
  const auto decode = std::find_if(plan.begin(), plan.end(), [](const nlohmann::json& n) { return n["id"] == "decode"; });
  ASSERT_NE(decode, plan.end()) << plan.dump();
  const auto& at = (*decode)["outputs"][0]["by_budget"];
  ASSERT_EQ(at.size(), 2u) << decode->dump();
  EXPECT_EQ(at[0]["tile"], 52);
  EXPECT_EQ(at[0]["tiles"], 9);
  EXPECT_EQ(at[1]["tile"], 74);
  EXPECT_EQ(at[1]["tiles"], 4);
  EXPECT_LT(at[1]["activation_bytes"].get<double>(), 12 * gib);
}

// Renders `graph`'s node "sample" under `budget_mib` (to the byte) after a dry run at that budget, and checks
// that the run streamed the blocks the plan said it would and stayed under the budget. The plan's entry for
// the budget goes to `plan_out` where given.
void expect_run_streams_as_planned(const std::string& graph, double budget_mib, const fs::path& dir,
                                   nlohmann::json* plan_out = nullptr) {
  char gib[64];
  std::snprintf(gib, sizeof gib, "%.17g", budget_mib / 1024);
  const std::string budget = std::string(" --vram-budget ") + gib;
  auto plan = run("--render " + graph + " --target sample --dry-run" + budget + " --report " + (dir / "plan.json").string());
  ASSERT_EQ(plan.code, 0) << plan.out;
  std::ifstream pin(dir / "plan.json");
  const auto planned = nlohmann::json::parse(pin)["memory"]["budgets"][0];
  ASSERT_FALSE(planned["fits"].get<bool>()) << plan.out;
  ASSERT_TRUE(planned.contains("resident_blocks")) << plan.out;
  if (plan_out) *plan_out = planned;

  auto r = run("--render " + graph + " --target sample" + budget + " --report " + (dir / "run.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream rin(dir / "run.json");
  const auto report = nlohmann::json::parse(rin);
  nlohmann::json sample;
  for (const auto& n : report["nodes"])
    if (n["id"] == "sample") sample = n["info"];
  ASSERT_TRUE(sample.contains("blocks")) << report.dump();
  EXPECT_EQ(sample["blocks"], planned["blocks"]);
  EXPECT_EQ(sample["resident_blocks"], planned["resident_blocks"]) << planned.dump() << "\n" << sample.dump();
  EXPECT_EQ(sample["stream_slots"], planned["slots"]) << planned.dump() << "\n" << sample.dump();
  EXPECT_EQ(sample["streamed_bytes_per_forward"], planned["streamed_bytes_per_use"]);
  EXPECT_GT(sample["streamed_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(sample["peak_device_bytes"].get<uint64_t>(), static_cast<uint64_t>(budget_mib * 1048576));
}

// dir/inputs.safetensors for conditioning.from_tensors: prompt_embeds [1, tokens, width] of the repeating ramp
// (i % period) / period - 0.5, and pooled_prompt_embeds [1, pooled] of (i % 5) / 5 (zeros where the model
// ignores it: pooled_ramp false).
void write_prompt_inputs(const fs::path& dir, int64_t tokens, int64_t width, int period, int64_t pooled, bool pooled_ramp) {
  std::vector<float> embeds(static_cast<size_t>(tokens * width)), pool(static_cast<size_t>(pooled), 0.0f);
  for (size_t i = 0; i < embeds.size(); ++i) embeds[i] = static_cast<float>(static_cast<int>(i % period)) / static_cast<float>(period) - 0.5f;
  if (pooled_ramp)
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<float>(i % 5) / 5.0f;
  const lattice::HostTensor e = lattice::HostTensor::from_f32({1, tokens, width}, embeds), p = lattice::HostTensor::from_f32({1, pooled}, pool);
  lattice::write_safetensors(dir / "inputs.safetensors", {{"prompt_embeds", &e}, {"pooled_prompt_embeds", &p}});
}

// A budget below activations plus one block: exit 4, naming what is needed.
void expect_budget_too_small(const std::string& graph, double budget_mib, const std::string& model) {
  auto small = run("--render " + graph + " --target sample --vram-budget " + std::to_string(budget_mib / 1024));
  EXPECT_EQ(small.code, 4) << small.out;
  EXPECT_NE(small.out.find(model + ": the device budget of"), std::string::npos) << small.out;
  EXPECT_NE(small.out.find("one block's weights"), std::string::npos) << small.out;
}

// A random FLUX of 7 blocks (12.4 MB of bf16 weights) sampling a 48x64 image with 512 text tokens, its
// matrices on the device as `weight_dtype` (flux.load_transformer): the graph file in `dir`.
std::string write_streamed_flux_graph(const fs::path& dir, const std::string& weight_dtype = "stored") {
  lattice::test::write_random_flux(dir / "dit", 3, 4, 3);
  write_prompt_inputs(dir, 512, 64, 17, 32, true);
  std::ofstream(dir / "stream.lattice") << R"({"lattice": 1, "nodes": [
    {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
    {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
    {"id": "noise", "type": "latent.noise", "params": {"width": 48, "height": 64}},
    {"id": "dit", "type": "flux.load_transformer", "params": {"path": "dit", "weight_dtype": ")" + weight_dtype + R"("}},
    {"id": "sample", "type": "flux.sample", "params": {"steps": 2},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
                "noise": {"node": "noise", "output": "latent"}}}]})";
  return (dir / "stream.lattice").string();
}

TEST_F(Cli, StreamedRunDoesWhatThePlanSays) {
  // Under a budget that holds only some of the blocks, the run streams the blocks the dry run said it
  // would, and stays under the budget.
  const std::string graph = write_streamed_flux_graph(dir);
  expect_run_streams_as_planned(graph, 21, dir);
  expect_budget_too_small(graph, 16, "FLUX transformer");
}

// A random Wan 2.1 T2V of 4 blocks (2.6 MB each) sampling a 5-frame 32x32 video (8 tokens, `text_tokens` text
// tokens, which the plan reads from the prompt's), its matrices on the device as `weight_dtype`: the graph file
// in `dir`. With `cfg`: a 9-frame 192x160 video (360 tokens) with guidance 5 and batched CFG (the prompt tensors
// as the negative too), whose batch-2 activations exceed the batch-1 ones by more than two blocks.
std::string write_streamed_wan_graph(const fs::path& dir, const std::string& weight_dtype = "stored", bool cfg = false,
                                     int64_t text_tokens = 512) {
  lattice::WanConfig c;
  c.num_attention_heads = 4;
  c.attention_head_dim = 64;
  c.text_dim = 64;
  c.ffn_dim = 1536;
  c.num_layers = 4;
  lattice::test::write_random_wan(dir / "dit", c);
  write_prompt_inputs(dir, text_tokens, 64, 13, 4, false);  // Wan ignores the pooled embedding
  std::ofstream(dir / "stream.lattice") << R"({"lattice": 1, "nodes": [
    {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
    {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
    {"id": "dit", "type": "wan.load_transformer", "params": {"path": "dit", "weight_dtype": ")" + weight_dtype + R"("}},
    {"id": "sample", "type": "wan.sample", "params": )" +
                                     (cfg ? R"({"steps": 2, "guidance": 5.0, "width": 192, "height": 160, "num_frames": 9})"
                                          : R"({"steps": 2, "guidance": 1.0, "width": 32, "height": 32, "num_frames": 5})") + R"(,
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"})" +
                                     (cfg ? R"(, "negative": {"node": "cond", "output": "conditioning"})" : "") + "}}]}";
  return (dir / "stream.lattice").string();
}

TEST_F(Cli, StreamedWanRunDoesWhatThePlanSays) {
  // Under 12 MiB one block stays resident, three stream through two slots, as the dry run says.
  const std::string graph = write_streamed_wan_graph(dir);
  expect_run_streams_as_planned(graph, 12, dir);
  expect_budget_too_small(graph, 5, "Wan transformer");
}

// A random LTX-Video DiT of 4 blocks (2.6 MB each) sampling a 9-frame 128x96 video (2 x 3 x 4 = 24 tokens,
// `text_tokens` text tokens, which the plan reads from the prompt's, no CFG), its matrices on the device as
// `weight_dtype`: the graph file in `dir`.
// With a `keyframe` strength: a stored latent [1, 128, 1, 3, 4] conditions frame 0 at strength 0.5 and, as a
// keyframe at that strength, frame 8 (12 appended tokens: at 1 re-noised each step, below 1 blended with noise).
// With `image`: that latent is the image input instead (first-frame conditioning). With `key_frames` 2 the
// stored latent is a clip of 2 latent frames (9 video frames): at frame 0 it fills the video, from frame 8 it
// runs past the end and is trimmed to its first frame.
std::string write_streamed_ltx_graph(const fs::path& dir, const std::string& weight_dtype = "stored",
                                     std::optional<double> keyframe = std::nullopt, bool image = false,
                                     int64_t key_frames = 1, int64_t text_tokens = 128) {
  const bool keyframes = keyframe.has_value();
  lattice::LtxTransformerConfig c;
  c.in_channels = c.out_channels = 128;
  c.num_attention_heads = 4;
  c.attention_head_dim = 64;
  c.cross_attention_dim = 256;
  c.caption_channels = 64;
  c.ff_inner = 1536;
  c.num_layers = 4;
  lattice::test::write_random_ltx(dir / "dit", c);
  write_prompt_inputs(dir, text_tokens, 64, 11, 4, false);  // LTX-Video ignores the pooled embedding
  std::ofstream(dir / "stream.lattice") << R"({"lattice": 1, "nodes": [
    {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
    {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
    {"id": "dit", "type": "ltx.load_transformer", "params": {"path": "dit", "weight_dtype": ")" + weight_dtype + R"("}},
    {"id": "keys", "type": "tensor.load", "params": {"path": "keys.safetensors", "name": "latent"}},
    {"id": "key", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "keys", "output": "tensor"}}},
    {"id": "sample", "type": "ltx.sample", "params": {"steps": 2, "guidance": 1.0, "width": 128, "height": 96, "num_frames": 9)" +
                                     (keyframes ? R"(, "condition_1_strength": 0.5, "condition_2_frame": 8, "condition_2_strength": )" + std::to_string(*keyframe) : "") + R"(},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"})" +
                                     (keyframes ? R"(, "condition_1": {"node": "key", "output": "latent"},
                "condition_2": {"node": "key", "output": "latent"})" : "") +
                                     (image ? R"(, "image": {"node": "key", "output": "latent"})" : "") + "}}]}";
  std::vector<float> key(static_cast<size_t>(128 * 12 * key_frames));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<float>(static_cast<int>(i % 7)) / 7.0f - 0.5f;
  const lattice::HostTensor k = lattice::HostTensor::from_f32({1, 128, key_frames, 3, 4}, key);
  lattice::write_safetensors(dir / "keys.safetensors", {{"latent", &k}});
  return (dir / "stream.lattice").string();
}

TEST_F(Cli, StreamedLtxRunDoesWhatThePlanSays) {
  // Under 12 MiB one block stays resident, three stream through two slots, as the dry run says.
  const std::string graph = write_streamed_ltx_graph(dir);
  expect_run_streams_as_planned(graph, 12, dir);
  expect_budget_too_small(graph, 3, "LTX-Video transformer");
}

// At the least budget for the plan at `budget_mib` (its needed_bytes), to the byte, and one byte less, the run
// keeps the blocks its dry run says, so it finds in use exactly what the plan counts (the DiT's weights as
// uploaded, what the sampler holds on the device, the forward's activations).
void expect_plan_matches_run_at_its_boundary(const std::string& graph, double budget_mib, const fs::path& dir) {
  nlohmann::json at, at_need, below;
  expect_run_streams_as_planned(graph, budget_mib, dir, &at);
  ASSERT_TRUE(at.contains("needed_bytes")) << at.dump();
  const double need = at["needed_bytes"].get<double>();
  ASSERT_LE(need, budget_mib * 1048576);
  expect_run_streams_as_planned(graph, need / 1048576, dir, &at_need);
  EXPECT_EQ(at_need["resident_blocks"], at["resident_blocks"]);
  EXPECT_EQ(at_need["slots"], at["slots"]);
  expect_run_streams_as_planned(graph, (need - 1) / 1048576, dir, &below);
  // One byte less is a plan of fewer resident blocks or fewer slots.
  EXPECT_TRUE(below["resident_blocks"] < at["resident_blocks"] || below["slots"] < at["slots"]) << below.dump();
}

TEST_F(Cli, StreamedLtxRunMatchesThePlanAtItsBoundary) {
  expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir), 12, dir);
}

TEST_F(Cli, StreamedFluxRunMatchesThePlanAtItsBoundary) {
  // At 21 MiB every block streams; at 25 MiB some stay resident.
  const std::string graph = write_streamed_flux_graph(dir);
  expect_plan_matches_run_at_its_boundary(graph, 21, dir);
  expect_plan_matches_run_at_its_boundary(graph, 25, dir);
}

TEST_F(Cli, StreamedFp8FluxRunMatchesThePlanAtItsBoundary) {
  // Matrices stored as fp8 on the device (weight_dtype): a quarter of f32's bytes, half of bf16's; at 20 MiB
  // some blocks stay resident and the others stream, as the dry run says, to the byte.
  expect_plan_matches_run_at_its_boundary(write_streamed_flux_graph(dir, "fp8_e4m3fn"), 20, dir);
}

// Node `id`'s first output in the dry-run plan of `graph` (the report written to `report`).
nlohmann::json planned_output(const std::string& graph, const std::string& id, const fs::path& report) {
  auto r = run("--render " + graph + " --dry-run --report " + report.string());
  EXPECT_EQ(r.code, 0) << r.out;
  std::ifstream in(report);
  const auto plan = nlohmann::json::parse(in)["plan"];
  for (const auto& n : plan)
    if (n["id"] == id) return n["outputs"][0];
  ADD_FAILURE() << "no node " << id << " in " << plan.dump();
  return nlohmann::json::object();
}


// examples/flux-schnell.lattice plans from its config-only folder: 4 steps of 256 text tokens on schnell's
// schedule (its scheduler_config.json: shift 1), no guidance embedding; a step is 6.95e13 FLOP (7.44e13 at 512).
TEST_F(Cli, SchnellExamplePlansItsScheduleAndTextLength) {
  const std::string schnell = (fs::path(LATTICE_SOURCE_DIR) / "examples/flux-schnell.lattice").string();
  const auto sample = planned_output(schnell, "sample", dir / "plan.json");
  const std::string shape = sample.value("shape", "");
  EXPECT_NE(shape.find("4 steps, 256 text tokens, the pipeline's scheduler_config.json schedule (shift 1), no guidance "
                       "embedding: 'guidance' unused"), std::string::npos) << shape;
  const double step = sample["per_step"]["flops"].get<double>();
  EXPECT_NEAR(step, 6.95e13, 0.01e13);
  EXPECT_DOUBLE_EQ(sample["flops"].get<double>(), 4 * step);
}

TEST_F(Cli, ConfigOnlyPlansCountTheWeightDtype) {
  // A plan from config.json alone counts the DiT's device bytes as the plan from its weights does (which
  // the boundary tests hold equal to the run's), for each weight_dtype: vectors f32, matrices as chosen.
  const std::string graph = write_streamed_flux_graph(dir);
  std::ifstream in(graph);
  const std::string text(std::istreambuf_iterator<char>(in), {});
  double fp8 = 0, bf16 = 0;
  std::vector<double> fp8_hints;
  for (const char* dtype : {"stored", "bf16", "fp8_e4m3fn", "f32"}) {
    std::string g = text;
    const std::string from = R"("weight_dtype": "stored")";
    g.replace(g.find(from), from.size(), std::string(R"("weight_dtype": ")") + dtype + "\"");
    std::ofstream(dir / "g.lattice") << g;
    const auto planned = planned_output((dir / "g.lattice").string(), "dit", dir / "a.json");
    const double with_weights = planned.value("weight_bytes", 0.0);
    fp8_hints.push_back(planned.value("fp8_weight_bytes", 0.0));
    fs::rename(dir / "dit" / "diffusion_pytorch_model.safetensors", dir / "moved.safetensors");
    const double config_only = planned_output((dir / "g.lattice").string(), "dit", dir / "b.json").value("weight_bytes", 0.0);
    fs::rename(dir / "moved.safetensors", dir / "dit" / "diffusion_pytorch_model.safetensors");
    EXPECT_EQ(config_only, with_weights) << dtype;
    if (std::string(dtype) == "fp8_e4m3fn") fp8 = with_weights;
    if (std::string(dtype) == "bf16") bf16 = with_weights;
  }
  EXPECT_LT(fp8, 0.6 * bf16);
  // The --dry-run hint for a streaming model ("or store its weights as fp8") is what fp8 would plan, whatever
  // the dtype chosen now.
  for (double h : fp8_hints) EXPECT_EQ(h, fp8);
}

TEST_F(Cli, WanRunsCfgInTurnWhereOnlyThatFitsTheBudget) {
  // A budget halfway between one streamed block beside the batch-1 forward's needs and one beside the batch-2
  // forward's: the plan and the run both take CFG in turn, and stream the same blocks.
  const std::string graph = write_streamed_wan_graph(dir, "stored", true);
  const auto sample = planned_output(graph, "sample", dir / "p.json");
  ASSERT_TRUE(sample.contains("low_memory")) << sample.dump();
  EXPECT_EQ(sample["low_memory"]["how"], "CFG in turn");
  const double batched = sample["activation_bytes"].get<double>(), in_turn = sample["low_memory"]["activation_bytes"].get<double>();
  const double weights = planned_output(graph, "dit", dir / "d.json")["weight_bytes"].get<double>();
  lattice::WanConfig four_blocks;
  four_blocks.num_layers = 4;
  const std::vector<uint64_t> blocks = lattice::block_device_bytes(lattice::WeightSource::open(dir / "dit"),
                                                                   lattice::wan_block_prefixes(four_blocks));
  ASSERT_EQ(blocks.size(), 4u);
  double in_blocks = 0;
  for (uint64_t b : blocks) in_blocks += static_cast<double>(b);
  const double one_block = weights - in_blocks + static_cast<double>(*std::max_element(blocks.begin(), blocks.end()));
  ASSERT_GT(batched - in_turn, 2 * static_cast<double>(blocks[0]));
  const double budget_mib = (one_block + (batched + in_turn) / 2) / 1048576;
  nlohmann::json planned;
  expect_run_streams_as_planned(graph, budget_mib, dir, &planned);
  EXPECT_EQ(planned.value("fallback", ""), "CFG in turn") << planned.dump();
  std::ifstream rin(dir / "run.json");
  for (const auto& n : nlohmann::json::parse(rin)["nodes"])
    if (n["id"] == "sample") {
      EXPECT_NE(n["info"].value("cfg", "").find("in turn"), std::string::npos) << n.dump();
    }
  // Where the batch-2 forward fits (streaming), it runs batched, as its plan says.
  expect_run_streams_as_planned(graph, (one_block + batched) / 1048576 + 1, dir, &planned);
  EXPECT_FALSE(planned.contains("fallback")) << planned.dump();
  std::ifstream rin2(dir / "run.json");
  for (const auto& n : nlohmann::json::parse(rin2)["nodes"])
    if (n["id"] == "sample") {
      EXPECT_FALSE(n["info"].contains("cfg")) << n.dump();
    }
  // Where neither fits, the error names the batched need.
  expect_budget_too_small(graph, (one_block + in_turn) / 1048576 - 1, "Wan transformer");
}

TEST_F(Cli, StreamedWanRunMatchesThePlanAtItsBoundary) {
  expect_plan_matches_run_at_its_boundary(write_streamed_wan_graph(dir), 12, dir);
}

TEST_F(Cli, StreamedRunsOfOtherTextLengthsMatchThePlanAtTheirBoundary) {
  // Prompts of 300 tokens, not the pipelines' 512 (Wan) and 128 (LTX-Video): the plan takes the length from
  // the prompt's plan, so it counts the text states and the cross-attention as the run holds them, to the byte.
  SCOPED_TRACE("Wan");
  expect_plan_matches_run_at_its_boundary(write_streamed_wan_graph(dir, "stored", false, 300), 12, dir);
  SCOPED_TRACE("LTX-Video");
  expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir, "stored", std::nullopt, false, 1, 300), 12, dir);
}

TEST_F(Cli, StreamedFp8WanRunMatchesThePlanAtItsBoundary) {
  // fp8 matrices: half of bf16's block bytes; at 7 MiB the blocks stream as the dry run says, to the byte.
  expect_plan_matches_run_at_its_boundary(write_streamed_wan_graph(dir, "fp8_e4m3fn"), 7, dir);
}

TEST_F(Cli, StreamedLtxConditionedRunMatchesThePlanAtItsBoundary) {
  // Conditions (LTXConditionPipeline): the appended keyframe's tokens, the condition latents, their noise or the
  // re-noised tokens' first values are in the plan, to the byte; so is the image input's latent.
  for (const double strength : {1.0, 0.75}) {
    SCOPED_TRACE(strength);
    expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir, "stored", strength), 12, dir);
  }
  SCOPED_TRACE("a clip trimmed at the video's end");
  expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir, "stored", 0.75, false, 2), 12, dir);
  SCOPED_TRACE("image input");
  expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir, "stored", std::nullopt, true), 12, dir);
}

TEST_F(Cli, StreamedFp8LtxRunMatchesThePlanAtItsBoundary) {
  // fp8 matrices: half of bf16's block bytes; at 7 MiB the blocks stream as the dry run says, to the byte.
  expect_plan_matches_run_at_its_boundary(write_streamed_ltx_graph(dir, "fp8_e4m3fn"), 7, dir);
}

}  // namespace
}  // namespace lattice

// --run-fixture keeps its contract on fixtures whose parts disagree: exit 3 naming the file and the key or tensor at
// fault, nothing written; --out naming the fixture itself is a usage error (exit 2) that leaves it as it was.
class CliRunFixture : public Cli {
 protected:
  const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
  // A copy of golden fixture `from` with `edit` applied to its metadata and tensors.
  std::string variant(const std::string& from, const std::string& name,
                      const std::function<void(std::map<std::string, std::string>&, std::map<std::string, lattice::HostTensor>&)>& edit) {
    const lattice::SafetensorsFile in(golden / from);
    std::map<std::string, std::string> meta = in.metadata();
    std::map<std::string, lattice::HostTensor> tensors;
    std::vector<std::string> order;
    for (const auto& t : in.tensors()) {
      tensors.emplace(t.name, in.load(t.name));
      order.push_back(t.name);
    }
    edit(meta, tensors);
    std::vector<std::pair<std::string, const lattice::HostTensor*>> list;
    for (const auto& n : order)
      if (tensors.count(n)) list.emplace_back(n, &tensors.at(n));
    for (const auto& [n, t] : tensors)
      if (std::find(order.begin(), order.end(), n) == order.end()) list.emplace_back(n, &t);
    lattice::write_safetensors(dir / name, list, meta);
    return (dir / name).string();
  }
  static void set_config(std::map<std::string, std::string>& meta, const std::string& key, const nlohmann::json& path_value,
                         const std::string& section = "config") {
    nlohmann::json c = nlohmann::json::parse(meta.at(section));
    c[nlohmann::json::json_pointer(key)] = path_value;
    meta[section] = c.dump();
  }
  // Runs the fixture; expects `code`, the file and `what` named in the message, and no output written.
  void expect_refused(const std::string& fixture, int code, const std::string& what) {
    const fs::path out = dir / "out.safetensors";
    const Result r = run("--run-fixture " + fixture + " --out " + out.string());
    EXPECT_EQ(r.code, code) << r.out;
    EXPECT_NE(r.out.find(fixture), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(what), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(out)) << fixture;
  }
};

TEST_F(CliRunFixture, AValidFixtureRunsAndWritesEveryOutput) {
  const std::string fx = variant("flux_transformer.safetensors", "valid.safetensors", [](auto&, auto&) {});
  const Result r = run("--run-fixture " + fx + " --out " + (dir / "out.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(lattice::SafetensorsFile(dir / "out.safetensors").find("output.sample"));
}

TEST_F(CliRunFixture, NoUsableDeviceIsAnEvaluationFailureNotTheFixtures) {
  // A valid fixture with no device to run it on: exit 4, naming the device, not "cannot run this fixture".
  const std::string fx = variant("flux_transformer.safetensors", "valid.safetensors", [](auto&, auto&) {});
  const Result r = run("--run-fixture " + fx + " --out " + (dir / "out.safetensors").string() + " 2>&1", "LATTICE_DEVICE=no-such-gpu");
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_NE(r.out.find("no usable Vulkan device"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

TEST_F(CliRunFixture, ConfigThatDisagreesWithTheWeightsIsRefused) {
  // 3 heads of 16: the weights hold 2 (width 32); the first tensor the config sizes otherwise is named.
  expect_refused(variant("flux_transformer.safetensors", "heads.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/num_attention_heads", 3); }),
                 3, "is [32], the config needs [48]");
  // FLUX.1-schnell's config on FLUX.1-dev's weights: the guidance embedder is left over.
  expect_refused(variant("flux_transformer.safetensors", "schnell.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/guidance_embeds", false); }),
                 3, "weights.time_text_embed.guidance_embedder.");
  expect_refused(variant("flux_transformer.safetensors", "layers.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/num_layers", -1); }),
                 3, "num_layers");
  expect_refused(variant("flux_transformer.safetensors", "extra.safetensors",
                         [](auto&, auto& t) { t.emplace("weights.extra.weight", lattice::HostTensor::from_f32({2}, {1, 2})); }),
                 3, "weights.extra.weight");
  expect_refused(variant("flux_transformer.safetensors", "missing.safetensors",
                         [](auto&, auto& t) { t.erase("weights.proj_out.bias"); }),
                 3, "weights.proj_out.bias");
}

TEST_F(CliRunFixture, InputsAndOutputsOfTheWrongShapeAreRefused) {
  expect_refused(variant("flux_transformer.safetensors", "input.safetensors",
                         [](auto&, auto& t) { t.at("input.hidden_states").shape = {1, 6, 128}; }),
                 3, "input.hidden_states");
  expect_refused(variant("flux_transformer.safetensors", "output.safetensors",
                         [](auto&, auto& t) { t.at("output.sample") = lattice::HostTensor::from_f32({1, 12, 32}, std::vector<float>(384)); }),
                 3, "output.sample");
  expect_refused(variant("flux_transformer.safetensors", "run.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/txt_len", 9, "run"); }),
                 3, "run.txt_len");
}

TEST_F(CliRunFixture, PipelineSchedulerOptionsItCannotHonourAreRefused) {
  expect_refused(variant("flux_pipeline.safetensors", "karras.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/scheduler/use_karras_sigmas", true); }),
                 3, "use_karras_sigmas");
  expect_refused(variant("flux_pipeline.safetensors", "linear.safetensors",
                         [](auto& meta, auto&) { set_config(meta, "/scheduler/time_shift_type", "linear"); }),
                 3, "time_shift_type");
  expect_refused(variant("flux_pipeline.safetensors", "steps.safetensors", [](auto& meta, auto&) { set_config(meta, "/steps", 0, "run"); }),
                 3, "run.steps");
}

TEST_F(CliRunFixture, OutNamingTheFixtureItselfIsAUsageErrorThatLeavesItIntact) {
  const std::string fx = variant("flux_transformer.safetensors", "self.safetensors", [](auto&, auto&) {});
  const auto size = fs::file_size(fx);
  fs::create_directories(dir / "sub");
  fs::create_symlink(fx, dir / "link.safetensors");
  for (const std::string& out : {fx, (dir / "sub" / ".." / "self.safetensors").string(), (dir / "link.safetensors").string()}) {
    const Result r = run("--run-fixture " + fx + " --out " + out);
    EXPECT_EQ(r.code, 2) << out << ": " << r.out;
    EXPECT_NE(r.out.find("is the fixture"), std::string::npos) << r.out;
    EXPECT_EQ(fs::file_size(fx), size);
    EXPECT_NO_THROW(lattice::SafetensorsFile{fx});
  }
}
