// GraphDocument's request methods, without QML: validation, all-or-nothing, exact undo, merging,
// clipboard and files. Node types are taken from the registry by their ports, never by name where a test
// only needs "some node with a Number output".
#include "app/editor/graph_document.h"

#include <gtest/gtest.h>

#include <QDir>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QUrl>
#include <QClipboard>

#include "tests/app/editor/qt_test_app.h"
#include "core/document.h"

namespace lattice::editor {
namespace {

class GraphDocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    doc.setAutoRun(false);
  }
  GraphDocument doc;
};

// The basic nodes (nodes/basic) are the ones this build always has.
TEST_F(GraphDocumentTest, AddNodeGivesUniqueIdsPositionAndUndoStep) {
  const QString a = doc.addNode("value.number", 10, 20);
  const QString b = doc.addNode("value.number", 30, 40);
  ASSERT_FALSE(a.isEmpty());
  ASSERT_FALSE(b.isEmpty());
  EXPECT_NE(a, b);
  EXPECT_EQ(doc.nodes()->rowCount(), 2);
  const Node* n = doc.graph().find(b.toStdString());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->ui["x"], 30);
  EXPECT_EQ(n->ui["y"], 40);
  EXPECT_EQ(doc.undoStack()->count(), 2);
  EXPECT_TRUE(doc.dirty());
  EXPECT_EQ(doc.currentNode(), b);
}

// NodeListModel::indexOf answers from an index: it must follow removals, additions and undo.
TEST_F(GraphDocumentTest, NodeRowsAreFoundByIdAfterRemovalsAndAdditions) {
  QStringList ids;
  for (int i = 0; i < 5; ++i) ids << doc.addNode("value.number", 10.0 * i, 0);
  auto row_of = [&](const QString& id) {
    const int i = doc.nodes()->indexOf(id);
    return i < 0 ? QString() : doc.nodes()->rows()[static_cast<size_t>(i)].key;
  };
  for (const auto& id : ids) EXPECT_EQ(row_of(id), id);
  ASSERT_TRUE(doc.removeNodes({ids[1], ids[3]}));
  EXPECT_EQ(doc.nodes()->indexOf(ids[1]), -1);
  EXPECT_EQ(doc.nodes()->indexOf(ids[3]), -1);
  for (const QString& id : {ids[0], ids[2], ids[4]}) EXPECT_EQ(row_of(id), id);
  const QString added = doc.addNode("value.number", 0, 100);
  EXPECT_EQ(row_of(added), added);
  doc.undoStack()->undo();  // the addition (its id may be a removed one's again)
  EXPECT_EQ(doc.nodes()->indexOf(added), -1);
  doc.undoStack()->undo();  // the removal
  for (const auto& id : ids) EXPECT_EQ(row_of(id), id);
  EXPECT_EQ(doc.nodes()->indexOf("no-such-node"), -1);
}

TEST_F(GraphDocumentTest, AddUnknownTypeChangesNothing) {
  const QString before = doc.graphJson();
  EXPECT_TRUE(doc.addNode("no.such.type", 0, 0).isEmpty());
  EXPECT_EQ(doc.graphJson(), before);
  EXPECT_EQ(doc.undoStack()->count(), 0);
  EXPECT_TRUE(doc.lastError().contains("no.such.type"));
}

TEST_F(GraphDocumentTest, ConnectRefusesTypeMismatchAndCycles) {
  const QString num = doc.addNode("value.number", 0, 0);
  const QString str = doc.addNode("value.string", 0, 100);
  const QString m1 = doc.addNode("value.math", 200, 0);
  const QString m2 = doc.addNode("value.math", 400, 0);
  const int steps = doc.undoStack()->count();
  const QString before = doc.graphJson();

  // string -> number input: refused, nothing changes
  EXPECT_FALSE(doc.connectPorts(str, "value", m1, "a"));
  EXPECT_TRUE(doc.lastError().contains("string")) << doc.lastError().toStdString();
  EXPECT_FALSE(doc.connectionProblem(str, "value", m1, "a").isEmpty());
  // unknown ports and nodes
  EXPECT_FALSE(doc.connectPorts(num, "nope", m1, "a"));
  EXPECT_FALSE(doc.connectPorts(num, "value", m1, "nope"));
  EXPECT_FALSE(doc.connectPorts("ghost", "value", m1, "a"));
  // an input used as an output
  EXPECT_FALSE(doc.connectPorts(m1, "a", m2, "a"));
  EXPECT_EQ(doc.graphJson(), before);
  EXPECT_EQ(doc.undoStack()->count(), steps);

  EXPECT_TRUE(doc.connectPorts(num, "value", m1, "a"));
  EXPECT_TRUE(doc.connectPorts(m1, "value", m2, "a"));
  EXPECT_EQ(doc.edges()->rowCount(), 2);
  const QString connected = doc.graphJson();
  // m2 -> m1 would close m1 -> m2 -> m1; a node into itself too
  EXPECT_FALSE(doc.connectPorts(m2, "value", m1, "b"));
  EXPECT_TRUE(doc.lastError().contains("cycle"));
  EXPECT_FALSE(doc.connectPorts(m1, "value", m1, "b"));
  // connecting twice is not a change
  EXPECT_FALSE(doc.connectPorts(num, "value", m1, "a"));
  EXPECT_EQ(doc.graphJson(), connected);
  EXPECT_TRUE(validate(doc.graph()).empty());
}

