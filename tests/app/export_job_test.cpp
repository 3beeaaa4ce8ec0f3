// `lattice --export-job`: the job files parse with real YAML/XML parsers, have the fields their schemas name,
// and running their per-task commands in order (as a farm would, chunk ranges expanded here) renders every
// frame of a small sequence exactly once. Paths contain a space and a quote to exercise the quoting.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Outcome {
  int code = -1;
  std::string out;  // stdout and stderr
};

/// Runs argv[0] with the arguments (no shell), stdout and stderr captured.
Outcome spawn(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = 0;
  Outcome r;
  if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  std::ifstream f(log);
  r.out.assign(std::istreambuf_iterator<char>(f), {});
  return r;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}

/// Width of a PNG from its IHDR chunk.
uint32_t png_width(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char h[24] = {};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  return (uint32_t{h[16]} << 24) | (uint32_t{h[17]} << 16) | (uint32_t{h[18]} << 8) | h[19];
}

std::pair<int64_t, int64_t> split_range(const std::string& r) {
  const auto dash = r.find('-', 1);
  if (dash == std::string::npos) return {std::stoll(r), std::stoll(r)};
  return {std::stoll(r.substr(0, dash)), std::stoll(r.substr(dash + 1))};
}

/// OpenJD format strings: replaces each {{ Name.Path }} by its value; a name without a value fails the test.
std::string resolve(const std::string& s, const std::map<std::string, std::string>& values) {
  static const std::regex expr(R"(\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\})");
  std::string out;
  auto it = std::sregex_iterator(s.begin(), s.end(), expr);
  size_t pos = 0;
  for (; it != std::sregex_iterator(); ++it) {
    out += s.substr(pos, static_cast<size_t>(it->position()) - pos);
    const auto v = values.find((*it)[1].str());
    if (v == values.end()) {
      ADD_FAILURE() << "format string references unknown value " << (*it)[1].str();
    } else {
      out += v->second;
    }
    pos = static_cast<size_t>(it->position() + it->length());
  }
  return out + s.substr(pos);
}

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

const json& child(const json& e, const std::string& tag) {
  for (const auto& c : e["children"])
    if (c["tag"] == tag) return c;
  static const json none = json::object();
  ADD_FAILURE() << "no <" << tag << "> in <" << e["tag"].get<std::string>() << ">";
  return none;
}

