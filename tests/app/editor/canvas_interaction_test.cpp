// The real QML canvas (qml/NodeCanvas.qml, NodeItem.qml in Main.qml), driven by synthesized mouse and key
// events on the offscreen QQuickWindow: box selection, dragging a node (one undo step), delete keys,
// what a pan or a zoom gesture repaints (grid, node faces, wires) and when, framing, and the far level of
// detail (below the canvas's farZoom: no node items, one FarNodeLayer, hit-testing in C++).
#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QFile>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QtTest/QTest>
#include <algorithm>
#include <functional>
#include <memory>

#include "app/editor/editor_main.h"
#include "app/editor/graph_document.h"
#include "app/editor/graph_edits.h"
#include "app/editor/node_face.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

class CanvasInteraction : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    ASSERT_TRUE(tmp.isValid());
    const QString file = tmp.filePath("three.lattice");
    QFile f(file);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(R"({"lattice":1,"nodes":[
      {"id":"a","type":"value.number","ui":{"x":0,"y":0}},
      {"id":"b","type":"value.number","ui":{"x":300,"y":0}},
      {"id":"c","type":"value.number","ui":{"x":0,"y":300}}]})");
    f.close();
    engine = std::make_unique<QQmlApplicationEngine>();
    ASSERT_TRUE(load_editor(*engine, file));
    window = qobject_cast<QQuickWindow*>(engine->rootObjects().first());
    ASSERT_TRUE(window);
    doc = window->property("document").value<GraphDocument*>();
    ASSERT_TRUE(doc);
    doc->setAutoRun(false);  // before the open's run starts: these tests set states and count paints
    canvas = window->findChild<QQuickItem*>("canvas");
    ASSERT_TRUE(canvas);
    content = canvas->findChild<QQuickItem*>("content");
    ASSERT_TRUE(content);
    window->requestActivate();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(window));
    // The canvas frames all nodes once it has its size.
    ASSERT_TRUE(wait_until([&] { return canvas->property("framed").toBool(); }, 3000))
        << "the canvas never framed its nodes";
    QTest::qWait(50);
  }
  void TearDown() override {
    if (doc) doc->evaluator()->waitForIdle(10000);
    engine.reset();
  }
  qreal zoom() const { return canvas->property("zoom").toReal(); }
  /// Window coordinates of canvas point (x, y).
  QPoint at(qreal x, qreal y) const {
    return canvas->mapToScene(QPointF(content->x() + x * zoom(), content->y() + y * zoom())).toPoint();
  }
  void drag(QPoint from, QPoint to, Qt::KeyboardModifiers mods = {}) {
    QTest::mousePress(window, Qt::LeftButton, mods, from);
    for (int i = 1; i <= 5; ++i) QTest::mouseMove(window, from + (to - from) * i / 5, 10);
    QTest::mouseRelease(window, Qt::LeftButton, mods, to, 10);
  }
  /// The NodeFace items under `item`.
  static QList<NodeFace*> faces_in(QQuickItem* item) {
    QList<NodeFace*> out;
    if (auto* face = qobject_cast<NodeFace*>(item)) out << face;
    for (QQuickItem* child : item->childItems()) out << faces_in(child);
    return out;
  }
  int face_paints() const {
    int n = 0;
    for (NodeFace* f : faces_in(content)) n += f->paintCount();
    return n;
  }
  /// Runs the event loop until `done()` holds or `ms` have passed; whether it holds.
  template <class Pred>
  static bool wait_until(Pred done, int ms = 10000) {
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < ms) QTest::qWait(10);
    return done();
  }
  /// Waits until the zoom has settled (the canvas's faceDetail is the one for its zoom) and every face in
  /// view shows it, then for one more frame.
  bool settle_faces() {
    const bool settled = wait_until([&] {
      QVariant want;
      QMetaObject::invokeMethod(canvas, "detailFor", Q_RETURN_ARG(QVariant, want), Q_ARG(QVariant, zoom()));
      if (canvas->property("faceDetail").toReal() != want.toReal()) return false;
      const QList<NodeFace*> faces = faces_in(content);
      return std::none_of(faces.begin(), faces.end(), [](NodeFace* f) { return f->isVisible() && f->needsPaint(); });
    });
    QTest::qWait(50);
    return settled;
  }
  /// No evaluation has run and none is in flight: the fixture turns auto-run off before the open's debounced
  /// run starts (GraphDocument::setAutoRun drops it), so no state report can arrive during a test and
  /// overwrite what it set or repaint faces it counts. (Waiting for "idle" instead raced with that run:
  /// it could start after the wait and report after the test had set a node's state.)
  bool nothing_evaluated() const { return !doc->evaluator()->busy() && doc->evaluator()->executions() == 0; }
  /// Zooms out to 0.3, past the canvas's farZoom, with canvas point (0, 0) at (60, 60) of the canvas.
  void go_far() {
    ASSERT_LT(0.3, canvas->property("farZoom").toReal());
    canvas->setProperty("zoom", 0.3);
    content->setPosition({60, 60});
    QTest::qWait(100);
    ASSERT_TRUE(canvas->property("far").toBool());
  }
  /// The visible items of the canvas content other than the wires, the far layer and the node repeater.
  QList<QQuickItem*> shown_node_items() const {
    QList<QQuickItem*> out;
    std::function<void(QQuickItem*)> walk = [&](QQuickItem* i) {
      for (QQuickItem* c : i->childItems()) {
        if (!c->isVisible() || c->objectName() == "wires" || c->objectName() == "farNodes" ||
            c->inherits("QQuickRepeater"))
          continue;
        out << c;
        walk(c);
      }
    };
    walk(content);
    return out;
  }
  QPointF node_pos(const char* id) const {
    const auto p = node_position(*doc->graph().find(id)).value();
    return {p.first, p.second};
  }

  QTemporaryDir tmp;
  std::unique_ptr<QQmlApplicationEngine> engine;
  QQuickWindow* window = nullptr;
  GraphDocument* doc = nullptr;
  QQuickItem* canvas = nullptr;
  QQuickItem* content = nullptr;
};

