// NodeFace (app/editor/node_face.h): what the painted image shows (body, selection border, port dots and
// their highlight, status line), when it is repainted (a property that changes what it shows, not a
// move or a highlight of a type the node has no port of), the per-frame budget shared by a window's
// faces, and that a face whose scene-graph node is lost paints again (it keeps no copy of its image).
#include "app/editor/node_face.h"

#include <gtest/gtest.h>

#include <QQuickWindow>
#include <QScopeGuard>
#include <QtTest/QTest>
#include <algorithm>
#include <memory>
#include <vector>

#include "app/editor/node_list_model.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

constexpr double kM = NodeFace::kDotMargin;

QVariantMap port(const QString& name, const QString& type, const QColor& color) {
  return {{"name", name}, {"type", type}, {"color", color}, {"optional", false}, {"connected", false}};
}

class NodeFaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    face.setSize({NodeLayout::kWidth, NodeLayout::height(1, 1)});
    face.setNodeId("n1");
    face.setTypeName("image.blur");
    face.setInputs({port("image", "Image", QColor(0x20, 0xc0, 0x40))});
    face.setOutputs({port("out", "Image", QColor(0x20, 0xc0, 0x40))});
    face.setSummary("radius: 4");
  }
  // Image pixel at canvas point (x, y) of the node (x = 0 its left edge), at 1 pixel per unit.
  static QColor at(const QImage& img, double x, double y) {
    return img.pixelColor(static_cast<int>(x + kM), static_cast<int>(y));
  }
  NodeFace face;
};

TEST_F(NodeFaceTest, ImageCoversTheNodeAndItsPortDots) {
  const QImage img = face.paintFace(1);
  EXPECT_EQ(img.width(), static_cast<int>(NodeLayout::kWidth + 2 * kM));
  EXPECT_EQ(img.height(), static_cast<int>(face.height()));
  const QImage twice = face.paintFace(2);
  EXPECT_EQ(twice.width(), 2 * img.width());
  // Header colour near its top-left, body colour low in the body, nothing outside the rounded corner.
  EXPECT_EQ(at(img, 12, 2), QColor(0x4a, 0x4d, 0x52));
  EXPECT_EQ(at(img, 100, face.height() - 4), QColor(0x3a, 0x3c, 0x40));
  EXPECT_EQ(at(img, 0, 0).alpha(), 0);
  // The port dots are centred on the edges: their colour at the centres, half of them outside the body.
  const QPointF in = NodeLayout::port({0, 0}, 0, false), out = NodeLayout::port({0, 0}, 0, true);
  EXPECT_EQ(at(img, in.x() - 2, in.y()), QColor(0x20, 0xc0, 0x40));
  EXPECT_EQ(at(img, out.x() + 1, out.y()), QColor(0x20, 0xc0, 0x40));
}

TEST_F(NodeFaceTest, SelectionBorderAndHighlightedPorts) {
  const double mid = face.height() - 10;
  EXPECT_EQ(at(face.paintFace(1), 0.5, mid), QColor(0x1a, 0x1a, 0x1a));
  face.setSelected(true);
  EXPECT_EQ(at(face.paintFace(1), 0.5, mid), QColor(0x4a, 0xa3, 0xff));
  // A wire of type Image dragged from an output: the input dot grows to 14 units with a light ring.
  const QPointF in = NodeLayout::port({0, 0}, 0, false);
  EXPECT_EQ(at(face.paintFace(1), in.x() - 6, in.y()).alpha(), 0);
  face.setHighlightType("Image");
  face.setHighlightInputs(true);
  EXPECT_EQ(at(face.paintFace(1), in.x() - 6, in.y()), QColor(0xe6, 0xe6, 0xe6));
  const QPointF out = NodeLayout::port({0, 0}, 0, true);
  EXPECT_EQ(at(face.paintFace(1), out.x() + 6, out.y()).alpha(), 0) << "outputs cannot take a wire from an output";
}

TEST_F(NodeFaceTest, StatusLineIsDrawnOnlyWhenSet) {
  auto status_pixels = [&] {
    const QImage img = face.paintFace(1);
    int n = 0;
    for (int y = static_cast<int>(face.height()) - 20; y < static_cast<int>(face.height()) - 2; ++y)
      for (int x = 10; x < 170; ++x) {
        const QColor c = at(img, x, y);  // red, blended into the body by the text's antialiasing
        n += c.red() - c.green() > 40 ? 1 : 0;
      }
    return n;
  };
  EXPECT_EQ(status_pixels(), 0);
  face.setStatus("failed: out of memory");
  face.setStatusColor(QColor(0xff, 0x6b, 0x6b));
  EXPECT_GT(status_pixels(), 20);
}

