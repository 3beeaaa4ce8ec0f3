#include "core/document.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("lattice_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const char* kDoc = R"({
  "lattice": 1,
  "future_top_level": {"keep": [1, 2, 3]},
  "nodes": [
    {"id": "s", "type": "test.source", "params": {"value": 3.5}, "ui": {"x": 10, "y": -4, "color": "#ff0000"},
     "comment": "unknown node key", "inputs": {}},
    {"id": "a", "type": "test.add", "params": {}, "inputs": {"a": {"node": "s", "output": "out"}}, "ui": {}}
  ],
  "zzz_last": null
})";

TEST(Document, RoundTripIsLosslessIncludingUnknownKeys) {
  Graph g = parse_graph(kDoc);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].extra["comment"], "unknown node key");
  EXPECT_EQ(g.extra["future_top_level"]["keep"][2], 3);
  const std::string once = serialize_graph(g);
  const std::string twice = serialize_graph(parse_graph(once));
  EXPECT_EQ(once, twice);
  // Semantically equal to the input, key for key.
  Json in = Json::parse(kDoc), out = Json::parse(once);
  EXPECT_EQ(in["future_top_level"], out["future_top_level"]);
  EXPECT_TRUE(out.contains("zzz_last"));
  EXPECT_EQ(in["nodes"][0]["ui"], out["nodes"][0]["ui"]);
  EXPECT_EQ(in["nodes"][0]["comment"], out["nodes"][0]["comment"]);
  EXPECT_EQ(in["nodes"][1]["inputs"], out["nodes"][1]["inputs"]);
  EXPECT_EQ(in["nodes"][0]["params"], out["nodes"][0]["params"]);
}

TEST(Document, NewerMajorVersionIsRefused) {
  const std::string next = std::to_string(kLatticeFormatVersion + 1);
  try {
    parse_graph(R"({"lattice": )" + next + R"(, "nodes": []})", "future.lattice");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("future.lattice: format version " + next + " is newer"), std::string::npos) << e.what();
  }
}

// Format 2 changed ltx.encode_image's `sample` default to true: a format 1 node that left it out keeps the
// mean (an explicit false), one that set it keeps its value, and format 2 files and other types are untouched.
TEST(Document, VersionOneNodesKeepTheDefaultsTheyWereSavedWith) {
  const char* nodes = R"("nodes": [
      {"id": "bare", "type": "ltx.encode_image"},
      {"id": "seeded", "type": "ltx.encode_image", "params": {"seed": 4}},
      {"id": "sampled", "type": "ltx.encode_image", "params": {"sample": true}},
      {"id": "other", "type": "vae.encode", "params": {}}]})";
  const Graph old = parse_graph(std::string(R"({"lattice": 1, )") + nodes);
  EXPECT_EQ(old.find("bare")->params, (Json{{"sample", false}}));
  EXPECT_EQ(old.find("seeded")->params, (Json{{"seed", 4}, {"sample", false}}));
  EXPECT_EQ(old.find("sampled")->params, (Json{{"sample", true}}));
  EXPECT_EQ(old.find("other")->params, Json::object());
  // Saved as the current format, the explicit value keeps the meaning through the next load.
  const Json saved = Json::parse(serialize_graph(old));
  EXPECT_EQ(saved["lattice"], kLatticeFormatVersion);
  EXPECT_EQ(parse_graph(saved.dump()).find("bare")->params, (Json{{"sample", false}}));
  // Version 0 files are version 1 files after their own migration.
  EXPECT_EQ(parse_graph(R"({"lattice": 0, "nodes": {"bare": {"type": "ltx.encode_image"}}})").find("bare")->params,
            (Json{{"sample", false}}));
  const Graph current = parse_graph(R"({"lattice": )" + std::to_string(kLatticeFormatVersion) + ", " + nodes);
  EXPECT_EQ(current.find("bare")->params, Json::object());
  EXPECT_EQ(current.find("seeded")->params, (Json{{"seed", 4}}));
}