TEST_F(GraphDocumentTest, UndoRedoRestoresExactJson) {
  std::vector<QString> states{doc.graphJson()};
  const QString a = doc.addNode("value.number", 0, 0);
  states.push_back(doc.graphJson());
  const QString m = doc.addNode("value.math", 200, 0);
  states.push_back(doc.graphJson());
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  states.push_back(doc.graphJson());
  ASSERT_TRUE(doc.setParam(m, "op", "mul"));
  states.push_back(doc.graphJson());
  ASSERT_TRUE(doc.moveNodes({a, m}, 15, -5));
  states.push_back(doc.graphJson());
  ASSERT_TRUE(doc.disconnectPort(m, "a"));
  states.push_back(doc.graphJson());
  ASSERT_TRUE(doc.removeNodes({a}));
  states.push_back(doc.graphJson());

  for (size_t i = states.size() - 1; i > 0; --i) {
    ASSERT_TRUE(doc.canUndo());
    doc.undo();
    EXPECT_EQ(doc.graphJson(), states[i - 1]) << "after undoing step " << i;
  }
  EXPECT_FALSE(doc.canUndo());
  EXPECT_FALSE(doc.dirty());
  for (size_t i = 1; i < states.size(); ++i) {
    doc.redo();
    EXPECT_EQ(doc.graphJson(), states[i]) << "after redoing step " << i;
  }
  // The models follow the graph.
  EXPECT_EQ(doc.nodes()->rowCount(), 1);
  EXPECT_EQ(doc.edges()->rowCount(), 0);
}

TEST_F(GraphDocumentTest, RemoveDropsConnectionsAndUndoBringsThemBack) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString m = doc.addNode("value.math", 200, 0);
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  const QString before = doc.graphJson();
  EXPECT_FALSE(doc.removeNodes({a, "ghost"}));  // all or nothing
  EXPECT_EQ(doc.graphJson(), before);
  ASSERT_TRUE(doc.removeNodes({a}));
  EXPECT_TRUE(doc.graph().find(m.toStdString())->inputs.empty());
  EXPECT_EQ(doc.edges()->rowCount(), 0);
  doc.undo();
  EXPECT_EQ(doc.graphJson(), before);
  EXPECT_EQ(doc.edges()->rowCount(), 1);
}

TEST_F(GraphDocumentTest, SetParamValidatesTypeRangeAndChoices) {
  const QString m = doc.addNode("value.math", 0, 0);
  const QString before = doc.graphJson();
  EXPECT_FALSE(doc.setParam(m, "op", "pow"));          // not a choice
  EXPECT_FALSE(doc.setParam(m, "b", "abc"));           // not a number
  EXPECT_FALSE(doc.setParam(m, "nope", 1.0));          // no such parameter
  EXPECT_FALSE(doc.setParam("ghost", "b", 1.0));       // no such node
  EXPECT_EQ(doc.graphJson(), before);
  EXPECT_TRUE(doc.setParam(m, "b", 2.5));
  EXPECT_FALSE(doc.setParam(m, "b", 2.5));             // same value: no step
  EXPECT_EQ(doc.graph().find(m.toStdString())->params["b"], 2.5);
  // The inspector shows the current node's parameters.
  EXPECT_EQ(doc.params()->rowCount(), 2);
  EXPECT_TRUE(doc.resetParam(m, "b"));
  EXPECT_FALSE(doc.graph().find(m.toStdString())->params.contains("b"));
}