TEST_F(CanvasInteraction, BoxSelectionSelectsTheNodesItTouches) {
  // A band from above-left of a to below the top row, not reaching c at y = 300.
  drag(at(-30, -30), at(320, 40));
  EXPECT_EQ(doc->selection(), (QStringList{"a", "b"}));
  // Shift+band adds c; a plain click on the background clears.
  drag(at(-30, 280), at(20, 320), Qt::ShiftModifier);
  EXPECT_EQ(doc->selection(), (QStringList{"a", "b", "c"}));
  QTest::mouseClick(window, Qt::LeftButton, {}, at(200, 200));
  EXPECT_TRUE(doc->selection().isEmpty());
}

TEST_F(CanvasInteraction, DraggingANodeMovesItAndOneUndoRestoresIt) {
  const QString before = doc->graphJson();
  const int steps = doc->undoStack()->count();
  const QPoint grab = at(40, 10);  // the node's header
  drag(grab, grab + QPoint(60, 45));
  EXPECT_EQ(doc->selection(), QStringList{"a"});
  const QPointF moved = node_pos("a");
  EXPECT_NEAR(moved.x(), 60 / zoom(), 1.01);
  EXPECT_NEAR(moved.y(), 45 / zoom(), 1.01);
  EXPECT_EQ(node_pos("b"), QPointF(300, 0)) << "only the dragged node moves";
  EXPECT_EQ(doc->undoStack()->count(), steps + 1) << "five mouse moves, one undo step";
  doc->undo();
  EXPECT_EQ(doc->graphJson(), before);
}

TEST_F(CanvasInteraction, DeleteKeysRemoveTheSelection) {
  drag(at(-30, -30), at(320, 40));
  ASSERT_EQ(doc->selection().size(), 2);
  QTest::keyClick(window, Qt::Key_Delete);
  EXPECT_EQ(doc->nodeCount(), 1);
  EXPECT_TRUE(doc->graph().find("c"));
  doc->undo();
  EXPECT_EQ(doc->nodeCount(), 3);
  // Backspace on the focused canvas does the same.
  QTest::mouseClick(window, Qt::LeftButton, {}, at(40, 310));
  ASSERT_EQ(doc->selection(), QStringList{"c"});
  QTest::keyClick(window, Qt::Key_Backspace);
  EXPECT_EQ(doc->nodeCount(), 2);
  EXPECT_FALSE(doc->graph().find("c"));
}

