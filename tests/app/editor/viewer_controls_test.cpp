// Viewer.qml's controls driven by real mouse and key events on the offscreen window: the pixel read-out
// under the cursor, the channel box, the exposure and gamma sliders and Reset, checked against the
// ImageViewer's state and the pixels the window shows.
#include <gtest/gtest.h>

#include <QFile>
#include <QTemporaryDir>

#include "app/editor/image_viewer.h"
#include "tests/app/editor/qml_window.h"

namespace lattice::editor {
namespace {

class ViewerControls : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp.isValid());
    const QString file = tmp.filePath("image.lattice");
    QFile f(file);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(R"({"lattice":1,"nodes":[{"id":"img","type":"image.constant",
      "params":{"width":64,"height":48,"color":[0.8,0.4,0.2,1.0]},"ui":{"x":0,"y":0}}]})");
    f.close();
    ASSERT_TRUE(w.load(file));
    if (auto* d = w.window->findChild<QObject*>("recoveryDialog")) QMetaObject::invokeMethod(d, "close");
    w.doc->select("img");  // the viewer shows the current node; auto-run evaluates it
    view = qobject_cast<ImageViewer*>(w.item("imageViewer"));
    ASSERT_TRUE(view);
    ASSERT_TRUE(test::wait_until([&] { return view->hasImage(); }, 20000)) << "the constant image is shown";
    // Double-click fits the image: the view's centre is then inside it. The viewer may still be laying
    // out when the image arrives, so the double-click is repeated until the centre shows a pixel.
    auto centre_in_image = [&] { return view->readout(view->width() / 2, view->height() / 2).contains("values"); };
    for (int i = 0; i < 5 && !centre_in_image(); ++i) {
      QTest::mouseDClick(w.window, Qt::LeftButton, {}, w.at(view));
      test::wait_until(centre_in_image, 1000);
    }
    ASSERT_TRUE(centre_in_image());
  }
  QString readout() const {
    QQuickItem* l = w.item("pixelReadout");
    return l ? l->property("text").toString() : QString();
  }
  QColor centre() const { return w.pixel(w.at(view)); }

  QTemporaryDir tmp;
  test::EditorWindow w;
  ImageViewer* view = nullptr;
};

TEST_F(ViewerControls, HoverShowsTheStoredValuesUnderTheCursor) {
  QTest::mouseMove(w.window, w.at(view, 0.4, 0.4));
  QTest::mouseMove(w.window, w.at(view, 0.5, 0.5));
  ASSERT_TRUE(test::wait_until([&] { return !readout().isEmpty(); })) << "the read-out appears on hover";
  const QString text = readout();
  EXPECT_TRUE(text.contains("R 0.8000") && text.contains("G 0.4000") && text.contains("B 0.2000") &&
              text.contains("A 1.0000"))
      << text.toStdString();
  EXPECT_TRUE(text.startsWith("(")) << "pixel coordinates first: " << text.toStdString();
  // Leaving the viewer hides it.
  QQuickItem* canvas = w.window->findChild<QQuickItem*>("canvas");
  ASSERT_TRUE(canvas);
  QTest::mouseMove(w.window, w.at(canvas, 0.5, 0.5));
  EXPECT_TRUE(test::wait_until([&] { return readout().isEmpty(); })) << "no read-out outside the viewer";
}

TEST_F(ViewerControls, ChannelBoxIsolatesTheRedChannelAsGrey) {
  const QColor rgb = centre();
  EXPECT_GT(rgb.red(), rgb.green());
  EXPECT_GT(rgb.green(), rgb.blue());
  QQuickItem* box = w.item("channelBox");
  ASSERT_TRUE(box);
  w.click(box);
  QQuickItem* red = nullptr;
  ASSERT_TRUE(test::wait_until([&] { return (red = w.with_text("R")) != nullptr; })) << "the channel list opens";
  QTest::qWait(200);  // the popup's opening transition
  w.click(red);
  ASSERT_TRUE(test::wait_until([&] { return view->channel() == ImageViewer::Channel::Red; }));
  EXPECT_EQ(box->property("currentIndex").toInt(), 1);
  ASSERT_TRUE(test::wait_until([&] { return centre() != rgb; }));
  const QColor grey = centre();
  EXPECT_EQ(grey.red(), grey.green());
  EXPECT_EQ(grey.green(), grey.blue());
  EXPECT_NEAR(grey.red(), rgb.red(), 1) << "red shown as grey, same encoding";
  // Display controls never change the stored values.
  QTest::qWait(300);  // the list's closing transition
  QTest::mouseMove(w.window, w.at(view, 0.4, 0.4));
  QTest::mouseMove(w.window, w.at(view));
  ASSERT_TRUE(test::wait_until([&] { return readout().contains("R 0.8000"); })) << readout().toStdString();
}

TEST_F(ViewerControls, ExposureAndGammaSlidersChangeTheDisplayAndResetRestoresIt) {
  const QColor before = centre();
  QQuickItem* exposure = w.item("exposureSlider");
  QQuickItem* gamma = w.item("gammaSlider");
  ASSERT_TRUE(exposure && gamma);
  w.click(exposure, 0.55, 0.5);  // from -8 to 8: below +1 stop, green and blue stay below white
  ASSERT_TRUE(test::wait_until([&] { return view->exposure() > 0.3; })) << view->exposure();
  EXPECT_DOUBLE_EQ(view->exposure(), exposure->property("value").toDouble());
  ASSERT_TRUE(test::wait_until([&] { return centre() != before; }));
  const QColor bright = centre();
  EXPECT_GT(bright.green(), before.green());
  EXPECT_GT(bright.blue(), before.blue());

  // The keyboard moves the focused slider one step.
  const double e = view->exposure();
  QTest::keyClick(w.window, Qt::Key_Right);
  ASSERT_TRUE(test::wait_until([&] { return view->exposure() > e; }));
  EXPECT_NEAR(view->exposure(), e + 0.1, 1e-6);

  w.click(gamma, 0.1, 0.5);  // from 0.2 to 4: below 1, darker
  ASSERT_TRUE(test::wait_until([&] { return view->gamma() < 1; })) << view->gamma();
  EXPECT_DOUBLE_EQ(view->gamma(), gamma->property("value").toDouble());
  ASSERT_TRUE(test::wait_until([&] { return centre().blue() < bright.blue(); }));

  QQuickItem* reset = w.with_text("Reset");
  ASSERT_TRUE(reset);
  w.click(reset);
  ASSERT_TRUE(test::wait_until([&] { return view->exposure() == 0 && view->gamma() == 1; }));
  EXPECT_EQ(exposure->property("value").toDouble(), 0);
  EXPECT_EQ(gamma->property("value").toDouble(), 1);
  ASSERT_TRUE(test::wait_until([&] { return centre() == before; })) << "the display is as before";
}

}  // namespace
}  // namespace lattice::editor
