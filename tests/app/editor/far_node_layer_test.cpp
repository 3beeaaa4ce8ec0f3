// FarNodeLayer (app/editor/far_node_layer.h): the rectangles of each node zoomed far out (outline by
// selection and known type, body, header, state badge, ports, highlighted ports, progress bar), and that
// the layer lists them again when the nodes change but not while hidden, nor on a pan or zoom.
#include "app/editor/far_node_layer.h"

#include <gtest/gtest.h>

#include <QQuickWindow>
#include <QtTest/QTest>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "app/editor/graph_document.h"
#include "core/document.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

// a: value.number (one output), m: value.math (inputs a, b; one output) fed by a, u: an unknown type.
Graph three_nodes() {
  return parse_graph(R"({"lattice":1,"nodes":[
    {"id":"a","type":"value.number","ui":{"x":0,"y":0}},
    {"id":"m","type":"value.math","inputs":{"a":{"node":"a","output":"value"}},"ui":{"x":300,"y":0}},
    {"id":"u","type":"no.such.type","ui":{"x":0,"y":300}}]})");
}

FarNodeStyle style() {
  FarNodeStyle s;
  s.states = {{"idle", QColor(1, 1, 1)}, {"running", QColor(2, 2, 200)}, {"failed", QColor(200, 2, 2)}};
  return s;
}

/// The rectangles of node `id`: those from its outline (a rectangle around its body) to the next outline.
std::vector<FarRect> of_node(const std::vector<FarRect>& all, const NodeListModel& model, const QString& id) {
  const QRectF body = NodeListModel::bounds(model.rows()[static_cast<size_t>(model.indexOf(id))]);
  auto first = std::find_if(all.begin(), all.end(), [&](const FarRect& r) {
    return r.rect.contains(body) && r.rect != body;
  });
  auto last = std::find_if(first + 1, all.end(), [&](const FarRect& r) {
    return !body.adjusted(-20, -20, 20, 20).contains(r.rect.topLeft());
  });
  return {first, last};
}

TEST(FarNodeRects, OutlineBodyHeaderBadgeAndPortsPerNodeInOrder) {
  NodeListModel model;
  model.setGraph(three_nodes());
  model.setSelection({"a"});
  model.setState("m", "running", 0.5);
  const FarNodeStyle s = style();
  const auto all = far_node_rects(model, s);

  const auto a = of_node(all, model, "a");
  const QRectF a_body(0, 0, NodeLayout::kWidth, model.rows()[0].height);
  // outline, body, header, badge, one output port, progress bar (empty: not running).
  ASSERT_EQ(a.size(), 6u);
  EXPECT_TRUE(a[5].rect.isEmpty());
  EXPECT_EQ(a[0].color, s.selection) << "a selected node is outlined in the selection colour";
  EXPECT_GT(a[0].rect.width(), a_body.width() + 4);
  EXPECT_EQ(a[1], (FarRect{a_body, s.body}));
  EXPECT_EQ(a[2], (FarRect{QRectF(0, 0, NodeLayout::kWidth, NodeLayout::kHeader), s.header}));
  EXPECT_EQ(a[3].color, QColor(1, 1, 1)) << "an idle node's badge";
  EXPECT_TRUE(QRectF(a_body.left(), 0, a_body.width(), NodeLayout::kHeader).contains(a[3].rect));
  EXPECT_EQ(a[4].rect.center(), NodeLayout::port({0, 0}, 0, true)) << "the output port on the right edge";
  EXPECT_EQ(a[4].color, model.rows()[0].outputs[0].toMap().value("color").value<QColor>());

  const auto m = of_node(all, model, "m");
  // outline, body, header, badge, two input ports, one output port, progress bar.
  ASSERT_EQ(m.size(), 8u);
  EXPECT_EQ(m[0].color, s.outline);
  EXPECT_EQ(m[3].color, QColor(2, 2, 200)) << "the running state's badge";
  EXPECT_EQ(m[4].rect.center(), NodeLayout::port({300, 0}, 0, false));
  EXPECT_EQ(m[5].rect.center(), NodeLayout::port({300, 0}, 1, false));
  EXPECT_EQ(m[6].rect.center(), NodeLayout::port({300, 0}, 0, true));
  EXPECT_EQ(m[7].color, QColor(2, 2, 200)) << "a running node's progress bar";
  EXPECT_DOUBLE_EQ(m[7].rect.width(), (NodeLayout::kWidth - 12) * 0.5);

  const auto u = of_node(all, model, "u");
  ASSERT_EQ(u.size(), 5u) << "an unknown type has no ports";
  EXPECT_EQ(u[0].color, s.error) << "and is outlined in the error colour";
  EXPECT_EQ(all.size(), a.size() + m.size() + u.size());
  EXPECT_LT(std::find(all.begin(), all.end(), a[1]), std::find(all.begin(), all.end(), m[1]))
      << "nodes in model order: later ones drawn above";
}