TEST_F(CanvasInteraction, PanningCullsNodesOutsideTheViewAndMovesTheGridWithoutRepainting) {
  auto visible_nodes = [&] {
    QStringList ids;
    for (QQuickItem* i : content->childItems())
      if (i->isVisible() && !i->property("nodeId").toString().isEmpty()) ids << i->property("nodeId").toString();
    ids.sort();
    return ids;
  };
  EXPECT_EQ(visible_nodes(), (QStringList{"a", "b", "c"}));
  auto* grid = canvas->findChild<QQuickItem*>("grid");
  ASSERT_TRUE(grid);
  const int lines = grid->property("lineCount").toInt();
  EXPECT_GT(lines, 10);
  auto* wires = content->findChild<QQuickItem*>("wires");
  ASSERT_TRUE(wires);
  const int wire_builds = wires->property("buildCount").toInt();
  // Framing changes the zoom, which repaints the grid and the faces: wait for the last paints before
  // counting.
  ASSERT_TRUE(nothing_evaluated());
  ASSERT_TRUE(settle_faces());
  int faces = face_paints(), paints = grid->property("paintCount").toInt();
  for (int settled = 0, i = 0; settled < 3 && i < 40; ++i) {
    QTest::qWait(50);
    const int grid_now = grid->property("paintCount").toInt();
    settled = grid_now == paints ? settled + 1 : 0;
    paints = grid_now;
  }
  EXPECT_GE(faces, 3) << "each node's face painted once";
  EXPECT_GE(paints, 1);
  // Pan so that only b (at x 300..480) stays in view: the canvas's left edge moves to x = 290.
  content->setX(-290 * zoom());
  QTest::qWait(100);  // a frame
  EXPECT_EQ(visible_nodes(), QStringList{"b"});
  EXPECT_EQ(grid->property("originX").toReal(), content->x());
  EXPECT_EQ(grid->property("paintCount").toInt(), paints) << "a pan moves the grid, it repaints nothing";
  EXPECT_EQ(face_paints(), faces) << "nor the nodes";
  EXPECT_EQ(wires->property("buildCount").toInt(), wire_builds) << "nor the wires";
  // A zoom repaints it once.
  canvas->setProperty("zoom", zoom() * 2);
  QTest::qWait(100);
  EXPECT_GT(grid->property("lineCount").toInt(), 0);
  EXPECT_EQ(grid->property("paintCount").toInt(), paints + 1);
  EXPECT_EQ(wires->property("buildCount").toInt(), wire_builds) << "a zoom scales the wires";
  canvas->setProperty("culling", false);
  QCoreApplication::processEvents();
  EXPECT_EQ(visible_nodes(), (QStringList{"a", "b", "c"})) << "without culling everything is drawn";
}