class ExportJob : public ::testing::Test {
 protected:
  void SetUp() override {
    // A space and a quote in every path: the job must quote what it passes to a shell.
    dir = fs::temp_directory_path() / ("lattice export_" + std::to_string(::getpid()) + "_it's " +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    // A frame-dependent graph: the output path carries the frame number.
    project = dir / "shot one.lattice";
    std::ofstream(project) << R"({"lattice": 1, "nodes": [
      {"id": "bg", "type": "image.gradient", "params": {"width": 8, "height": 8}},
      {"id": "save", "type": "image.save", "params": {"path": "seq/f.####.png"},
       "inputs": {"image": {"node": "bg", "output": "image"}}}]})";
    out_dir = dir / "out dir";
  }
  void TearDown() override { fs::remove_all(dir); }

  Outcome lattice(std::vector<std::string> args) {
    args.insert(args.begin(), lattice_bin);
    return spawn(args, dir / "lattice.log");
  }
  Outcome export_job(const std::string& kind, const fs::path& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"--export-job", kind, project.string(), "--frames", "1-7", "--chunk", "3",
                                  "--output-dir", out_dir.string(), "--set", "bg.width=5", "-o", out.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return lattice(a);
  }
  json parse(const std::string& kind, const fs::path& file) {
    const Outcome r = spawn({LATTICE_SYSTEM_PYTHON3, std::string(LATTICE_SOURCE_DIR) + "/tests/app/export_job_to_json.py",
                         kind, file.string()},
                        dir / "parse.log");
    EXPECT_EQ(r.code, 0) << "the " << kind << " parser rejected " << file << ":\n" << r.out;
    return r.code == 0 ? json::parse(r.out) : json();
  }
  Outcome shell(const std::string& command) { return spawn({"/bin/sh", "-c", command}, dir / "task.log"); }

  /// Every frame 1..7 rendered exactly once, with the --set override applied.
  void expect_every_frame() {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(out_dir / "seq")) names.insert(e.path().filename().string());
    const std::set<std::string> want = {"f.0001.png", "f.0002.png", "f.0003.png", "f.0004.png",
                                        "f.0005.png", "f.0006.png", "f.0007.png"};
    EXPECT_EQ(names, want);
    for (const auto& n : want) EXPECT_EQ(png_width(out_dir / "seq" / n), 5u) << n << ": --set bg.width=5 was not applied";
  }

  /// Runs the single step of an OpenJD template the way a worker does: job parameters at their defaults,
  /// one process per task (a chunk for CHUNK[INT]), command and args as argv with no shell in between.
  void run_openjd(const json& t, size_t expected_tasks) {
    std::map<std::string, std::string> values;
    for (const auto& p : t["parameterDefinitions"]) {
      values["Param." + p["name"].get<std::string>()] = text_of(p["default"]);
      values["RawParam." + p["name"].get<std::string>()] = text_of(p["default"]);
    }
    ASSERT_EQ(t["steps"].size(), 1u);
    const json& step = t["steps"][0];
    const json& defs = step["parameterSpace"]["taskParameterDefinitions"];
    ASSERT_EQ(defs.size(), 1u);
    const json& def = defs[0];
    std::vector<std::string> tasks;
    if (def["type"] == "CHUNK[INT]") {
      ASSERT_EQ(def["chunks"]["rangeConstraint"], "CONTIGUOUS");
      const auto [first, last] = split_range(resolve(text_of(def["range"]), values));
      const int64_t n = std::stoll(resolve(text_of(def["chunks"]["defaultTaskCount"]), values));
      ASSERT_GE(n, 1);
      for (int64_t a = first; a <= last; a += n) tasks.push_back(std::to_string(a) + "-" + std::to_string(std::min(a + n - 1, last)));
    } else if (def["type"] == "INT") {
      const auto [first, last] = split_range(resolve(text_of(def["range"]), values));
      for (int64_t f = first; f <= last; ++f) tasks.push_back(std::to_string(f));
    } else {
      ASSERT_EQ(def["type"], "STRING");
      for (const auto& v : def["range"]) tasks.push_back(v.get<std::string>());
    }
    EXPECT_EQ(tasks.size(), expected_tasks);
    const json& on_run = step["script"]["actions"]["onRun"];
    for (const auto& task : tasks) {
      auto task_values = values;
      task_values["Task.Param." + def["name"].get<std::string>()] = task;
      std::vector<std::string> argv = {resolve(on_run["command"].get<std::string>(), task_values)};
      for (const auto& a : on_run["args"]) argv.push_back(resolve(a.get<std::string>(), task_values));
      const Outcome r = spawn(argv, dir / "task.log");
      ASSERT_EQ(r.code, 0) << "task " << task << " failed:\n" << r.out;
    }
  }

  fs::path dir, project, out_dir;
  const std::string lattice_bin = std::string(LATTICE_BINARY_DIR) + "/lattice";
};

