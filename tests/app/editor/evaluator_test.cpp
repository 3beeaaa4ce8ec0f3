// Evaluation off the UI thread: node states reach the model, edits re-run only what changed, the viewer
// gets images, and a new run supersedes the one in flight.
#include "app/editor/evaluator.h"

#include <gtest/gtest.h>

#include <QElapsedTimer>

#include "app/editor/graph_document.h"
#include "core/types/image.h"
#include "tests/app/editor/qt_test_app.h"
#include "tests/support/editor_test_nodes.h"

#include <QThread>
#include <atomic>
#include <map>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "core/node.h"
#include "core/types/basic.h"

namespace lattice::editor {
namespace {

#ifdef __linux__
std::atomic<int> observed_nice{-100};

// test.thread_nice: records the nice value of the thread that evaluates it.
NodeDesc thread_nice_node() {
  NodeDesc d;
  d.type = "test.thread_nice";
  d.category = "Test";
  d.outputs = {{"value", PortType::Number, ""}};
  d.evaluate = [](EvalContext& c) {
    observed_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    c.set_output("value", make_number(observed_nice.load()));
  };
  return d;
}
LATTICE_REGISTER_NODE(thread_nice_node);

TEST(Evaluator, WorkerThreadRunsBelowTheUiPriority) {
  test::qt_app();
  const int ui_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString n = doc.addNode("test.thread_nice", 0, 0);
  doc.select(n);
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  ASSERT_EQ(doc.nodes()->state(n), "done");
  EXPECT_EQ(observed_nice.load(), std::min(19, ui_nice + Evaluator::kWorkerNice));
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), ui_nice);  // the UI thread keeps its own
}
#endif

TEST(Evaluator, RunsOffTheUiThreadAndReportsStates) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  const QString m = doc.addNode("value.math", 200, 0);
  const QString lone = doc.addNode("value.math", 200, 200);  // missing input: invalid, not run
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  ASSERT_TRUE(doc.setParam(a, "value", 3.0));
  doc.select(m);
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.nodes()->state(m), "done");
  EXPECT_EQ(doc.nodes()->state(lone), "invalid");
  EXPECT_FALSE(doc.nodes()->message(lone).isEmpty());
  EXPECT_TRUE(doc.evaluator()->viewInfo().contains("number")) << doc.evaluator()->viewInfo().toStdString();
  const size_t runs = doc.evaluator()->executions();
  EXPECT_EQ(runs, 2u);

  // Changing the math node re-runs it alone; its input comes from the cache.
  ASSERT_TRUE(doc.setParam(m, "op", "mul"));
  EXPECT_EQ(doc.nodes()->state(m), "dirty");
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.evaluator()->executions(), runs + 1);
  EXPECT_EQ(doc.nodes()->state(a), "cached");

  // Nothing changed: nothing runs.
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.evaluator()->executions(), runs + 1);
}

// With hundreds of nodes, every report the UI thread handles repaints or at least looks up a node: a run
// leaves the states of unchanged results alone as it starts, and says "cached" once per node.
TEST(Evaluator, ARunTouchesOnlyTheStatesThatChange) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  const QString a = doc.addNode("value.number", 0, 0);
  const QString m = doc.addNode("value.math", 200, 0);
  const QString lone = doc.addNode("value.math", 200, 200);  // missing input: invalid
  ASSERT_TRUE(doc.connectPorts(a, "value", m, "a"));
  doc.run();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  ASSERT_EQ(doc.nodes()->state(a), "done");
  ASSERT_EQ(doc.nodes()->state(lone), "invalid");

  QStringList changed;  // rows whose state changed, in order
  QObject::connect(doc.nodes(), &QAbstractItemModel::dataChanged, [&](const QModelIndex& top, const QModelIndex&) {
    changed << doc.nodes()->rows()[static_cast<size_t>(top.row())].key;
  });
  QStringList reports;
  QObject::connect(doc.evaluator(), &Evaluator::nodeStates, [&](const NodeStateReports& batch) {
    for (const auto& r : batch) reports << r.id + ":" + r.state;
  });
  ASSERT_TRUE(doc.setParam(m, "op", "mul"));
  changed.removeDuplicates();  // its summary and its state
  EXPECT_EQ(changed, QStringList{m}) << "the edit marks its node dirty";
  changed.clear();
  doc.run();
  EXPECT_TRUE(changed.isEmpty()) << "starting the run resets nothing: " << changed.join(' ').toStdString();
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.nodes()->state(a), "cached");
  EXPECT_EQ(doc.nodes()->state(m), "done");
  EXPECT_EQ(doc.nodes()->state(lone), "invalid");
  EXPECT_EQ(reports.count(a + ":cached"), 1) << reports.join(' ').toStdString();
  EXPECT_FALSE(changed.contains(lone));

  // A node left out of the run (now invalid) goes from its old result to invalid; one that was running
  // when its run was superseded would go back to idle.
  ASSERT_TRUE(doc.disconnectPort(m, "a"));
  changed.clear();
  doc.run();
  EXPECT_EQ(doc.nodes()->state(m), "invalid");
  EXPECT_TRUE(changed.contains(m));
  EXPECT_FALSE(changed.contains(lone)) << "already invalid with the same message";
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
}

