// NodeListModel: a batch of state reports leaves every node in its last reported state and notifies each
// run of consecutive changed rows once, and only rows that really changed (rows out of view once they come
// into view); setGraph remakes only the rows of the nodes it is told were touched.
#include "app/editor/node_list_model.h"

#include <gtest/gtest.h>

#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

class NodeListModelStates : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    Graph g;
    for (int i = 0; i < 8; ++i) g.nodes.push_back(Node{.id = "n" + std::to_string(i), .type = "value.number"});
    model.setGraph(g);
    ASSERT_EQ(model.rowCount(), 8);
    QObject::connect(&model, &QAbstractItemModel::dataChanged,
                     [this](const QModelIndex& top, const QModelIndex& bottom, const QList<int>& roles) {
                       ranges.emplace_back(top.row(), bottom.row());
                       EXPECT_TRUE(roles.contains(NodeListModel::StateRole));
                     });
  }
  /// The state the model answers through its role, as QML reads it.
  QString role_state(int row) const { return model.data(model.index(row), NodeListModel::StateRole).toString(); }

  NodeListModel model;
  std::vector<std::pair<int, int>> ranges;  // dataChanged rows, first and last
};

TEST_F(NodeListModelStates, ABatchLeavesEveryNodeInItsLastReportedState) {
  model.setStates({{"n1", "queued"}, {"n2", "queued"}, {"n3", "queued"}, {"n1", "running", 0.5, "step 1/2"},
                   {"n6", "cached"}, {"n2", "running"}, {"n1", "done", 1, "3.0 ms"}, {"n2", "failed", 0, "bad input"},
                   {"nobody", "done"}});
  EXPECT_EQ(model.state("n1"), "done");
  EXPECT_EQ(model.message("n1"), "3.0 ms");
  EXPECT_DOUBLE_EQ(model.progress("n1"), 1.0);
  EXPECT_EQ(model.state("n2"), "failed");
  EXPECT_EQ(model.message("n2"), "bad input");
  EXPECT_EQ(model.state("n3"), "queued");
  EXPECT_EQ(model.state("n6"), "cached");
  EXPECT_EQ(model.state("n0"), "idle");
  EXPECT_EQ(role_state(1), "done");
  EXPECT_EQ(role_state(6), "cached");
  // Rows 1-3 in one notification, row 6 in another; none for the unknown id or untouched rows.
  EXPECT_EQ(ranges, (std::vector<std::pair<int, int>>{{1, 3}, {6, 6}}));
}

TEST_F(NodeListModelStates, RowsThatEndWhereTheyStartedAreNotNotified) {
  model.setStates({{"n4", "done", 1, "1.0 ms"}, {"n5", "done", 1, "1.0 ms"}});
  ranges.clear();
  // n4 goes through a run and ends as it was; n5 changes; n7 is reported as it already is.
  model.setStates({{"n4", "queued"}, {"n5", "queued"}, {"n4", "running"}, {"n4", "done", 1, "1.0 ms"},
                   {"n5", "done", 1, "2.0 ms"}, {"n7", "idle"}});
  EXPECT_EQ(ranges, (std::vector<std::pair<int, int>>{{5, 5}}));
  EXPECT_EQ(model.message("n5"), "2.0 ms");
  ranges.clear();
  model.setStates({});
  model.setState("n5", "done", 1, "2.0 ms");
  EXPECT_TRUE(ranges.empty());
  model.setState("n0", "dirty");
  EXPECT_EQ(ranges, (std::vector<std::pair<int, int>>{{0, 0}}));
  EXPECT_EQ(role_state(0), "dirty");
}