TEST_F(ExportJob, OpenJdTemplateWithChunkingRendersEveryFrame) {
  const fs::path job = dir / "job.yaml";
  const Outcome r = export_job("openjd", job);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 task(s)"), std::string::npos) << r.out;
  const json t = parse("yaml", job);
  ASSERT_TRUE(t.is_object());
  EXPECT_EQ(t["specificationVersion"], "jobtemplate-2023-09");
  EXPECT_EQ(t["extensions"], json::array({"TASK_CHUNKING"}));
  EXPECT_EQ(t["name"], "shot one");
  const json& def = t["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0];
  EXPECT_EQ(def["type"], "CHUNK[INT]");
  EXPECT_EQ(def["range"], "{{Param.Frames}}");
  // The executable defaults to the one that wrote the job, the paths to absolute ones.
  std::map<std::string, json> params;
  for (const auto& p : t["parameterDefinitions"]) params[p["name"].get<std::string>()] = p;
  EXPECT_EQ(params["LatticeExecutable"]["default"], fs::canonical(lattice_bin).string());
  EXPECT_EQ(params["ProjectFile"]["default"], project.string());
  EXPECT_EQ(params["ProjectFile"]["dataFlow"], "IN");
  EXPECT_EQ(params["OutputDir"]["dataFlow"], "OUT");
  EXPECT_EQ(params["Frames"]["default"], "1-7");
  EXPECT_EQ(params["ChunkSize"]["default"], 3);
  run_openjd(t, 3);
  expect_every_frame();
}

TEST_F(ExportJob, OpenJdTemplateWithAFixedChunkListNeedsNoExtension) {
  const fs::path job = dir / "job.yaml";
  ASSERT_EQ(export_job("openjd", job, {"--openjd-chunks", "list"}).code, 0);
  const json t = parse("yaml", job);
  ASSERT_TRUE(t.is_object());
  EXPECT_FALSE(t.contains("extensions"));
  const json& def = t["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0];
  EXPECT_EQ(def["type"], "STRING");
  EXPECT_EQ(def["range"], json::array({"1-3", "4-6", "7-7"}));
  run_openjd(t, 3);
  expect_every_frame();
}

TEST_F(ExportJob, OpenJdOneFramePerTaskIsAnIntRange) {
  const fs::path job = dir / "job.yaml";
  ASSERT_EQ(export_job("openjd", job, {"--openjd-chunks", "list", "--chunk", "1"}).code, 0);
  const json t = parse("yaml", job);
  ASSERT_TRUE(t.is_object());
  const json& def = t["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0];
  EXPECT_EQ(def["type"], "INT");
  EXPECT_EQ(def["range"], "1-7");
  run_openjd(t, 7);
  expect_every_frame();
}

TEST_F(ExportJob, OpenCueSpecRendersEveryFrame) {
  const fs::path job = dir / "job.xml";
  const Outcome r = export_job("opencue", job, {"--show", "pipeline", "--user", "artist"});
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string xml = read_text(job);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\"?>\n<!DOCTYPE spec PUBLIC", 0), 0u) << xml;
  const json spec = parse("xml", job);
  ASSERT_TRUE(spec.is_object());
  EXPECT_EQ(spec["tag"], "spec");
  // Element order is fixed by the cjsl DTD: show, shot, user, job, depends.
  std::vector<std::string> tags;
  for (const auto& c : spec["children"]) tags.push_back(c["tag"]);
  EXPECT_EQ(tags, (std::vector<std::string>{"show", "shot", "user", "job", "depends"}));
  EXPECT_EQ(child(spec, "show")["text"], "pipeline");
  EXPECT_EQ(child(spec, "shot")["text"], "shot_one");
  EXPECT_EQ(child(spec, "user")["text"], "artist");
  const json& jobel = child(spec, "job");
  EXPECT_EQ(jobel["attrib"]["name"], "shot_one");
  const json& layer = child(child(jobel, "layers"), "layer");
  EXPECT_EQ(layer["attrib"]["type"], "Render");
  tags.clear();
  for (const auto& c : layer["children"]) tags.push_back(c["tag"]);
  EXPECT_EQ(tags, (std::vector<std::string>{"cmd", "range", "chunk", "services"}));
  EXPECT_EQ(child(child(layer, "services"), "service")["text"], "shell");

  // Dispatch as cuebot does: one frame per chunk start, #FRAME_START#/#FRAME_END# replaced, run by a shell.
  const auto [first, last] = split_range(child(layer, "range")["text"]);
  const int64_t chunk = std::stoll(child(layer, "chunk")["text"].get<std::string>());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(last, 7);
  EXPECT_EQ(chunk, 3);
  const std::string cmd = child(layer, "cmd")["text"];
  for (int64_t a = first; a <= last; a += chunk) {
    std::string c = std::regex_replace(cmd, std::regex("#FRAME_START#"), std::to_string(a));
    c = std::regex_replace(c, std::regex("#FRAME_END#"), std::to_string(std::min(a + chunk - 1, last)));
    const Outcome t = shell(c);
    ASSERT_EQ(t.code, 0) << c << "\n" << t.out;
  }
  expect_every_frame();
}

TEST_F(ExportJob, CuecmdListHasOneShellCommandPerChunk) {
  const fs::path job = dir / "commands.txt";
  ASSERT_EQ(export_job("cuecmd", job).code, 0);
  std::istringstream lines(read_text(job));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    const Outcome t = shell(line);
    ASSERT_EQ(t.code, 0) << line << "\n" << t.out;
  }
  EXPECT_EQ(n, 3);
  expect_every_frame();
}