// Format 3 changed flux.sample's `schedule` default from dev to auto (the transformer's): a format 1 or 2 node
// that left it out keeps dev's schedule (an explicit "dev"), one that set it keeps its value, format 3 files are
// untouched.
TEST(Document, OlderFluxSamplersKeepTheDevSchedule) {
  const char* nodes = R"("nodes": [
      {"id": "bare", "type": "flux.sample", "params": {"steps": 4}},
      {"id": "set", "type": "flux.sample", "params": {"schedule": "schnell"}}]})";
  for (int version : {1, 2}) {
    const Graph old = parse_graph(R"({"lattice": )" + std::to_string(version) + ", " + nodes);
    EXPECT_EQ(old.find("bare")->params, (Json{{"steps", 4}, {"schedule", "dev"}})) << version;
    EXPECT_EQ(old.find("set")->params, (Json{{"schedule", "schnell"}})) << version;
  }
  const Graph current = parse_graph(R"({"lattice": 3, )" + std::string(nodes));
  EXPECT_EQ(current.find("bare")->params, (Json{{"steps", 4}}));
}

TEST(Document, VersionZeroIsMigrated) {
  Graph g = parse_graph(R"({"lattice": 0, "extra": 1, "nodes": {
      "s": {"type": "test.source", "params": {"value": 2}},
      "a": {"type": "test.add", "inputs": {"a": "s.out"}}}})");
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].id, "a");
  EXPECT_EQ(g.nodes[1].inputs.at("a"), (Connection{"s", "out"}));
  EXPECT_EQ(g.extra["extra"], 1);
  EXPECT_EQ(Json::parse(serialize_graph(g))["lattice"], kLatticeFormatVersion);
}

TEST(Document, MalformedInputsGiveOneLineErrorsNamingTheFile) {
  const char* bad[] = {
      R"({"lattice": 1, "nodes": [)",                        // truncated
      R"([1, 2])",                                           // not an object
      R"({"nodes": []})",                                    // no version
      R"({"lattice": "1", "nodes": []})",                    // version not an integer
      R"({"lattice": 1, "nodes": {}})",                      // nodes not an array
      R"({"lattice": 1, "nodes": [{"type": "x"}]})",         // no id
      R"({"lattice": 1, "nodes": [{"id": "a"}]})",           // no type
      R"({"lattice": 1, "nodes": [{"id": "a", "type": "x", "params": []}]})",
      R"({"lattice": 1, "nodes": [{"id": "a", "type": "x", "inputs": {"p": "b.out"}}]})",
      R"({"lattice": 1, "nodes": [{"id": "a", "type": "x", "ui": 3}]})",
      "",
      R"({"lattice": 1, "nodes": [], "big": 7777777.5E22222222})",  // number overflow (found by libFuzzer)
  };
  for (const char* text : bad) {
    try {
      parse_graph(text, "broken.lattice");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      const std::string m = e.what();
      EXPECT_EQ(m.rfind("broken.lattice", 0), 0u) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
}

TEST(Document, SaveIsAtomicAndAFailedSaveKeepsThePreviousFile) {
  const fs::path dir = temp_dir("save");
  const fs::path file = dir / "project.lattice";
  Graph g = parse_graph(kDoc);
  save_graph_file(g, file);
  const std::string before = read_file(file);
  EXPECT_EQ(load_graph_file(file).nodes.size(), 2u);

  // Simulate a full disk: a file-size limit makes write() fail part-way (EFBIG).
  Graph big = g;
  big.extra["padding"] = std::string(1 << 20, 'x');
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  EXPECT_THROW(save_graph_file(big, file), Error);
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(read_file(file), before);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) (void)e, ++entries;
  EXPECT_EQ(entries, 1) << "a temporary file was left behind";

  // A save into a missing folder fails cleanly too.
  EXPECT_THROW(save_graph_file(g, dir / "no" / "such" / "dir.lattice"), Error);
  fs::remove_all(dir);
}

TEST(Document, MissingFileNamesThePath) {
  try {
    load_graph_file("/nonexistent/dir/x.lattice");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.lattice"), std::string::npos);
  }
}

}  // namespace
}  // namespace lattice
