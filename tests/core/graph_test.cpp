#include "core/graph.h"

#include <gtest/gtest.h>

#include "core/document.h"
#include "core/error.h"
#include "tests/support/test_nodes.h"

namespace lattice {
namespace {

class GraphTest : public ::testing::Test {
 protected:
  void SetUp() override { test::register_test_nodes(); }
  static Graph parse(const char* json) { return parse_graph(json, "test"); }
};

bool mentions(const std::vector<Problem>& ps, const std::string& text, const std::vector<std::string>& ids) {
  for (const auto& p : ps)
    if (p.message.find(text) != std::string::npos) {
      bool all = true;
      for (const auto& id : ids) all &= std::find(p.node_ids.begin(), p.node_ids.end(), id) != p.node_ids.end();
      if (all) return true;
    }
  return false;
}

TEST_F(GraphTest, ValidGraphHasNoProblems) {
  auto g = parse(R"({"lattice":1,"nodes":[{"id":"s","type":"test.source"},
      {"id":"a","type":"test.add","inputs":{"a":{"node":"s","output":"out"}}}]})");
  EXPECT_TRUE(validate(g).empty());
}

TEST_F(GraphTest, CycleIsReportedWithTheNodesOnIt) {
  auto g = parse(R"({"lattice":1,"nodes":[
      {"id":"x","type":"test.add","inputs":{"a":{"node":"z","output":"out"}}},
      {"id":"y","type":"test.add","inputs":{"a":{"node":"x","output":"out"}}},
      {"id":"z","type":"test.add","inputs":{"a":{"node":"y","output":"out"}}},
      {"id":"free","type":"test.source"}]})");
  auto ps = validate(g);
  EXPECT_TRUE(mentions(ps, "cycle", {"x", "y", "z"}));
  for (const auto& p : ps)
    EXPECT_EQ(std::find(p.node_ids.begin(), p.node_ids.end(), "free"), p.node_ids.end());
  EXPECT_THROW(require_valid(g), Error);
}

TEST_F(GraphTest, TypeMismatchNamesBothNodes) {
  auto g = parse(R"({"lattice":1,"nodes":[{"id":"img","type":"test.image"},
      {"id":"sum","type":"test.add","inputs":{"a":{"node":"img","output":"image"}}}]})");
  EXPECT_TRUE(mentions(validate(g), "expects number but 'img.image' is image", {"sum", "img"}));
}

TEST_F(GraphTest, MissingRequiredInputUnknownTypeAndBadPorts) {
  auto g = parse(R"({"lattice":1,"nodes":[
      {"id":"lonely","type":"test.add"},
      {"id":"what","type":"no.such.node"},
      {"id":"bad","type":"test.add","inputs":{"a":{"node":"ghost","output":"out"},"zz":{"node":"lonely","output":"out"}}},
      {"id":"port","type":"test.add","inputs":{"a":{"node":"lonely","output":"nope"}}}]})");
  auto ps = validate(g);
  EXPECT_TRUE(mentions(ps, "required input 'a' is not connected", {"lonely"}));
  EXPECT_TRUE(mentions(ps, "unknown type 'no.such.node'", {"what"}));
  EXPECT_TRUE(mentions(ps, "missing node 'ghost'", {"bad"}));
  EXPECT_TRUE(mentions(ps, "has no input 'zz'", {"bad"}));
  EXPECT_TRUE(mentions(ps, "has no output 'nope'", {"port", "lonely"}));
}

TEST_F(GraphTest, ParameterTypeAndRangeChecks) {
  auto g = parse(R"({"lattice":1,"nodes":[
      {"id":"a","type":"test.source","params":{"value":"seven"}},
      {"id":"b","type":"test.slow","params":{"steps":0},"inputs":{"a":{"node":"c","output":"out"}}},
      {"id":"c","type":"test.source","params":{"nonsense":1}},
      {"id":"a","type":"test.source"},
      {"id":"bad id!","type":"test.source"}]})");
  auto ps = validate(g);
  EXPECT_TRUE(mentions(ps, "parameter 'value': expected a number", {"a"}));
  EXPECT_TRUE(mentions(ps, "outside the range [1, 1000]", {"b"}));
  EXPECT_TRUE(mentions(ps, "has no parameter 'nonsense'", {"c"}));
  EXPECT_TRUE(mentions(ps, "duplicate node id 'a'", {"a"}));
  EXPECT_TRUE(mentions(ps, "is not valid", {"bad id!"}));
}

TEST_F(GraphTest, AParametersOwnCheckFollowsItsTypeCheck) {
  ParamDesc p{"path", ParamType::OutPath, "a.mp4", ""};
  p.check = [](const Json& v) -> std::optional<std::string> {
    if (v.get<std::string>().ends_with(".mp4")) return std::nullopt;
    return "not a movie";
  };
  EXPECT_EQ(check_param_value(p, "b.mp4"), std::nullopt);
  EXPECT_EQ(check_param_value(p, "b.avi"), "not a movie");
  EXPECT_NE(check_param_value(p, 3).value_or("").find("expected a string"), std::string::npos);  // the check sees strings only
  // resolved_params (what the engine runs with) applies it, as validate() does to explicit values.
  NodeDesc d;
  d.type = "test.movie";
  d.params = {p};
  Node n{"m", "test.movie"};
  n.params = {{"path", "b.avi"}};
  try {
    resolved_params(n, d);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_EQ(std::string(e.what()), "node 'm' (test.movie): parameter 'path': not a movie");
  }
}

TEST_F(GraphTest, ParseParamTextFollowsTheParameterType) {
  ParamDesc f{"x", ParamType::Float, 0.0, "", 0, 10};
  EXPECT_EQ(parse_param_text(f, "2.5").get<double>(), 2.5);
  EXPECT_THROW(parse_param_text(f, "11"), Error);
  EXPECT_THROW(parse_param_text(f, "2.5x"), Error);
  ParamDesc c{"m", ParamType::Choice, "a", "", -INFINITY, INFINITY, {"a", "b"}};
  EXPECT_EQ(parse_param_text(c, "b").get<std::string>(), "b");
  try {
    parse_param_text(c, "q");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("not one of: a, b"), std::string::npos);
  }
  ParamDesc b{"on", ParamType::Bool, false, ""};
  EXPECT_EQ(parse_param_text(b, "true").get<bool>(), true);
  ParamDesc s{"seed", ParamType::Seed, 0, ""};
  EXPECT_EQ(parse_param_text(s, "18446744073709551615").get<uint64_t>(), 18446744073709551615ull);
  EXPECT_THROW(parse_param_text(s, "-1"), Error);
}

TEST_F(GraphTest, TopologicalOrderPutsInputsFirst) {
  auto g = parse(R"({"lattice":1,"nodes":[
      {"id":"c","type":"test.add","inputs":{"a":{"node":"b","output":"out"}}},
      {"id":"b","type":"test.add","inputs":{"a":{"node":"a","output":"out"}}},
      {"id":"a","type":"test.source"}]})");
  auto order = topological_order(g);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(g.nodes[order[0]].id, "a");
  EXPECT_EQ(g.nodes[order[1]].id, "b");
  EXPECT_EQ(g.nodes[order[2]].id, "c");
}

}  // namespace
}  // namespace lattice