TEST(FarNodeRects, PortsThatCanTakeTheDraggedWireAreRinged) {
  NodeListModel model;
  model.setGraph(three_nodes());
  FarNodeStyle s = style();
  const size_t plain = far_node_rects(model, s).size();
  // A Number wire dragged from a's output: m's two Number inputs are highlighted, a's own ports are not.
  s.highlight_type = model.rows()[0].outputs[0].toMap().value("type").toString();
  ASSERT_FALSE(s.highlight_type.isEmpty());
  s.highlight_inputs = true;
  s.highlight_except = "a";
  const auto hot = far_node_rects(model, s);
  ASSERT_EQ(hot.size(), plain + 2) << "a ring and the port inside it for each of m's two inputs";
  const auto m = of_node(hot, model, "m");
  EXPECT_EQ(m[4].color, s.ring);
  EXPECT_GT(m[4].rect.width(), m[5].rect.width());
  EXPECT_EQ(m[4].rect.center(), m[5].rect.center());
  s.highlight_except = "m";
  EXPECT_EQ(far_node_rects(model, s).size(), plain) << "a wire from m highlights none of m's ports";
}

TEST(FarRectMesh, TwoTrianglesPerRectangleFrontToBackWhenOpaque) {
  const std::vector<FarRect> rects = {{QRectF(0, 0, 10, 5), QColor(10, 20, 30)}, {QRectF(2, 1, 3, 2), QColor(200, 0, 0)}};
  const ColoredMesh m = far_rect_mesh(rects);
  ASSERT_EQ(m.vertices.size(), 8u);
  ASSERT_EQ(m.indices.size(), 12u);
  EXPECT_TRUE(m.opaque);
  // Opaque: the last (topmost) rectangle first, since the opaque pass keeps the first of equal depths.
  EXPECT_EQ(m.vertices[0].r, 200);
  EXPECT_FLOAT_EQ(m.vertices[0].x, 2);
  EXPECT_FLOAT_EQ(m.vertices[3].x, 5);
  EXPECT_FLOAT_EQ(m.vertices[3].y, 3);
  EXPECT_EQ(m.vertices[4].b, 30);
  for (uint32_t i : m.indices) EXPECT_LT(i, m.vertices.size());
  // Blended: back to front, colours premultiplied.
  const ColoredMesh t = far_rect_mesh({rects[0], {QRectF(2, 1, 3, 2), QColor(200, 0, 0, 128)}});
  EXPECT_FALSE(t.opaque);
  EXPECT_EQ(t.vertices[0].b, 30);
  EXPECT_EQ(t.vertices[4].r, 100);
  EXPECT_EQ(t.vertices[4].a, 128);
}

TEST(FarRectMesh, PatchingSomeRectanglesGivesTheMeshOfTheNewList) {
  std::vector<FarRect> rects;
  for (int i = 0; i < 6; ++i) rects.push_back({QRectF(i * 10, i, 8, 4), QColor(i * 20, 5, 7)});
  for (bool opaque : {true, false}) {
    if (!opaque) rects[0].color.setAlpha(200);
    ColoredMesh m = far_rect_mesh(rects);
    ASSERT_EQ(m.opaque, opaque);
    std::vector<FarRect> next = rects;
    next[2] = {QRectF(1, 2, 3, 4), QColor(9, 9, 9)};
    next[3].rect.setWidth(0);
    const auto [lo, hi] = far_rect_mesh_patch(m, rects.size(), 2, {next[2], next[3]});
    const ColoredMesh want = far_rect_mesh(next);
    ASSERT_EQ(m.vertices.size(), want.vertices.size());
    EXPECT_EQ(std::memcmp(m.vertices.data(), want.vertices.data(), m.vertices.size() * sizeof(ColoredMesh::Vertex)), 0);
    EXPECT_EQ(hi - lo, 8u) << "two rectangles' vertices";
    EXPECT_EQ(lo, 4 * 2u) << "slots 2 and 3 of 6 (3 and 2 when opaque: reversed)";
  }
}