TEST_F(GraphDocumentTest, ParameterDragMergesIntoOneUndoStep) {
  const QString m = doc.addNode("value.math", 0, 0);
  const QString before = doc.graphJson();
  const int steps = doc.undoStack()->count();
  for (double v : {0.1, 0.2, 0.3, 0.4}) ASSERT_TRUE(doc.setParam(m, "b", v, true));
  doc.endInteraction();
  EXPECT_EQ(doc.undoStack()->count(), steps + 1);
  EXPECT_EQ(doc.graph().find(m.toStdString())->params["b"], 0.4);
  // A second drag is a second step.
  for (double v : {1.0, 2.0}) ASSERT_TRUE(doc.setParam(m, "b", v, true));
  doc.endInteraction();
  EXPECT_EQ(doc.undoStack()->count(), steps + 2);
  doc.undo();
  EXPECT_EQ(doc.graph().find(m.toStdString())->params["b"], 0.4);
  doc.undo();
  EXPECT_EQ(doc.graphJson(), before);
}

TEST_F(GraphDocumentTest, NodeDragMergesIntoOneUndoStep) {
  const QString a = doc.addNode("value.number", 0, 0);
  const int steps = doc.undoStack()->count();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(doc.moveNodes({a}, 10, 1, true));
  doc.endInteraction();
  EXPECT_EQ(doc.undoStack()->count(), steps + 1);
  EXPECT_EQ(doc.graph().find(a.toStdString())->ui["x"], 50);
  doc.undo();
  EXPECT_EQ(doc.graph().find(a.toStdString())->ui["x"], 0);
}

TEST_F(GraphDocumentTest, DuplicateKeepsInputsAndRewiresInternalConnections) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString m1 = doc.addNode("value.math", 200, 0);
  const QString m2 = doc.addNode("value.math", 400, 0);
  ASSERT_TRUE(doc.connectPorts(a, "value", m1, "a"));
  ASSERT_TRUE(doc.connectPorts(m1, "value", m2, "a"));
  const QStringList copies = doc.duplicate({m1, m2});
  ASSERT_EQ(copies.size(), 2);
  EXPECT_EQ(doc.selection(), copies);
  const Node* c1 = doc.graph().find(copies[0].toStdString());
  const Node* c2 = doc.graph().find(copies[1].toStdString());
  EXPECT_EQ(c1->inputs.at("a").node, a.toStdString());        // from outside: kept
  EXPECT_EQ(c2->inputs.at("a").node, copies[0].toStdString()); // inside: rewired to the copy
  EXPECT_EQ(c1->ui["x"], 240);
  EXPECT_TRUE(validate(doc.graph()).empty());
  EXPECT_EQ(doc.undoStack()->undoText(), "Duplicate");
}

TEST_F(GraphDocumentTest, CopyPasteThroughClipboard) {
  const QString a = doc.addNode("value.number", 100, 100);
  const QString m = doc.addNode("value.math", 300, 120);
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  ASSERT_TRUE(doc.setParam(a, "value", 7.0));
  ASSERT_TRUE(doc.copy({a, m}));
  // The clipboard holds a .lattice document.
  const Graph part = parse_graph(QGuiApplication::clipboard()->text().toStdString());
  EXPECT_EQ(part.nodes.size(), 2u);
  ASSERT_TRUE(doc.paste(1000, 500));
  ASSERT_EQ(doc.nodeCount(), 4);
  const QStringList pasted = doc.selection();
  ASSERT_EQ(pasted.size(), 2);
  const Node* pa = doc.graph().find(pasted[0].toStdString());
  const Node* pm = doc.graph().find(pasted[1].toStdString());
  EXPECT_EQ(pa->params["value"], 7.0);
  EXPECT_EQ(pa->ui["x"], 1000);
  EXPECT_EQ(pm->ui["x"], 1200);
  EXPECT_EQ(pm->ui["y"], 520);
  EXPECT_EQ(pm->inputs.at("a").node, pa->id);

  const QString before = doc.graphJson();
  EXPECT_TRUE(doc.pasteText("not json", 0, 0).isEmpty());
  EXPECT_TRUE(doc.pasteText(R"({"lattice":1,"nodes":[{"id":"x","type":"no.such"}]})", 0, 0).isEmpty());
  EXPECT_EQ(doc.graphJson(), before);
}

