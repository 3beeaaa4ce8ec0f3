#pragma once
/// Evaluator: runs graphs off the UI thread on the engine `lattice --render` uses (lattice::Engine over a
/// MemoryCache), so an edit re-runs only the nodes whose cache keys changed.
///
/// Threading: the Engine, its cache and the Environment live on one worker QThread and are touched only
/// there. start() (UI thread) cancels the run in flight through its CancelToken and queues a new one; the
/// worker skips queued runs that were cancelled before they began. Observer callbacks arrive on the
/// worker thread and are re-emitted as queued signals carrying the run's serial; the UI side drops
/// reports of superseded runs. Every public member is for the UI thread.
///
/// State reports (queued, running, done, ...) are batched: the worker queues them behind a mutex and posts
/// one notification until the UI thread takes them all, which it passes on as one nodeStates() signal, in
/// the order they were made. A 500-node run that reports every node as it starts then reaches the UI as a
/// few batches, not 500 queued events each repainting a node (docs/performance.md, "while a model runs").
///
/// Step previews (Observer::node_preview, e.g. a sampler's latents after each step) replace the view while
/// the run is in flight, whichever node sends them; the run's final view replaces them. The worker keeps
/// only the newest preview behind a mutex and posts one notification until the UI thread takes it, so a
/// fast sampler never floods the event queue: latest wins.
///
/// Priority: the worker thread runs at a nice value `kWorkerNice` above the UI's (Linux; threads it
/// creates inherit it, which includes lavapipe's and OpenMP-style worker pools created during a run), so a
/// model that saturates every core on a CPU device still leaves the UI and render threads a core's worth of
/// time when they need it. `lattice --render` does not lower anything: it has no UI to keep responsive.

#include <QObject>
#include <QThread>
#include <QtQml/qqmlregistration.h>
#include <filesystem>
#include <functional>
#include <memory>

#include "app/editor/display_transform.h"
#include "app/editor/node_state.h"
#include "core/engine.h"
#include "core/types/image.h"

namespace lattice::editor {

class EvalWorker;

class Evaluator : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("Evaluator belongs to a GraphDocument")
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
  Q_PROPERTY(QString viewInfo READ viewInfo NOTIFY viewChanged)
  Q_PROPERTY(QString status READ status NOTIFY statusChanged)
  /// The node whose step preview the view shows now ("" when it shows a result).
  Q_PROPERTY(QString previewNode READ previewNode NOTIFY viewChanged)
 public:
  explicit Evaluator(QObject* parent = nullptr);
  ~Evaluator() override;

  static constexpr int kWorkerNice = 10;

  struct Job {
    Graph graph;                       ///< only runnable nodes (see graph_edits.h runnable_nodes)
    std::vector<std::string> targets;  ///< nodes to evaluate
    std::string view_node;             ///< node whose outputs the viewer shows ("" = none)
    std::filesystem::path base_dir = ".";
    std::shared_ptr<const Json> document;  ///< the whole project, embedded in written images
    /// Called on the worker before the run starts (GraphDocument: blocks until the autosave of this state
    /// is on disk, since a run is when a crash is likeliest).
    std::function<void()> before_run;
  };
  /// Cancels the current run and starts `job`. Returns the run's serial.
  quint64 start(Job job);
  Q_INVOKABLE void cancel();
  /// Blocks (running the event loop) until no run is in flight or `ms` passed; true when idle. For tests
  /// and the screenshot option.
  bool waitForIdle(int ms);

  bool busy() const { return busy_; }
  /// What the viewer shows: the viewed node's first Image output or Video output (the frames).
  const ViewFrames& viewFrames() const { return view_frames_; }
  QString viewInfo() const { return view_info_; }
  QString status() const { return status_; }
  QString previewNode() const { return preview_node_; }
  /// Engine node executions so far (tests count re-runs with it). Safe only while idle.
  size_t executions() const;

 signals:
  /// State reports of the current run that arrived since the last batch, in the order they were made
  /// (several per node possible: the last stands). state: queued, running, done, cached, failed, blocked
  /// (see NodeListModel::setState). All of a run's reports arrive before its finished().
  void nodeStates(const lattice::editor::NodeStateReports& reports);
  void busyChanged();
  void viewChanged();
  void statusChanged();
  /// A run ended: ok = every target evaluated; cancelled runs do not report.
  void finished(bool ok, const QString& message);

 private:
  void onWorkerReports();
  void onWorkerView(quint64 serial, const ViewFrames& frames, const QString& info);
  void onWorkerPreview();
  void onWorkerDone(quint64 serial, bool ok, bool cancelled, const QString& message);

  QThread thread_;
  EvalWorker* worker_;  // lives on thread_, deleted when it finishes
  std::shared_ptr<CancelToken> cancel_;
  quint64 serial_ = 0;
  bool busy_ = false;
  ViewFrames view_frames_;
  QString view_info_, status_, preview_node_;
};

}  // namespace lattice::editor