TEST(FarRectImage, PaintsTheRectanglesAtTheScaleGiven) {
  QRectF bounds;
  const QImage image = far_rect_image({{QRectF(-10, 0, 100, 50), QColor(10, 20, 30)}, {QRectF(40, 20, 50, 30), QColor(200, 0, 0)}},
                                      0.4, &bounds);
  ASSERT_TRUE(bounds.contains(QRectF(-10, 0, 100, 50)));
  const double margin = -10 - bounds.left();
  EXPECT_GT(margin, 0) << "room for a selection outline";
  EXPECT_EQ(bounds, QRectF(-10, 0, 100, 50).adjusted(-margin, -margin, margin, margin));
  ASSERT_EQ(image.size(), QSize(static_cast<int>(std::ceil(bounds.width() * 0.4)), static_cast<int>(std::ceil(bounds.height() * 0.4))));
  const auto px = [&](double x, double y) {
    return image.pixelColor(static_cast<int>((x - bounds.left()) * 0.4), static_cast<int>((y - bounds.top()) * 0.4));
  };
  EXPECT_EQ(px(-5, 5), QColor(10, 20, 30));
  EXPECT_EQ(px(70, 40), QColor(200, 0, 0));
  EXPECT_EQ(px(-12, -2).alpha(), 0);
}

TEST(FarNodeLayer, ListsItsRectanglesWhenShownAndNodesChangeNotOnPanOrZoom) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  QQuickWindow window;
  window.resize(400, 300);
  QQuickItem content(window.contentItem());
  FarNodeLayer layer(&content);
  layer.setVisible(false);
  layer.setModel(doc.nodes());
  layer.setStateColors({{"idle", QColor(1, 1, 1)}, {"failed", QColor(200, 2, 2)}});
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto frame = [&] {
    window.update();
    QTest::qWait(50);
    return layer.buildCount();
  };
  EXPECT_EQ(frame(), 0) << "hidden (zoomed in), it lists nothing";
  ASSERT_FALSE(doc.addNode("value.math", 300, 0).isEmpty());
  EXPECT_EQ(frame(), 0);
  layer.setVisible(true);
  EXPECT_EQ(frame(), 1);
  EXPECT_EQ(layer.rectCount(), 5 + 7);
  // The mesh (or the software renderer's image) is built in updatePolish, on this thread: the render
  // thread only takes it over.
  if (layer.image().isNull())
    EXPECT_EQ(layer.mesh().vertices.size(), 4 * layer.rects().size());
  else
    EXPECT_TRUE(layer.mesh().vertices.empty());
  content.setPosition({-40, 25});  // a pan
  content.setScale(0.3);           // a zoom
  doc.nodes()->setViewRect(QRectF(0, 0, 10, 10), false);  // the culling the canvas does meanwhile
  EXPECT_EQ(frame(), 1);
  doc.nodes()->setViewRect(QRectF(0, 0, 10, 10), true);  // culling zoomed in: nothing drawn here changes
  EXPECT_EQ(frame(), 1);
  EXPECT_EQ(layer.patchCount(), 0);
}

/// A FarNodeLayer over `model` in a shown 400 x 300 window; state badges: idle, running (blue), failed (red).
struct ShownLayer {
  explicit ShownLayer(NodeListModel* model) : layer(window.contentItem()) {
    window.resize(400, 300);
    layer.setModel(model);
    layer.setStateColors({{"idle", QColor(1, 1, 1)}, {"running", QColor(2, 2, 200)}, {"failed", QColor(200, 2, 2)}});
    window.show();
  }
  /// Renders a frame (the layer lists or patches its rectangles as it polishes).
  void frame() {
    window.update();
    QTest::qWait(50);
  }
  QQuickWindow window;
  FarNodeLayer layer;
};