// A zoom gesture (steps closer together than the canvas's settleMs) scales the faces and repaints none;
// once it settles, every face in view repaints at the new detail, a bounded number per frame (with a
// budget of 0 ms: one face per frame), and the culled ones wait until they come into view.
TEST_F(CanvasInteraction, ZoomGestureRepaintsFacesOnlyOnceItSettlesAndFewPerFrame) {
  // A fourth node beside c, so that two faces repaint after the gesture. Start from zoom 0.6 with every
  // face painted at 1 pixel per unit (framing zoomed to 1.5 and painted them at 2 pixels).
  ASSERT_FALSE(doc->addNode("value.number", 220, 300).isEmpty());
  ASSERT_TRUE(nothing_evaluated());
  const QList<NodeFace*> faces = faces_in(content);
  ASSERT_EQ(faces.size(), 4);
  canvas->setProperty("settleMs", 50);
  canvas->setProperty("zoom", 0.6);
  content->setPosition({0, 0});
  ASSERT_TRUE(wait_until([&] {
    return std::all_of(faces.begin(), faces.end(), [](NodeFace* f) { return f->paintedDetail() == 1; });
  }));
  ASSERT_TRUE(settle_faces());
  const int before = face_paints();
  const double budget = NodeFace::frameBudget();
  NodeFace::setFrameBudget(0);
  // Per frame: how many faces painted in its polish phase (afterAnimating follows the polish phase).
  QList<int> per_frame;
  int last = before;
  auto counting = QObject::connect(window, &QQuickWindow::afterAnimating, window, [&] {
    const int now = face_paints();
    per_frame << now - last;
    last = now;
  });
  // Restored however the test ends (an ASSERT returns early; later tests need the normal budget).
  const auto restore = qScopeGuard([&] {
    QObject::disconnect(counting);
    NodeFace::setFrameBudget(budget);
  });

  canvas->setProperty("settleMs", 60000);  // the gesture below lasts well under that, even on a busy machine
  QStringList seen;  // diagnostics: the faces painted during the gesture, and at which detail
  for (double z = 0.7; z < 2.6; z *= 1.15) {
    canvas->setProperty("zoom", z);
    QTest::qWait(30);
    for (NodeFace* f : faces)
      if (f->needsPaint() || f->paintCount() > 1)
        seen << QStringLiteral("%1@%2:%3/%4/%5").arg(f->property("nodeId").toString()).arg(z).arg(f->paintCount())
                    .arg(f->paintedDetail()).arg(f->isVisible());
  }
  EXPECT_EQ(face_paints(), before) << "no face is repainted during the gesture: " << seen.join(' ').toStdString();
  EXPECT_EQ(canvas->property("faceDetail").toReal(), 1);

  // Settle now, with the view's top at canvas y = 200: c and d (y = 300) in view, a and b above culled.
  canvas->setProperty("settleMs", 50);
  canvas->setProperty("zoom", 1.8);  // 2 pixels per unit
  content->setY(-200 * 1.8);
  QList<NodeFace*> shown;
  for (NodeFace* f : faces)
    if (f->isVisible()) shown << f;
  ASSERT_EQ(shown.size(), 2) << "the nodes outside the view are culled";
  ASSERT_TRUE(wait_until([&] {
    return std::all_of(shown.begin(), shown.end(), [](NodeFace* f) { return f->paintedDetail() == 2; });
  })) << "the faces in view repaint at the new detail once the zoom settles";
  QTest::qWait(100);
  QObject::disconnect(counting);
  NodeFace::setFrameBudget(budget);
  EXPECT_EQ(face_paints(), before + shown.size()) << "each face in view repainted once";
  ASSERT_FALSE(per_frame.empty());
  EXPECT_LE(*std::max_element(per_frame.begin(), per_frame.end()), 1) << "one face per frame at budget 0";
  for (NodeFace* f : faces)
    if (!f->isVisible()) {
      EXPECT_EQ(f->paintedDetail(), 1) << "a culled face keeps its image";
      EXPECT_TRUE(f->needsPaint()) << "and repaints when it comes into view";
    }
}

// Framing is a jump, not a gesture: the faces take the framed zoom's detail at once and paint once.
TEST_F(CanvasInteraction, FramingPaintsEachFaceOnceAtTheFramedDetail) {
  QVariant want;
  QMetaObject::invokeMethod(canvas, "detailFor", Q_RETURN_ARG(QVariant, want), Q_ARG(QVariant, zoom()));
  EXPECT_EQ(canvas->property("faceDetail").toReal(), want.toReal()) << "no wait for the zoom to settle";
  EXPECT_GT(want.toReal(), 1) << "the three nodes are framed zoomed in";
  const QList<NodeFace*> faces = faces_in(content);
  ASSERT_EQ(faces.size(), 3);
  // (The faces also repaint as the load's evaluation changes their status line: counted below from a
  // settled state.)
  ASSERT_TRUE(wait_until([&] { return std::none_of(faces.begin(), faces.end(), [](NodeFace* f) { return f->needsPaint(); }); }));
  for (NodeFace* f : faces) EXPECT_EQ(f->paintedDetail(), want.toReal());
  // Framing again (key F) from zoom 0.6, settled: one paint each, at the framed detail, none after the
  // settle time.
  ASSERT_TRUE(nothing_evaluated());
  canvas->setProperty("zoom", 0.6);
  QTest::qWait(2 * canvas->property("settleMs").toInt());
  ASSERT_TRUE(settle_faces());
  for (NodeFace* f : faces) ASSERT_EQ(f->paintedDetail(), 1);
  const int before = face_paints();
  canvas->forceActiveFocus();
  QTest::keyClick(window, Qt::Key_F);
  EXPECT_EQ(canvas->property("faceDetail").toReal(), want.toReal());
  ASSERT_TRUE(wait_until([&] { return std::none_of(faces.begin(), faces.end(), [](NodeFace* f) { return f->needsPaint(); }); }));
  QTest::qWait(2 * canvas->property("settleMs").toInt());
  EXPECT_EQ(face_paints(), before + 3);
  for (NodeFace* f : faces) EXPECT_EQ(f->paintedDetail(), want.toReal());
}

