// ImageViewer (app/editor/image_viewer.h): display controls change the displayed pixels and not the data,
// the read-out maps item coordinates to stored values, and videos from the Evaluator get frame count,
// seeking and playback at their frame rate.
#include "app/editor/image_viewer.h"

#include <gtest/gtest.h>

#include <QDeadlineTimer>
#include <QElapsedTimer>

#include "app/editor/graph_document.h"
#include "tests/app/editor/qt_test_app.h"
#include "tests/support/editor_test_nodes.h"

namespace lattice::editor {
namespace {

std::shared_ptr<ImageData> filled(int w, int h, float v) {
  auto img = std::make_shared<ImageData>(w, h, 3);
  std::fill(img->pixels.begin(), img->pixels.end(), v);
  return img;
}

void spin(int ms) {
  QDeadlineTimer until(ms);
  while (!until.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
}

class ImageViewerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    viewer.setSize(QSizeF(200, 100));
  }
  ImageViewer viewer;
};

TEST_F(ImageViewerTest, DisplayControlsChangeDisplayNotData) {
  auto img = filled(4, 2, 0.25f);
  img->at(3, 1, 0) = 0.75f;
  viewer.setFrames({{img}});
  EXPECT_TRUE(viewer.hasImage());
  EXPECT_FALSE(viewer.isVideo());
  EXPECT_EQ(viewer.displayImage().pixelColor(0, 0), QColor(64, 64, 64));
  viewer.setExposure(1);
  EXPECT_EQ(viewer.displayImage().pixelColor(0, 0), QColor(128, 128, 128));
  viewer.setGamma(0.5);
  EXPECT_EQ(viewer.displayImage().pixelColor(0, 0), QColor(64, 64, 64)) << "(0.25 * 2)^2";
  viewer.setChannel(ImageViewer::Channel::Red);
  EXPECT_EQ(viewer.displayImage().pixelColor(3, 1), QColor(255, 255, 255)) << "1.5 clamps to 1";
  EXPECT_FLOAT_EQ(img->at(0, 0, 0), 0.25f);
  EXPECT_FLOAT_EQ(img->at(3, 1, 0), 0.75f);
  viewer.setGamma(100);
  EXPECT_DOUBLE_EQ(viewer.gamma(), 10) << "gamma is clamped";
}

TEST_F(ImageViewerTest, ReadoutMapsItemPointsToStoredValues) {
  auto img = filled(4, 2, 0.5f);
  img->at(3, 1, 2) = 7.5f;  // out of display range: the read-out still says 7.5
  viewer.setFrames({{img}});
  // Fitted: 4x2 in 200x100, magnified at most 8x -> a 32x16 image centred, its top-left at (84, 42).
  EXPECT_DOUBLE_EQ(viewer.zoom(), 8);
  const QVariantMap r = viewer.readout(84 + 3 * 8 + 4, 42 + 8 + 4);
  ASSERT_FALSE(r.isEmpty());
  EXPECT_EQ(r["x"].toInt(), 3);
  EXPECT_EQ(r["y"].toInt(), 1);
  EXPECT_EQ(r["channels"].toString(), "RGB");
  EXPECT_FLOAT_EQ(r["values"].toList()[2].toFloat(), 7.5f);
  viewer.setExposure(-3);
  EXPECT_FLOAT_EQ(viewer.readout(84 + 3 * 8 + 4, 42 + 8 + 4)["values"].toList()[2].toFloat(), 7.5f);
  viewer.setPanX(-50);  // the image now starts at x = 34
  EXPECT_TRUE(viewer.readout(30, 45).isEmpty()) << "left of the image";
  EXPECT_EQ(viewer.readout(34 + 8 + 1, 45)["x"].toInt(), 1);
  EXPECT_TRUE(viewer.readout(100, 80).isEmpty()) << "below the image";
}

TEST_F(ImageViewerTest, VideoFramesSeekAndPlayAtTheirRate) {
  ViewFrames v;
  for (int i = 0; i < 20; ++i) v.frames.push_back(filled(4, 2, 0.2f * static_cast<float>(i + 1)));
  v.fps_num = 20;  // 50 ms a frame, 1 s a loop
  viewer.setFrames(v);
  EXPECT_TRUE(viewer.isVideo());
  EXPECT_EQ(viewer.frameCount(), 20);
  EXPECT_DOUBLE_EQ(viewer.fps(), 20);
  EXPECT_EQ(viewer.currentFrame(), 0);
  viewer.setCurrentFrame(2);
  EXPECT_EQ(viewer.displayImage().pixelColor(0, 0).red(), std::lround(0.6 * 255));
  EXPECT_FLOAT_EQ(viewer.readout(100, 50)["values"].toList()[0].toFloat(), 0.6f);
  viewer.setCurrentFrame(99);
  EXPECT_EQ(viewer.currentFrame(), 19) << "seeking is clamped";

  viewer.setCurrentFrame(0);
  std::vector<int> seen;
  QObject::connect(&viewer, &ImageViewer::frameChanged, [&] { seen.push_back(viewer.currentFrame()); });
  QElapsedTimer clock;
  clock.start();
  viewer.setPlaying(true);
  ASSERT_TRUE(viewer.playing());
  spin(175);
  const qint64 ms = clock.elapsed();
  viewer.setPlaying(false);
  ASSERT_FALSE(seen.empty());
  // The frame follows the clock: ~175 ms at 20 fps is frame 3 (a loaded machine may show it late, but the
  // frame shown is never ahead of the clock).
  ASSERT_LT(ms, 1000) << "the event loop stalled for a whole loop of the video";
  EXPECT_LE(seen.back(), static_cast<int>(ms * 20 / 1000));
  EXPECT_GE(seen.back(), 2) << "playback advanced too slowly";
  const int stopped_at = viewer.currentFrame();
  spin(120);
  EXPECT_EQ(viewer.currentFrame(), stopped_at) << "paused playback does not advance";

  viewer.setFrames({{filled(4, 2, 0.5f)}});
  EXPECT_FALSE(viewer.isVideo());
  EXPECT_EQ(viewer.currentFrame(), 0);
  viewer.setPlaying(true);
  EXPECT_FALSE(viewer.playing()) << "a still image does not play";
}

TEST_F(ImageViewerTest, ShowsVideoOutputOfTheViewedNode) {
  lattice::test::register_editor_test_nodes();
  GraphDocument doc;
  doc.setAutoRun(false);
  viewer.setEvaluator(doc.evaluator());
  const QString id = doc.addNode("test.video", 0, 0);
  ASSERT_FALSE(id.isEmpty()) << doc.lastError().toStdString();
  ASSERT_TRUE(doc.setParam(id, "frames", 5));
  ASSERT_TRUE(doc.setParam(id, "fps_num", 30000));
  ASSERT_TRUE(doc.setParam(id, "fps_den", 1001));
  doc.select(id);
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_TRUE(viewer.isVideo());
  EXPECT_EQ(viewer.frameCount(), 5);
  EXPECT_NEAR(viewer.fps(), 29.97, 0.01);
  viewer.setCurrentFrame(4);
  EXPECT_FLOAT_EQ(viewer.readout(100, 50)["values"].toList()[1].toFloat(), 0.5f);
  EXPECT_TRUE(doc.evaluator()->viewInfo().contains("video")) << doc.evaluator()->viewInfo().toStdString();
}

}  // namespace
}  // namespace lattice::editor