TEST_F(ExportJob, ChunksCoverNegativeFramesAndAShortLastChunk) {
  const fs::path job = dir / "commands.txt";
  ASSERT_EQ(lattice({"--export-job", "cuecmd", project.string(), "--frames", "-3-3", "--chunk", "4", "-o", job.string()}).code, 0);
  const std::string text = read_text(job);
  EXPECT_NE(text.find(" --frames -3-0 "), std::string::npos) << text;
  EXPECT_NE(text.find(" --frames 1-3 "), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  ASSERT_EQ(lattice({"--export-job", "cuecmd", project.string(), "--frames", "5", "--chunk", "10", "-o", job.string()}).code, 0);
  EXPECT_NE(read_text(job).find(" --frames 5-5 "), std::string::npos) << read_text(job);
}

TEST_F(ExportJob, BadOptionsExitWith2AndWriteNothing) {
  const fs::path job = dir / "job.yaml";
  const std::string p = project.string(), o = job.string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--export-job", "openjd", p, "--frames", "7-1", "-o", o}, "--frames expects A-B with A <= B"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--chunk", "0", "-o", o}, "--chunk expects a whole number"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--chunk", "3x", "-o", o}, "--chunk expects a whole number"},
      {{"--export-job", "openjd", p, "--frames", "1-7"}, "needs -o OUT"},
      {{"--export-job", "openjd", p, "-o", o}, "needs --frames"},
      {{"--export-job", "slurm", p, "--frames", "1-7", "-o", o}, "expects openjd, opencue or cuecmd"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--bogus", "-o", o}, "unknown argument '--bogus'"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--set", "nope.width=3", "-o", o}, "no node with id 'nope'"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--set", "bg.width=zero", "-o", o}, "cannot use 'zero'"},
      {{"--export-job", "openjd", p, "--frames", "1-7", "--set", "save.path={{x}}.png", "-o", o}, "contains '{{'"},
      {{"--export-job", "opencue", p, "--frames", "1-7", "--show", "a b", "-o", o}, "OpenCue names"},
      {{"--export-job", "openjd", p, "--frames", "1-3000", "--chunk", "2", "--openjd-chunks", "list", "-o", o}, "at most 1024"},
      {{"--export-job", "cuecmd", p, "--frames", "1-1000000", "-o", o}, "more than 100000 tasks"},
      {{"--export-job", "cuecmd", p, "--frames", "-9223372036854775808-9223372036854775807", "-o", o}, "more than 100000"},
      {{"--export-job", "openjd"}, "needs a KIND (openjd, opencue or cuecmd) and a FILE"},
  };
  for (const auto& [args, message] : cases) {
    fs::remove(job);
    const Outcome r = lattice(args);
    EXPECT_EQ(r.code, 2) << args[1] << " " << args.back() << "\n" << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << "expected '" << message << "' in:\n" << r.out;
    EXPECT_FALSE(fs::exists(job)) << r.out;
  }
}

TEST_F(ExportJob, UnreadableProjectExitsWith3) {
  const fs::path job = dir / "job.yaml";
  Outcome r = lattice({"--export-job", "openjd", (dir / "missing.lattice").string(), "--frames", "1-2", "-o", job.string()});
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("missing.lattice: no such file"), std::string::npos) << r.out;
  std::ofstream(dir / "broken.lattice") << R"({"lattice": 1, "nodes": [{"id": "x", "type": "no.such.node"}]})";
  r = lattice({"--export-job", "opencue", (dir / "broken.lattice").string(), "--frames", "1-2", "-o", job.string()});
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("no.such.node"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(job));
}

TEST_F(ExportJob, WarnsWhenEveryFrameWouldOverwriteOneFile) {
  const std::string example = std::string(LATTICE_SOURCE_DIR) + "/examples/default.lattice";
  const Outcome r = lattice({"--export-job", "cuecmd", example, "--frames", "1-3", "-o", (dir / "c.txt").string()});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("every frame writes the same file"), std::string::npos) << r.out;
}

}  // namespace