TEST(Evaluator, StateReportsArriveInBatchesWithEveryReportInOrder) {
  test::qt_app();
  GraphDocument doc;
  doc.setAutoRun(false);
  // A chain of 40 nodes: each is reported queued, then running, then done.
  QString prev = doc.addNode("value.number", 0, 0);
  QStringList ids{prev};
  for (int i = 1; i < 40; ++i) {
    const QString m = doc.addNode("value.math", 200.0 * i, 0);
    ASSERT_TRUE(doc.connectPorts(prev, "value", m, "a"));
    ids << (prev = m);
  }
  std::vector<NodeStateReports> batches;
  QObject::connect(doc.evaluator(), &Evaluator::nodeStates, [&](const NodeStateReports& b) { batches.push_back(b); });
  int notifications = 0;
  QObject::connect(doc.nodes(), &QAbstractItemModel::dataChanged, [&] { ++notifications; });
  doc.run();
  // The UI thread is busy while the worker runs all 40 nodes: their 120 reports wait for it together.
  QThread::msleep(1000);
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_LE(batches.size(), 3u) << "reports made while the UI thread was busy travel together";
  EXPECT_LE(notifications, static_cast<int>(batches.size())) << "one dataChanged per batch: the rows are consecutive";
  std::map<QString, QStringList> per_node;
  for (const auto& b : batches)
    for (const auto& r : b) per_node[r.id] << r.state;
  ASSERT_EQ(per_node.size(), 40u) << "no node's reports lost";
  for (const auto& id : ids) {
    EXPECT_EQ(per_node[id], (QStringList{"queued", "running", "done"})) << id.toStdString();
    EXPECT_EQ(doc.nodes()->state(id), "done");
  }
}

TEST(Evaluator, AutoRunAfterEditsIsDebounced) {
  test::qt_app();
  GraphDocument doc;  // auto-run on
  const QString a = doc.addNode("value.number", 0, 0);
  for (double v : {1.0, 2.0, 3.0, 4.0}) ASSERT_TRUE(doc.setParam(a, "value", v, true));
  // Let the debounce timer fire, then wait for the run.
  QDeadlineTimer until(5000);
  while (doc.evaluator()->executions() == 0 && !until.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.evaluator()->executions(), 1u);  // one run for the burst, of the last value
  EXPECT_EQ(doc.nodes()->state(a), "done");
}

// Auto-run turned off right after an edit (or an open, as tests do): the run waiting for the debounce must
// not start later. It did, and its reports overwrote a state a test had set meanwhile (a flaky canvas test).
TEST(Evaluator, TurningAutoRunOffDropsTheRunWaitingForItsDebounce) {
  test::qt_app();
  GraphDocument doc;  // auto-run on
  const QString a = doc.addNode("value.number", 0, 0);
  doc.setAutoRun(false);
  QElapsedTimer waited;
  waited.start();
  while (waited.elapsed() < 600) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);  // 4x the debounce
  ASSERT_TRUE(doc.evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc.evaluator()->executions(), 0u);
  EXPECT_EQ(doc.nodes()->state(a), "dirty");  // as the edit left it
}