// Below farZoom the nodes have no visible items of their own (faces, mouse and port areas, footers):
// one FarNodeLayer draws them all; above it the node items come back and the layer hides.
TEST_F(CanvasInteraction, ZoomedFarOutNodesAreOneLayerAndTheirItemsComeBackZoomedIn) {
  auto* far_layer = content->findChild<QQuickItem*>("farNodes");
  ASSERT_TRUE(far_layer);
  EXPECT_FALSE(far_layer->isVisible());
  EXPECT_GE(shown_node_items().size(), 3 * 4) << "zoomed in: each node is a face with its input items";
  go_far();
  EXPECT_TRUE(far_layer->isVisible());
  EXPECT_TRUE(shown_node_items().isEmpty());
  for (NodeFace* f : faces_in(content)) EXPECT_FALSE(f->isVisible());
  ASSERT_TRUE(wait_until([&] { return far_layer->property("buildCount").toInt() > 0; }));
  EXPECT_EQ(far_layer->property("rectCount").toInt(), 3 * 5) << "outline, body, header, badge, port of each";
  // A pan or zoom while far lists nothing again.
  const int builds = far_layer->property("buildCount").toInt();
  content->setX(content->x() - 30);
  canvas->setProperty("zoom", 0.25);
  QTest::qWait(100);
  EXPECT_EQ(far_layer->property("buildCount").toInt(), builds);
  // Just above farZoom: the node items again.
  canvas->setProperty("zoom", canvas->property("farZoom").toReal() * 1.05);
  content->setPosition({60, 60});
  QTest::qWait(100);
  EXPECT_FALSE(far_layer->isVisible());
  EXPECT_GE(shown_node_items().size(), 3 * 4);
  for (NodeFace* f : faces_in(content)) EXPECT_TRUE(f->isVisible());
  QTest::mouseClick(window, Qt::LeftButton, {}, at(90, 10));
  EXPECT_EQ(doc->selection(), QStringList{"a"}) << "a node's own mouse area";
}

TEST_F(CanvasInteraction, ZoomedFarOutClicksDragsAndBoxesSelectAndMoveNodes) {
  go_far();
  QTest::mouseClick(window, Qt::LeftButton, {}, at(90, 50));
  EXPECT_EQ(doc->selection(), QStringList{"a"});
  QTest::mouseClick(window, Qt::LeftButton, Qt::ShiftModifier, at(390, 50));
  EXPECT_EQ(doc->selection(), (QStringList{"a", "b"})) << "shift adds";
  // Dragging a selected node moves the selection, one undo step.
  const QString before = doc->graphJson();
  const int steps = doc->undoStack()->count();
  drag(at(90, 50), at(90, 50) + QPoint(30, 15));
  EXPECT_EQ(doc->selection(), (QStringList{"a", "b"}));
  EXPECT_NEAR(node_pos("a").x(), 30 / zoom(), 1.01);
  EXPECT_NEAR(node_pos("a").y(), 15 / zoom(), 1.01);
  EXPECT_NEAR(node_pos("b").x(), 300 + 30 / zoom(), 1.01);
  EXPECT_EQ(node_pos("c"), QPointF(0, 300));
  EXPECT_EQ(doc->undoStack()->count(), steps + 1);
  doc->undo();
  EXPECT_EQ(doc->graphJson(), before);
  // A click on the background clears; a band selects what it touches.
  QTest::mouseClick(window, Qt::LeftButton, {}, at(250, 200));
  EXPECT_TRUE(doc->selection().isEmpty());
  drag(at(-30, 250), at(40, 330));
  EXPECT_EQ(doc->selection(), QStringList{"c"});
}