// A node's selection, state, progress or position changes its own rectangles in place (the mesh's or the
// image's part of them), leaving the other nodes' alone; its message changes nothing; other ports list
// everything again.
TEST(FarNodeLayer, PatchesTheRectanglesOfTheNodesThatChangedInPlace) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  const QString m = doc.addNode("value.math", 300, 0);
  ShownLayer shown(doc.nodes());
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&shown.window));
  FarNodeLayer& layer = shown.layer;
  auto frame = [&] { shown.frame(); };
  // What a full listing would give now, and the mesh or image handed over matches it.
  auto consistent = [&] {
    if (layer.rects() != far_node_rects(*doc.nodes(), layer.style())) return false;
    if (!layer.image().isNull()) {
      QImage want(layer.image().size(), layer.image().format());
      far_rect_paint(want, layer.imageBounds(), layer.rects(), want.rect());
      return layer.image() == want;
    }
    const ColoredMesh want = far_rect_mesh(layer.rects());
    return want.vertices.size() == layer.mesh().vertices.size() &&
           std::memcmp(want.vertices.data(), layer.mesh().vertices.data(), want.vertices.size() * sizeof(ColoredMesh::Vertex)) == 0;
  };
  doc.clearSelection();  // (addNode selected m)
  frame();
  const int builds = layer.buildCount(), patches = layer.patchCount();
  ASSERT_GT(builds, 0);
  doc.select(a, false);
  frame();
  EXPECT_EQ(layer.buildCount(), builds);
  EXPECT_EQ(layer.patchCount(), patches + 1) << "a's outline";
  EXPECT_TRUE(consistent());
  doc.nodes()->setState(m, "running", 0.25);
  frame();
  doc.nodes()->setState(m, "running", 0.5, "step 2 of 4");
  frame();
  EXPECT_EQ(layer.patchCount(), patches + 3) << "m's badge and progress bar, twice";
  EXPECT_TRUE(consistent());
  const auto bar = std::find_if(layer.rects().begin(), layer.rects().end(), [](const FarRect& r) {
    return r.color == QColor(2, 2, 200) && r.rect.height() < 10 && !r.rect.isEmpty();
  });
  ASSERT_NE(bar, layer.rects().end());
  EXPECT_DOUBLE_EQ(bar->rect.width(), (NodeLayout::kWidth - 12) * 0.5);
  doc.nodes()->setState(m, "running", 0.5, "step 3 of 4");
  frame();
  EXPECT_EQ(layer.patchCount(), patches + 3) << "a message alone draws nothing here";
  doc.nodes()->setState(m, "failed", 0, "boom");
  ASSERT_TRUE(doc.moveNodes({a}, 40, 10, false));
  frame();
  EXPECT_EQ(layer.patchCount(), patches + 5) << "m's state, a's position";
  EXPECT_TRUE(consistent());
  EXPECT_EQ(layer.buildCount(), builds) << "nothing listed again so far";
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));  // m's port shows connected: same count, a patch
  frame();
  EXPECT_EQ(layer.buildCount(), builds);
  ASSERT_FALSE(doc.addNode("value.number", 0, 300).isEmpty());
  frame();
  EXPECT_EQ(layer.buildCount(), builds + 1) << "a new node: listed again";
  EXPECT_TRUE(consistent());
}

// Zoomed far out no row is in view, so the model tells state changes to no delegate (dataChanged); the
// layer, which draws every node, still patches them (NodeListModel::statesChanged).
TEST(FarNodeLayer, PatchesStatesOfNodesOutOfView) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.number", 300, 0);
  doc.nodes()->setViewRect(QRectF(0, 0, 400, 300), false);  // as the canvas zoomed past farZoom
  ShownLayer shown(doc.nodes());
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&shown.window));
  FarNodeLayer& layer = shown.layer;
  auto frame = [&] { shown.frame(); };
  frame();
  const int builds = layer.buildCount(), patches = layer.patchCount();
  ASSERT_GT(builds, 0);
  int told = 0;
  QObject::connect(doc.nodes(), &QAbstractItemModel::dataChanged, [&] { ++told; });
  doc.nodes()->setStates({{a, "running", 0.5}, {b, "failed", 0, "boom"}});
  frame();
  EXPECT_EQ(told, 0) << "no delegate is shown";
  EXPECT_EQ(layer.buildCount(), builds);
  EXPECT_EQ(layer.patchCount(), patches + 2);
  EXPECT_EQ(layer.rects(), far_node_rects(*doc.nodes(), layer.style()));
  EXPECT_EQ(std::count_if(layer.rects().begin(), layer.rects().end(), [](const FarRect& r) { return r.color == QColor(200, 2, 2); }), 1)
      << "b's badge";
}

}  // namespace
}  // namespace lattice::editor