TEST(Evaluator, ImagesConvertToRgba8) {
  ImageData img(2, 1, 3);
  img.at(0, 0, 0) = 1.0f;  // red
  img.at(1, 0, 2) = 2.0f;  // blue, clamped
  const QImage q = to_qimage(img);
  ASSERT_EQ(q.size(), QSize(2, 1));
  EXPECT_EQ(q.pixelColor(0, 0), QColor(255, 0, 0, 255));
  EXPECT_EQ(q.pixelColor(1, 0), QColor(0, 0, 255, 255));
  ImageData gray(1, 1, 2);
  gray.at(0, 0, 0) = 0.5f;
  gray.at(0, 0, 1) = 0.0f;
  EXPECT_EQ(to_qimage(gray).pixelColor(0, 0).alpha(), 0);
}

/// Runs a test.previewer node and records every view the Evaluator announces, as (info, first value).
struct PreviewRun {
  explicit PreviewRun(int steps, int step_ms) {
    test::qt_app();
    lattice::test::register_editor_test_nodes();
    doc.setAutoRun(false);
    id = doc.addNode("test.previewer", 0, 0);
    EXPECT_TRUE(doc.setParam(id, "steps", steps));
    EXPECT_TRUE(doc.setParam(id, "step_ms", step_ms));
    doc.select(id);
    QObject::connect(doc.evaluator(), &Evaluator::viewChanged, [this] {
      const auto& f = doc.evaluator()->viewFrames().frames;
      views.emplace_back(doc.evaluator()->viewInfo(), f.empty() ? -1.0f : f[0]->pixels[0]);
      preview_nodes << doc.evaluator()->previewNode();
    });
  }
  GraphDocument doc;
  QString id;
  std::vector<std::pair<QString, float>> views;
  QStringList preview_nodes;
};

TEST(Evaluator, StepPreviewsReachTheViewWhileTheSamplerRuns) {
  PreviewRun r(6, 40);
  r.doc.run();
  ASSERT_TRUE(r.doc.evaluator()->waitForIdle(10000));
  ASSERT_GE(r.views.size(), 2u);
  // Previews came first, in step order, from the running node; the final output replaced them.
  int previews = 0;
  float last = 0;
  for (size_t i = 0; i + 1 < r.views.size(); ++i) {
    EXPECT_TRUE(r.views[i].first.contains("preview")) << r.views[i].first.toStdString();
    EXPECT_EQ(r.preview_nodes[static_cast<int>(i)], r.id);
    EXPECT_GT(r.views[i].second, last);
    last = r.views[i].second;
    ++previews;
  }
  EXPECT_GE(previews, 2) << "the UI thread polled every 20 ms during a 240 ms run";
  EXPECT_FLOAT_EQ(r.views.back().second, 1.0f);
  EXPECT_FALSE(r.views.back().first.contains("preview"));
  EXPECT_TRUE(r.doc.evaluator()->previewNode().isEmpty());
}

TEST(Evaluator, PreviewsThatPileUpCollapseToTheLatest) {
  PreviewRun r(8, 1);
  r.doc.run();
  // The UI thread is blocked while the worker sends all eight previews and finishes.
  QThread::msleep(800);
  ASSERT_TRUE(r.doc.evaluator()->waitForIdle(10000));
  ASSERT_EQ(r.views.size(), 2u) << "one preview notification, then the result";
  EXPECT_EQ(r.views[0].first, r.id + ": preview, step 8/8");
  EXPECT_FLOAT_EQ(r.views[0].second, 1.0f);
  EXPECT_FLOAT_EQ(r.views[1].second, 1.0f);
  EXPECT_FALSE(r.views[1].first.contains("preview"));
}

TEST(Evaluator, FastProgressReachesTheUiAtMostEvery40MsAndAlwaysAtTheEnd) {
  PreviewRun r(400, 0);  // 400 steps as fast as the worker can report them
  int running = 0;
  double last = 0;
  QObject::connect(r.doc.evaluator(), &Evaluator::nodeStates, [&](const NodeStateReports& batch) {
    for (const auto& s : batch)
      if (s.state == "running") ++running, last = s.progress;
  });
  QElapsedTimer clock;
  clock.start();
  r.doc.run();
  ASSERT_TRUE(r.doc.evaluator()->waitForIdle(10000));
  EXPECT_LE(running, 3 + clock.elapsed() / 40) << "throttled, not one per step";
  EXPECT_DOUBLE_EQ(last, 1.0) << "the last step always arrives";
  EXPECT_EQ(r.doc.nodes()->state(r.id), "done");
}

}  // namespace
}  // namespace lattice::editor