TEST_F(NodeFaceTest, RepaintsOnlyWhenWhatItShowsChanges) {
  QQuickWindow window;
  window.resize(400, 300);
  face.setParentItem(window.contentItem());
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto frame = [&] {
    window.update();
    QTest::qWait(50);
    return face.paintCount();
  };
  const int painted = frame();
  ASSERT_GE(painted, 1);
  face.setPosition({40, 30});  // a pan moves the item: nothing is painted
  EXPECT_EQ(frame(), painted);
  face.setHighlightType("Latent");  // no port of that type
  EXPECT_EQ(frame(), painted);
  face.setHighlightType("Image");
  EXPECT_EQ(frame(), painted + 1);
  face.setVisible(false);  // culled: a change is painted when it comes back
  face.setSummary("radius: 8");
  EXPECT_EQ(frame(), painted + 1);
  face.setVisible(true);
  EXPECT_EQ(frame(), painted + 2);
  face.setParentItem(nullptr);
}

TEST_F(NodeFaceTest, FacesOfAWindowShareAPerFrameBudget) {
  QQuickWindow window;
  window.resize(800, 300);
  std::vector<std::unique_ptr<NodeFace>> faces;
  for (int i = 0; i < 4; ++i) {
    faces.push_back(std::make_unique<NodeFace>());
    faces.back()->setSize({NodeLayout::kWidth, NodeLayout::height(1, 1)});
    faces.back()->setPosition({10.0 + 200 * i, 10});
    faces.back()->setParentItem(window.contentItem());
  }
  const double budget = NodeFace::frameBudget();
  NodeFace::setFrameBudget(0);  // one face per frame
  const auto restore = qScopeGuard([&] { NodeFace::setFrameBudget(budget); });  // also when an ASSERT returns
  // Faces painted per frame, counted after each polish phase.
  auto painted = [&] {
    int n = 0;
    for (const auto& f : faces) n += f->paintCount();
    return n;
  };
  QList<int> per_frame;
  int last = 0;
  QObject::connect(&window, &QQuickWindow::afterAnimating, &window, [&] {
    per_frame << painted() - last;
    last = painted();
  });
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  for (int i = 0; i < 1000 && painted() < 4; ++i) QTest::qWait(10);
  EXPECT_EQ(painted(), 4) << "deferred faces are painted in the next frames without anything else asking";
  ASSERT_FALSE(per_frame.empty());
  EXPECT_LE(*std::max_element(per_frame.begin(), per_frame.end()), 1);
  EXPECT_GE(per_frame.count(1), 4);
  // A change to all of them (the detail a settled zoom sets) is spread over frames the same way.
  per_frame.clear();
  for (const auto& f : faces) f->setDetail(2);
  EXPECT_TRUE(faces.front()->needsPaint());
  for (int i = 0; i < 1000 && painted() < 8; ++i) QTest::qWait(10);
  EXPECT_EQ(painted(), 8);
  ASSERT_FALSE(per_frame.empty());
  EXPECT_LE(*std::max_element(per_frame.begin(), per_frame.end()), 1);
  for (const auto& f : faces) EXPECT_EQ(f->paintedDetail(), 2);
  // Without a budget limit they all paint in one frame.
  NodeFace::setFrameBudget(1000);
  per_frame.clear();
  for (const auto& f : faces) f->setDetail(1);
  for (int i = 0; i < 1000 && painted() < 12; ++i) QTest::qWait(10);
  EXPECT_EQ(painted(), 12);
  EXPECT_EQ(per_frame.count(4), 1);
  NodeFace::setFrameBudget(budget);
  for (const auto& f : faces) f->setParentItem(nullptr);
}

TEST_F(NodeFaceTest, PaintsAgainInAnotherWindowAsItKeepsNoCopyOfItsImage) {
  QQuickWindow first, second;
  for (QQuickWindow* w : {&first, &second}) {
    w->resize(400, 300);
    w->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(w));
  }
  EXPECT_EQ(face.paintedDetail(), 0) << "nothing painted yet";
  face.setParentItem(first.contentItem());
  for (int i = 0; i < 50 && face.paintCount() == 0; ++i) QTest::qWait(10);
  ASSERT_EQ(face.paintCount(), 1);
  EXPECT_EQ(face.paintedDetail(), 1);
  face.setParentItem(second.contentItem());  // its scene-graph node and texture stay with the first window
  for (int i = 0; i < 50 && face.paintCount() == 1; ++i) {
    second.update();
    QTest::qWait(10);
  }
  EXPECT_EQ(face.paintCount(), 2);
  face.setParentItem(nullptr);
}

}  // namespace
}  // namespace lattice::editor