TEST_F(GraphDocumentTest, SaveOpenRoundTripAndDirtyFlag) {
  QTemporaryDir dir;
  const QString a = doc.addNode("value.number", 10, 20);
  const QString m = doc.addNode("value.math", 210, 20);
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  ASSERT_TRUE(doc.setParam(m, "op", "max"));
  EXPECT_FALSE(doc.save());  // no file yet
  const QString path = dir.filePath("graph.lattice");
  ASSERT_TRUE(doc.saveAs(path)) << doc.lastError().toStdString();
  EXPECT_FALSE(doc.dirty());
  EXPECT_EQ(doc.displayName(), "graph.lattice");
  const QString saved = doc.graphJson();
  EXPECT_EQ(QString::fromStdString(serialize_graph(load_graph_file(path.toStdString()))), saved);

  ASSERT_TRUE(doc.moveNodes({a}, 5, 5));
  EXPECT_TRUE(doc.dirty());
  doc.undo();
  EXPECT_FALSE(doc.dirty());  // back at the saved state

  GraphDocument other;
  other.setAutoRun(false);
  ASSERT_TRUE(other.open(QUrl::fromLocalFile(path).toString()));
  EXPECT_EQ(other.graphJson(), saved);
  EXPECT_FALSE(other.dirty());
  EXPECT_EQ(other.edges()->rowCount(), 1);

  // A file that does not parse leaves the open document alone.
  EXPECT_FALSE(other.open(dir.filePath("missing.lattice")));
  EXPECT_EQ(other.graphJson(), saved);
  EXPECT_FALSE(other.lastError().isEmpty());

  other.newDocument();
  EXPECT_EQ(other.nodeCount(), 0);
  EXPECT_TRUE(other.filePath().isEmpty());
  EXPECT_FALSE(other.canUndo());
}

TEST_F(GraphDocumentTest, OpenPlacesNodesWithoutPositions) {
  QTemporaryDir dir;
  const QString path = dir.filePath("bare.lattice");
  QFile f(path);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write(R"({"lattice":1,"nodes":[{"id":"n","type":"value.number"},
            {"id":"m","type":"value.math","inputs":{"a":{"node":"n","output":"value"}}}]})");
  f.close();
  ASSERT_TRUE(doc.open(path));
  const QRectF b = doc.bounds();
  EXPECT_GT(b.width(), doc.nodeWidth());  // the two nodes are side by side, not stacked at 0,0
}

TEST_F(GraphDocumentTest, ExamplesFolderHoldsTheDefaultExample) {
  // From the build tree this is the source tree's examples/; installed, <prefix>/share/lattice/examples.
  const QUrl folder = doc.examplesFolder();
  ASSERT_TRUE(folder.isLocalFile()) << folder.toString().toStdString();
  EXPECT_TRUE(QFileInfo::exists(QDir(folder.toLocalFile()).filePath("default.lattice")));
  ASSERT_TRUE(doc.open(QDir(folder.toLocalFile()).filePath("default.lattice")));
  EXPECT_EQ(doc.nodeCount(), 5);
}

TEST_F(GraphDocumentTest, SelectionFollowsRectAndPrunesRemovedNodes) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.number", 500, 0);
  doc.selectInRect(-10, -10, 100, 100, false);
  EXPECT_EQ(doc.selection(), QStringList{a});
  doc.selectInRect(400, -10, 200, 100, true);
  EXPECT_EQ(doc.selection(), (QStringList{a, b}));
  ASSERT_TRUE(doc.removeSelected());
  EXPECT_TRUE(doc.selection().isEmpty());
}

// Culling (KeyedListModel::setView): a new view notifies only the rows that enter or leave it.
TEST_F(GraphDocumentTest, ViewRectNotifiesOnlyNodesThatEnterOrLeaveIt) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.math", 1000, 0);
  ASSERT_TRUE(doc.connectPorts(a, "value", b, "a"));
  NodeListModel* nodes = doc.nodes();
  auto in_view = [](QAbstractListModel* m, int row, int role) { return m->data(m->index(row), role).toBool(); };
  const int ra = nodes->indexOf(a), rb = nodes->indexOf(b);
  EXPECT_TRUE(in_view(nodes, ra, NodeListModel::InViewRole) && in_view(nodes, rb, NodeListModel::InViewRole))
      << "no view set: everything is drawn";
  QList<int> changed;
  QObject::connect(nodes, &QAbstractItemModel::dataChanged, [&](const QModelIndex& i, const QModelIndex&, const QList<int>& roles) {
    if (roles == QList<int>{NodeListModel::InViewRole}) changed << i.row();
  });

  nodes->setViewRect(QRectF(-50, -50, 400, 300));
  EXPECT_EQ(changed, QList<int>{rb}) << "only b left the view";
  EXPECT_TRUE(in_view(nodes, ra, NodeListModel::InViewRole));
  EXPECT_FALSE(in_view(nodes, rb, NodeListModel::InViewRole));

  changed.clear();
  nodes->setViewRect(QRectF(-40, -50, 400, 300));  // a pan step that changes nothing
  EXPECT_TRUE(changed.isEmpty());

  nodes->setViewRect(QRectF(3000, 0, 400, 300));
  EXPECT_EQ(changed, QList<int>{ra});

  // A node moved into the view is drawn: its row changes, and inView is read afresh.
  ASSERT_TRUE(doc.moveNodes({b}, 2200, 0));
  EXPECT_TRUE(in_view(nodes, nodes->indexOf(b), NodeListModel::InViewRole));

  changed.clear();
  nodes->setViewRect(QRectF());
  EXPECT_EQ(changed, QList<int>{ra}) << "a null view draws everything again";
}