// A row out of view (its delegate hidden; zoomed far out, every row) hears of its state only through
// statesChanged; dataChanged tells it the state roles once it comes into view, if they changed meanwhile.
TEST(NodeListModelView, RowsOutOfViewGetTheirStateRolesWhenTheyComeIntoView) {
  test::qt_app();
  Graph g;
  for (int i = 0; i < 6; ++i) g.nodes.push_back(Node{.id = "n" + std::to_string(i), .type = "value.number"});
  NodeListModel model;
  model.setGraph(g);
  std::vector<std::pair<int, int>> told;             // statesChanged: first, last
  std::vector<std::pair<int, QList<int>>> notified;  // dataChanged: one row, its roles
  QObject::connect(&model, &NodeListModel::statesChanged, [&](int first, int last) { told.emplace_back(first, last); });
  QObject::connect(&model, &QAbstractItemModel::dataChanged,
                   [&](const QModelIndex& top, const QModelIndex& bottom, const QList<int>& roles) {
                     for (int r = top.row(); r <= bottom.row(); ++r) notified.emplace_back(r, roles);
                   });
  const QList<int> state_roles{NodeListModel::StateRole, NodeListModel::ProgressRole, NodeListModel::MessageRole};
  const QList<int> entering = QList<int>{NodeListModel::InViewRole} + state_roles;
  model.setViewRect({}, false);  // zoomed far out: no row in view
  notified.clear();
  model.setStates({{"n1", "queued"}, {"n2", "queued"}, {"n4", "failed", 0, "boom"}, {"n2", "done", 1, "2.0 ms"}});
  EXPECT_EQ(told, (std::vector<std::pair<int, int>>{{1, 2}, {4, 4}}));
  EXPECT_TRUE(notified.empty());
  EXPECT_EQ(model.data(model.index(4), NodeListModel::MessageRole).toString(), "boom") << "the roles answer as ever";
  model.setViewRect({}, true);  // every row in view again
  ASSERT_EQ(notified.size(), 6u);
  for (const auto& [row, roles] : notified)
    EXPECT_EQ(roles, (row == 1 || row == 2 || row == 4) ? entering : QList<int>{NodeListModel::InViewRole}) << row;
  // In view: told at once, through both.
  told.clear();
  notified.clear();
  model.setState("n1", "done");
  EXPECT_EQ(told, (std::vector<std::pair<int, int>>{{1, 1}}));
  EXPECT_EQ(notified, (std::vector<std::pair<int, QList<int>>>{{1, state_roles}}));
  // Out and back in with no change meanwhile: nothing stale.
  model.setViewRect({}, false);
  notified.clear();
  model.setViewRect({}, true);
  for (const auto& [row, roles] : notified) EXPECT_EQ(roles, QList<int>{NodeListModel::InViewRole}) << row;
}

}  // namespace
}  // namespace lattice::editor

namespace lattice::editor {
namespace {

TEST(NodeListModelGraph, OnlyTouchedAndNewNodesGetNewRows) {
  test::qt_app();
  NodeListModel model;
  Graph g;
  for (const char* id : {"a", "b"}) g.nodes.push_back(Node{.id = id, .type = "value.number", .ui = {{"x", 0}, {"y", 0}}});
  model.setGraph(g);
  g.nodes[0].ui = {{"x", 10}, {"y", 0}};
  g.nodes[1].ui = {{"x", 20}, {"y", 0}};
  g.nodes.push_back(Node{.id = "c", .type = "value.number", .ui = {{"x", 30}, {"y", 0}}});
  const std::set<std::string> touched{"b"};
  model.setGraph(g, NodeRegistry::instance(), &touched);
  ASSERT_EQ(model.rowCount(), 3);
  EXPECT_EQ(model.rows()[0].pos.x(), 0) << "not touched: its row is kept as it was";
  EXPECT_EQ(model.rows()[1].pos.x(), 20);
  EXPECT_EQ(model.rows()[2].pos.x(), 30) << "new to the model: made whatever `touched` says";
  model.setGraph(g);
  EXPECT_EQ(model.rows()[0].pos.x(), 10) << "no set: every row made again";
}

}  // namespace
}  // namespace lattice::editor
