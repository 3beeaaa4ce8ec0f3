// Pure graph edits (no Qt): ids, cycles, extraction, runnable subsets, fuzzy catalogue matching.
#include "app/editor/graph_edits.h"

#include <gtest/gtest.h>

#include "app/editor/catalog_model.h"
#include "core/document.h"

namespace lattice::editor {
namespace {

Graph chain() {
  return parse_graph(R"({"lattice":1,"nodes":[
    {"id":"n","type":"value.number"},
    {"id":"m1","type":"value.math","inputs":{"a":{"node":"n","output":"value"}}},
    {"id":"m2","type":"value.math","inputs":{"a":{"node":"m1","output":"value"}}},
    {"id":"lone","type":"value.math"}]})");
}

TEST(GraphEdits, UniqueIdUsesTheLastDottedPart) {
  const Graph g = chain();
  EXPECT_EQ(unique_id(g, "value.math"), "math1");
  EXPECT_EQ(unique_id(g, "value.math", {"math1"}), "math2");
  EXPECT_TRUE(is_valid_node_id(unique_id(g, "weird.ty pe!")));
}

TEST(GraphEdits, DependsOnFollowsInputs) {
  const Graph g = chain();
  EXPECT_TRUE(depends_on(g, "m2", "n"));
  EXPECT_FALSE(depends_on(g, "n", "m2"));
  EXPECT_EQ(downstream(g, {"m1"}), (std::set<std::string>{"m1", "m2"}));
  EXPECT_TRUE(connection_problem(g, "m2", "value", "m1", "b").has_value());
  EXPECT_FALSE(connection_problem(g, "n", "value", "m2", "b").has_value());
}

TEST(GraphEdits, RunnableExcludesInvalidNodesAndWhatTheyFeed) {
  Graph g = chain();
  std::map<std::string, std::string> problems;
  auto ok = runnable_nodes(g, &problems);
  // "lone" misses its required input a.
  EXPECT_EQ(ok, (std::set<std::string>{"n", "m1", "m2"}));
  ASSERT_TRUE(problems.count("lone"));
  g.find("m1")->params["op"] = "nonsense";
  ok = runnable_nodes(g, &problems);
  EXPECT_EQ(ok, (std::set<std::string>{"n"}));
  EXPECT_TRUE(problems.count("m2"));
  EXPECT_TRUE(validate(restrict_to(g, ok)).empty());
}

TEST(GraphEdits, ExtractKeepsOnlyInnerConnections) {
  const Graph part = extract(chain(), {"m1", "m2"});
  ASSERT_EQ(part.nodes.size(), 2u);
  EXPECT_TRUE(part.find("m1")->inputs.empty());
  EXPECT_EQ(part.find("m2")->inputs.at("a").node, "m1");
}

TEST(FuzzyScore, SubsequenceWithWordStartBonus) {
  EXPECT_LT(fuzzy_score("xyz", "value.math"), 0);
  EXPECT_GE(fuzzy_score("vm", "value.math"), 0);
  EXPECT_GT(fuzzy_score("math", "value.math"), fuzzy_score("math", "value.mxaxtxh"));
  EXPECT_EQ(fuzzy_score("", "anything"), 0);
}

}  // namespace
}  // namespace lattice::editor