// Zoomed far out (setViewRect with items false) no node is in view and a pan notifies nothing; zooming
// back in notifies the nodes in view.
TEST_F(GraphDocumentTest, ViewWithoutItemsPutsNoNodeInViewAndNotifiesNothingWhileSo) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.number", 1000, 0);
  NodeListModel* nodes = doc.nodes();
  nodes->setViewRect(QRectF(-50, -50, 400, 300));
  QList<int> changed;
  QObject::connect(nodes, &QAbstractItemModel::dataChanged,
                   [&](const QModelIndex& i, const QModelIndex&, const QList<int>&) { changed << i.row(); });
  auto in_view = [&](const QString& id) { return nodes->data(nodes->index(nodes->indexOf(id)), NodeListModel::InViewRole).toBool(); };
  nodes->setViewRect(QRectF(-50, -50, 400, 300), false);
  EXPECT_EQ(changed, QList<int>{nodes->indexOf(a)}) << "only a was shown";
  EXPECT_FALSE(in_view(a));
  changed.clear();
  nodes->setViewRect(QRectF(-50, -50, 3000, 300), false);  // a zoom out that takes in b too
  EXPECT_TRUE(changed.isEmpty());
  EXPECT_FALSE(in_view(b));
  nodes->setViewRect(QRectF(-50, -50, 3000, 300), true);
  EXPECT_EQ(changed, (QList<int>{nodes->indexOf(a), nodes->indexOf(b)}));
  EXPECT_TRUE(in_view(a) && in_view(b));
}

// The canvas's hit tests: the topmost node under a point, the nearest port with its centre.
TEST_F(GraphDocumentTest, NodeAtAndPortAtFindWhatIsUnderAPoint) {
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.math", 100, 10);  // overlaps a's right part, above it
  ASSERT_TRUE(doc.connectPorts(a, "value", b, "a"));
  EXPECT_EQ(doc.nodeAt(20, 20), a);
  EXPECT_EQ(doc.nodeAt(150, 20), b) << "where they overlap, the one drawn last";
  EXPECT_EQ(doc.nodeAt(-5, 20), QString());
  EXPECT_EQ(doc.nodeAt(500, 500), QString());
  const QPointF in = NodeLayout::port({100, 10}, 0, false);
  const QVariantMap p = doc.portAt(in.x() + 3, in.y() - 2);
  EXPECT_EQ(p.value("nodeId").toString(), b);
  EXPECT_EQ(p.value("port").toString(), "a");
  EXPECT_FALSE(p.value("output").toBool());
  EXPECT_TRUE(p.value("connected").toBool());
  EXPECT_EQ(QPointF(p.value("x").toReal(), p.value("y").toReal()), in);
  const QPointF in_b = NodeLayout::port({100, 10}, 1, false);
  EXPECT_FALSE(doc.portAt(in_b.x(), in_b.y()).value("connected").toBool());
  EXPECT_TRUE(doc.portAt(500, 500).isEmpty());
}

}  // namespace
}  // namespace lattice::editor

namespace lattice::editor {
namespace {

TEST(CatalogModel, ListsTheRegistryAndFiltersFuzzily) {
  test::qt_app();
  CatalogModel catalog;
  EXPECT_EQ(static_cast<size_t>(catalog.rowCount()), NodeRegistry::instance().all().size());
  // Rows of one category are contiguous (the palette's sections).
  QStringList seen;
  for (const auto& r : catalog.rows()) {
    if (!seen.isEmpty() && seen.last() == r.category) continue;
    EXPECT_FALSE(seen.contains(r.category)) << r.category.toStdString() << " appears in two places";
    seen << r.category;
  }
  catalog.setFilter("vmath");
  ASSERT_GT(catalog.rowCount(), 0);
  EXPECT_EQ(catalog.typeAt(0), "value.math");
  catalog.setFilter("zzzzqqq");
  EXPECT_EQ(catalog.rowCount(), 0);
}

}  // namespace
}  // namespace lattice::editor
