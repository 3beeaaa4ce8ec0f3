// WireLayer (app/editor/wire_layer.h): the curve and stroke of each wire, and that the mesh is rebuilt
// when wires change but not when only something else in the document does.
#include "app/editor/wire_layer.h"

#include <gtest/gtest.h>

#include <QQuickWindow>
#include <QtTest/QTest>
#include <cmath>

#include "app/editor/graph_document.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

TEST(WireCurve, EndsAtThePortsWithHorizontalTangents) {
  const QPointF a(0, 0), b(300, 120);
  const auto pts = wire_curve(a, b, 150);
  ASSERT_GE(pts.size(), 9u);
  EXPECT_EQ(pts.front(), a);
  EXPECT_EQ(pts.back(), b);
  // Horizontal at both ends, symmetric about the middle.
  EXPECT_LT(std::abs(pts[1].y() - a.y()), std::abs(pts[1].x() - a.x()) / 4);
  EXPECT_LT(std::abs(pts[pts.size() - 2].y() - b.y()), std::abs(pts[pts.size() - 2].x() - b.x()) / 4);
  for (size_t i = 0; i < pts.size(); ++i) {
    const QPointF sum = pts[i] + pts[pts.size() - 1 - i];
    EXPECT_NEAR(sum.x(), 300, 1e-9);
    EXPECT_NEAR(sum.y(), 120, 1e-9);
  }
  EXPECT_EQ(wire_curve(a, QPointF(5, 0), 0).size(), 9u) << "at least 8 segments";
  EXPECT_EQ(wire_curve(a, QPointF(5000, 0), 2500).size(), 65u) << "at most 64 segments";
}

TEST(WireCurve, CoarseHasFewerSegmentsOnTheSameCurve) {
  const QPointF a(0, 0), b(600, 240);
  const auto fine = wire_curve(a, b, 300), coarse = wire_curve(a, b, 300, true);
  ASSERT_GE(coarse.size(), 5u) << "at least 4 segments";
  EXPECT_LT(coarse.size() * 3, fine.size()) << "a quarter of the segments, about";
  EXPECT_EQ(coarse.front(), a);
  EXPECT_EQ(coarse.back(), b);
  // Its points lie on the same cubic: the middle one is the fine curve's middle one.
  ASSERT_EQ(coarse.size() % 2, 1u);
  ASSERT_EQ(fine.size() % 2, 1u);
  EXPECT_NEAR(coarse[coarse.size() / 2].x(), fine[fine.size() / 2].x(), 1e-9);
  EXPECT_NEAR(coarse[coarse.size() / 2].y(), fine[fine.size() / 2].y(), 1e-9);
  EXPECT_EQ(wire_curve(a, QPointF(5, 0), 0, true).size(), 5u);
  EXPECT_EQ(wire_curve(a, QPointF(5000, 0), 2500, true).size(), 17u) << "at most 16 segments";
}

TEST(WireMesh, StrokesEachWireWithItsPremultipliedColour) {
  EdgeRow r1;
  r1.from = {0, 0};
  r1.to = {200, 0};
  r1.color = QColor(255, 0, 0);
  EdgeRow r2 = r1;
  r2.from = {0, 100};
  r2.to = {400, 300};
  r2.color = QColor(0, 0, 255, 128);
  const WireMesh m = wire_mesh({r1, r2}, 4);
  const size_t n1 = wire_curve(r1.from, r1.to, EdgeListModel::bend(r1)).size();
  const size_t n2 = wire_curve(r2.from, r2.to, EdgeListModel::bend(r2)).size();
  ASSERT_EQ(m.vertices.size(), 2 * (n1 + n2));
  EXPECT_EQ(m.indices.size(), 6 * (n1 - 1 + n2 - 1));
  EXPECT_FALSE(m.opaque);
  // A straight wire: a band 4 units high around y = 0.
  for (size_t i = 0; i < 2 * n1; ++i) {
    EXPECT_NEAR(std::abs(m.vertices[i].y), 2, 1e-5);
    EXPECT_EQ(m.vertices[i].r, 255);
  }
  const auto& v = m.vertices[2 * n1];  // first vertex of the second wire: 50% blue, premultiplied
  EXPECT_EQ(v.b, 128);
  EXPECT_EQ(v.a, 128);
  for (uint32_t i : m.indices) EXPECT_LT(i, m.vertices.size());
  EXPECT_TRUE(wire_mesh({r1}, 4).opaque);
}

TEST(WireLayer, RebuildsWhenWiresChangeNotWhenOtherThingsDo) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  const QString b = doc.addNode("value.math", 300, 0);
  QQuickWindow window;
  window.resize(400, 300);
  WireLayer layer(window.contentItem());
  layer.setModel(doc.edges());
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto frame = [&] {
    window.update();
    QTest::qWait(50);
    return layer.buildCount();
  };
  const int built = frame();
  EXPECT_EQ(layer.triangleCount(), 0);
  ASSERT_TRUE(doc.connectPorts(a, "value", b, "a"));
  EXPECT_EQ(frame(), built + 1);
  EXPECT_GT(layer.triangleCount(), 0);
  doc.select(a, false);  // a node's selection changes no wire: nothing to rebuild
  EXPECT_EQ(frame(), built + 1);
  ASSERT_TRUE(doc.moveNodes({b}, 0, 50, false));
  EXPECT_EQ(frame(), built + 2);
  // Zoomed far out: the coarse mesh, built once; back and forth again builds nothing.
  const int fine_triangles = layer.triangleCount();
  layer.setCoarse(true);
  EXPECT_EQ(frame(), built + 3);
  EXPECT_GT(layer.triangleCount(), 0);
  EXPECT_LT(layer.triangleCount(), fine_triangles);
  layer.setCoarse(false);
  EXPECT_EQ(frame(), built + 3);
  EXPECT_EQ(layer.triangleCount(), fine_triangles);
  layer.setCoarse(true);
  EXPECT_EQ(frame(), built + 3);
  layer.setCoarse(false);
  doc.undo();
  doc.undo();
  frame();
  EXPECT_EQ(layer.triangleCount(), 0);
}

}  // namespace
}  // namespace lattice::editor
