// CanvasGrid (app/editor/canvas_grid.h): which lines a view shows, and the line vertices the hardware
// renderers draw (the painted tile of the software renderer is covered by canvas_interaction_test).
#include "app/editor/canvas_grid.h"

#include <gtest/gtest.h>

#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

TEST(CanvasGrid, LinesFollowTheOriginAndZoomAndDropMinorLinesWhenDense) {
  test::qt_app();
  CanvasGrid grid;
  grid.setSize({100, 50});
  grid.setStep(20);
  grid.setMajorEvery(5);
  // Canvas x = 0 at view column 10: lines at columns 10, 30, ... (10 major).
  std::vector<CanvasGrid::Line> v;
  for (const auto& l : grid.lines(10, 0, 100, 50))
    if (l.vertical) v.push_back(l);
  ASSERT_EQ(v.size(), 5u);
  // Minor lines first, majors on top.
  EXPECT_EQ(v.back().at, 10);
  EXPECT_TRUE(v.back().major);
  for (size_t i = 0; i + 1 < v.size(); ++i) EXPECT_FALSE(v[i].major);
  // At zoom 0.25 minor lines would be 5 pixels apart (< minSpacing 6): only majors, 25 apart.
  grid.setZoom(0.25);
  const auto dense = grid.lines(0, 0, 100, 50);
  int vertical = 0, horizontal = 0;
  for (const auto& l : dense) {
    EXPECT_TRUE(l.major);
    EXPECT_EQ(l.at % 25, 0);
    ++(l.vertical ? vertical : horizontal);
  }
  EXPECT_GE(vertical, 4) << "columns 0, 25, 50, 75";
  EXPECT_GE(horizontal, 2) << "rows 0, 25";
}

TEST(CanvasGrid, LineVerticesCrossTheViewThroughPixelCentres) {
  const std::vector<CanvasGrid::Line> lines{{true, 7, false}, {false, 3, true}};
  const QColor minor(0x2a, 0x2b, 0x2e), major(0x34, 0x36, 0x3a);
  const auto v = CanvasGrid::lineVertices(lines, 200, 100, minor, major);
  ASSERT_EQ(v.size(), 4u);
  // The vertical minor line: column 7 from the top to the bottom edge.
  EXPECT_FLOAT_EQ(v[0].x, 7.5f);
  EXPECT_FLOAT_EQ(v[0].y, 0);
  EXPECT_FLOAT_EQ(v[1].x, 7.5f);
  EXPECT_FLOAT_EQ(v[1].y, 100);
  EXPECT_EQ(v[0].r, 0x2a);
  EXPECT_EQ(v[0].a, 255);
  // The horizontal major line: row 3 across the whole width, in the major colour.
  EXPECT_FLOAT_EQ(v[2].x, 0);
  EXPECT_FLOAT_EQ(v[3].x, 200);
  EXPECT_FLOAT_EQ(v[2].y, 3.5f);
  EXPECT_FLOAT_EQ(v[3].y, 3.5f);
  EXPECT_EQ(v[3].b, 0x3a);
  // A translucent colour is premultiplied.
  const auto t = CanvasGrid::lineVertices({{true, 0, false}}, 10, 10, QColor(200, 100, 50, 128), major);
  EXPECT_EQ(t[0].r, 100);
  EXPECT_EQ(t[0].a, 128);
}

}  // namespace
}  // namespace lattice::editor