TEST_F(CanvasInteraction, ZoomedFarOutAWireDraggedFromAPortConnectsAndAClickDisconnects) {
  const QString m = doc->addNode("value.math", 300, 300);
  ASSERT_FALSE(m.isEmpty());
  go_far();
  const QPointF out = NodeLayout::port({0, 0}, 0, true), in = NodeLayout::port({300, 300}, 0, false);
  auto* far_layer = content->findChild<QQuickItem*>("farNodes");
  QTest::mousePress(window, Qt::LeftButton, {}, at(out.x(), out.y()));
  QTest::mouseMove(window, at(in.x() - 40, in.y()), 10);
  EXPECT_TRUE(canvas->property("wireActive").toBool());
  EXPECT_EQ(canvas->property("wireNode").toString(), "a");
  EXPECT_FALSE(far_layer->property("highlightType").toString().isEmpty()) << "ports that take it are ringed";
  QTest::mouseMove(window, at(in.x(), in.y()), 10);
  QTest::mouseRelease(window, Qt::LeftButton, {}, at(in.x(), in.y()), 10);
  EXPECT_FALSE(canvas->property("wireActive").toBool());
  const Node* n = doc->graph().find(m.toStdString());
  ASSERT_TRUE(n);
  ASSERT_EQ(n->inputs.count("a"), 1u) << doc->lastError().toStdString();
  EXPECT_EQ(n->inputs.at("a").node, "a");
  // A click on the connected input disconnects it.
  QTest::mouseClick(window, Qt::LeftButton, {}, at(in.x(), in.y()));
  EXPECT_EQ(doc->graph().find(m.toStdString())->inputs.count("a"), 0u);
}

TEST_F(CanvasInteraction, AWireDragCutShortByZoomingFarOutIsDropped) {
  // A wire dragged from a node item's port, then a zoom past farZoom hides the item and cancels its grab: the
  // wire must not stay on the canvas (nor the far layer's rings).
  const QPointF out = NodeLayout::port({0, 0}, 0, true);
  QTest::mousePress(window, Qt::LeftButton, {}, at(out.x(), out.y()));
  QTest::mouseMove(window, at(out.x() + 60, out.y() + 20), 10);
  QTest::mouseMove(window, at(out.x() + 120, out.y() + 40), 10);
  ASSERT_TRUE(canvas->property("wireActive").toBool());
  go_far();
  EXPECT_FALSE(canvas->property("wireActive").toBool());
  QTest::mouseRelease(window, Qt::LeftButton, {}, at(out.x() + 120, out.y() + 40), 10);
  EXPECT_FALSE(canvas->property("wireActive").toBool());
}

TEST_F(CanvasInteraction, ZoomedFarOutHoveringANodeShowsItsMessage) {
  ASSERT_TRUE(nothing_evaluated()) << "(a run would overwrite the state set here)";
  doc->nodes()->setState("b", "failed", 0, "b failed: boom");
  go_far();
  QTest::mouseMove(window, at(250, 200));  // the background first: the move onto b is a move within it
  QTest::mouseMove(window, at(390, 50), 20);
  // The tooltip's text item, in the window's overlay.
  std::function<bool(QQuickItem*)> shows = [&](QQuickItem* i) {
    if (i->isVisible() && i->property("text").toString() == "b failed: boom") return true;
    const auto children = i->childItems();
    return std::any_of(children.begin(), children.end(), shows);
  };
  auto tip_shown = [&] { return shows(window->contentItem()); };
  auto* background = canvas->findChild<QQuickItem*>("background");
  ASSERT_TRUE(background);
  EXPECT_TRUE(wait_until([&] { return background->property("hoverMessage").toString() == "b failed: boom"; }, 3000));
  EXPECT_TRUE(wait_until(tip_shown, 3000)) << "the failed node's message as a tooltip";
  // The message changes while the mouse rests on b (an evaluation reporting): the tooltip follows.
  doc->nodes()->setState("b", "running", 0.5, "b: step 3 of 8");
  EXPECT_TRUE(wait_until([&] { return background->property("hoverMessage").toString() == "b: step 3 of 8"; }, 3000));
  std::function<bool(QQuickItem*)> shows_step = [&](QQuickItem* i) {
    if (i->isVisible() && i->property("text").toString() == "b: step 3 of 8") return true;
    const auto children = i->childItems();
    return std::any_of(children.begin(), children.end(), shows_step);
  };
  EXPECT_TRUE(wait_until([&] { return shows_step(window->contentItem()); }, 3000)) << "the tooltip shows the new message";
  doc->nodes()->setState("b", "done");
  EXPECT_TRUE(wait_until([&] { return !tip_shown() && !shows_step(window->contentItem()); }, 3000))
      << "no message, no tooltip";
  doc->nodes()->setState("b", "failed", 0, "b failed: boom");
  EXPECT_TRUE(wait_until(tip_shown, 3000));
  QTest::mouseMove(window, at(90, 50));
  EXPECT_TRUE(wait_until([&] { return !tip_shown(); }, 3000)) << "a node without a message shows none";
}

}  // namespace
}  // namespace lattice::editor
