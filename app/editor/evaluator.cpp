#include "app/editor/evaluator.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "app/hooks.h"
#include "app/editor/param_value.h"
#include "core/types/image.h"
#include "core/types/video.h"

namespace lattice::editor {

/// Lives on the worker thread: owns the engine, its cache and the environment.
class EvalWorker : public QObject {
  Q_OBJECT
 public:
  EvalWorker() : memory_(size_t{1} << 30), engine_(&memory_) {}

  void run(quint64 serial, const Evaluator::Job& job, std::shared_ptr<CancelToken> cancel) {
    if (cancel->cancelled()) return emit done(serial, false, true, {});
    if (job.before_run) job.before_run();
    if (!env_ready_) {
      env_ready_ = true;
      try {
        if (app::hooks().setup_environment) app::hooks().setup_environment(env_, false);
      } catch (const std::exception& e) {
        report(serial, {}, QStringLiteral("warning"), 0, qstr(e.what()));
      }
    }
    Relay relay(this, serial);
    RenderOptions o;
    o.base_dir = job.base_dir;
    o.output_dir = job.base_dir;
    o.observer = &relay;
    o.cancel = cancel.get();
    o.env = &env_;
    o.document = job.document.get();
    bool ok = true;
    QString message;
    try {
      o.targets = job.targets;
      for (const auto& [id, key] : engine_.keys(job.graph, o)) {
        const bool cached = memory_.lookup(key) != nullptr;
        if (cached) relay.cached.insert(id);
        report(serial, qstr(id), cached ? QStringLiteral("cached") : QStringLiteral("queued"), 0, {});
      }
      // One target at a time, so that a failing branch does not keep the others from running.
      for (const auto& t : job.targets) {
        o.targets = {t};
        try {
          engine_.render(job.graph, o);
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::Cancelled) throw;
          ok = false;
          message = qstr(e.what());
        }
      }
      if (job.view_node.empty()) emit viewReady(serial, {}, {});
      else view(serial, job, o);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Cancelled) return emit done(serial, false, true, {});
      ok = false;
      message = qstr(e.what());
    } catch (const std::exception& e) {
      ok = false;
      message = qstr(e.what());
    }
    emit done(serial, ok, false, message);
  }
  size_t executions() const { return engine_.executions(); }

  struct Preview {
    quint64 serial;
    QString id;
    int step, total;
    ImagePtr image;
  };
  struct Report {
    quint64 serial;
    NodeStateReport report;
  };
  /// Every state report not yet taken, in the order they were made (any thread).
  std::vector<Report> takeReports() {
    std::lock_guard lock(reports_mutex_);
    reports_posted_ = false;
    return std::exchange(reports_, {});
  }

  /// The newest preview not yet taken (any thread). Older ones were overwritten: latest wins.
  std::optional<Preview> takePreview() {
    std::lock_guard lock(preview_mutex_);
    preview_posted_ = false;
    return std::exchange(preview_, std::nullopt);
  }

 signals:
  /// State reports are waiting in takeReports(); emitted once until they are taken, however many arrive.
  void reportsAvailable();
  void viewReady(quint64 serial, const ViewFrames& frames, const QString& info);
  void done(quint64 serial, bool ok, bool cancelled, const QString& message);
  /// A preview is waiting in takePreview(); emitted once until it is taken, however many arrive.
  void previewAvailable();

 private:
  /// Queues a state report for the UI thread (any thread: nodes may report from several). Reports made
  /// while the UI thread is busy wait and travel together, so a run's hundreds of queued/cached/done
  /// reports cross the event queue as a few batches and the model repaints each node once per batch.
  void report(quint64 serial, const QString& id, const QString& state, double progress, const QString& message) {
    {
      std::lock_guard lock(reports_mutex_);
      reports_.push_back({serial, {id, state, progress, message}});
      if (reports_posted_) return;
      reports_posted_ = true;
    }
    emit reportsAvailable();
  }

  void postPreview(Preview p) {
    {
      std::lock_guard lock(preview_mutex_);
      preview_ = std::move(p);
      if (preview_posted_) return;
      preview_posted_ = true;
    }
    emit previewAvailable();
  }

  struct Relay final : Observer {
    Relay(EvalWorker* w, quint64 s) : w(w), serial(s) {}
    void node_started(const std::string& id, const std::string&) override {
      w->report(serial, qstr(id), QStringLiteral("running"), 0, {});
    }
    void node_progress(const std::string& id, double f, const std::string& m) override {
      if (due(id, f >= 1)) w->report(serial, qstr(id), QStringLiteral("running"), f, qstr(m));
    }
    void node_step(const std::string& id, int step, int total) override {
      if (!due(id, step >= total)) return;
      w->report(serial, qstr(id), QStringLiteral("running"), total > 0 ? double(step) / total : 0,
                    QStringLiteral("step %1/%2").arg(step).arg(total));
    }
    /// Progress reaches the UI at most every kProgressMs per node (and always at the end): a node that
    /// reports every millisecond would otherwise flood the UI thread with redraws of its progress bar
    /// (bench/editor_canvas_bench.cpp, "while evaluating"). Nodes may report from several threads.
    static constexpr qint64 kProgressMs = 40;
    bool due(const std::string& id, bool last) {
      std::lock_guard lock(mutex);
      QElapsedTimer& t = last_report[id];
      if (!last && t.isValid() && t.elapsed() < kProgressMs) return false;
      t.start();
      return true;
    }
    std::mutex mutex;
    std::map<std::string, QElapsedTimer> last_report;
    void node_finished(const std::string& id, const std::string&, const std::string& status, double ms) override {
      // Said as the run started: with 500 nodes, repeating it doubled the reports the UI thread handles.
      if (status == "cached" && cached.count(id)) return;
      w->report(serial, qstr(id), status == "cached" ? QStringLiteral("cached") : QStringLiteral("done"), 1,
                    status == "cached" ? QString() : QStringLiteral("%1 ms").arg(ms, 0, 'f', 1));
    }
    void node_failed(const std::string& id, const std::string& message) override {
      w->report(serial, qstr(id), QStringLiteral("failed"), 0, qstr(message));
    }
    void warning(const std::string& message) override {
      w->report(serial, {}, QStringLiteral("warning"), 0, qstr(message));
    }
    bool wants_previews() const override { return true; }
    void node_preview(const std::string& id, int step, int total, std::shared_ptr<const ImageData> image) override {
      if (image) w->postPreview({serial, qstr(id), step, total, std::move(image)});
    }
    EvalWorker* w;
    quint64 serial;
    std::set<std::string> cached;  // reported cached as the run started
  };

  void view(quint64 serial, const Evaluator::Job& job, RenderOptions& o) {
    const Node* n = job.graph.find(job.view_node);
    const NodeDesc* d = n ? NodeRegistry::instance().find(n->type) : nullptr;
    if (!d) return emit viewReady(serial, {}, {});
    ViewFrames frames;
    QStringList info;
    o.targets = {job.view_node};
    o.observer = nullptr;  // these are cache hits; the render above already reported the node's state
    for (const auto& out : d->outputs) {
      Value v;
      try {
        v = engine_.evaluate(job.graph, job.view_node, out.name, o);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Cancelled) throw;
        return emit viewReady(serial, {}, {});  // the failure is already on the node
      }
      if (!v) continue;
      info << qstr(out.name) + QStringLiteral(": ") + qstr(v->describe());
      if (!frames.frames.empty()) continue;
      if (auto img = std::dynamic_pointer_cast<const ImageData>(v)) {
        frames.frames = {std::move(img)};
      } else if (const auto* video = dynamic_cast<const VideoData*>(v.get())) {
        frames.frames = video->frames;  // shared, not copied
        frames.fps_num = video->fps_num;
        frames.fps_den = video->fps_den;
      } else if (auto picture = v->preview_image()) {
        frames.frames = {std::move(picture)};  // latents in false colour
      }
    }
    emit viewReady(serial, frames, info.join(QLatin1Char('\n')));
  }

  std::mutex reports_mutex_;
  std::vector<Report> reports_;  // guarded by reports_mutex_
  bool reports_posted_ = false;   // guarded by reports_mutex_
  std::mutex preview_mutex_;
  std::optional<Preview> preview_;  // guarded by preview_mutex_
  bool preview_posted_ = false;     // guarded by preview_mutex_
  MemoryCache memory_;
  Engine engine_;
  Environment env_;
  bool env_ready_ = false;
};

Evaluator::Evaluator(QObject* parent) : QObject(parent), worker_(new EvalWorker) {
  qRegisterMetaType<ViewFrames>();
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(worker_, &EvalWorker::reportsAvailable, this, &Evaluator::onWorkerReports);
  connect(worker_, &EvalWorker::viewReady, this, &Evaluator::onWorkerView);
  connect(worker_, &EvalWorker::done, this, &Evaluator::onWorkerDone);
  connect(worker_, &EvalWorker::previewAvailable, this, &Evaluator::onWorkerPreview);
  thread_.setObjectName(QStringLiteral("lattice-eval"));
  thread_.start();
  // Queued first, so it runs on the worker before any job (and before the Vulkan device, whose threads
  // inherit the nice value, is created there).
  QMetaObject::invokeMethod(
      worker_,
      [] {
#ifdef __linux__
        const pid_t tid = gettid();
        errno = 0;
        const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
        if (errno == 0) setpriority(PRIO_PROCESS, static_cast<id_t>(tid), std::min(19, nice + kWorkerNice));
#endif
      },
      Qt::QueuedConnection);
}

Evaluator::~Evaluator() {
  if (cancel_) cancel_->cancel();
  thread_.quit();
  thread_.wait();
}

quint64 Evaluator::start(Job job) {
  if (cancel_) cancel_->cancel();
  cancel_ = std::make_shared<CancelToken>();
  const quint64 serial = ++serial_;
  QMetaObject::invokeMethod(
      worker_, [w = worker_, serial, job = std::move(job), c = cancel_] { w->run(serial, job, c); },
      Qt::QueuedConnection);
  if (!busy_) {
    busy_ = true;
    emit busyChanged();
  }
  status_ = QStringLiteral("running");
  emit statusChanged();
  return serial;
}

void Evaluator::cancel() {
  if (cancel_) cancel_->cancel();
}

bool Evaluator::waitForIdle(int ms) {
  QDeadlineTimer deadline(ms);
  while (busy_ && !deadline.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
  return !busy_;
}

size_t Evaluator::executions() const { return worker_->executions(); }

void Evaluator::onWorkerReports() {
  NodeStateReports batch;
  bool status = false;
  for (auto& [serial, r] : worker_->takeReports()) {
    if (serial != serial_) continue;  // a superseded run's
    if (r.id.isEmpty()) {
      status_ = r.message;
      status = true;
    } else {
      batch.push_back(std::move(r));
    }
  }
  if (status) emit statusChanged();
  if (!batch.isEmpty()) emit nodeStates(batch);
}

void Evaluator::onWorkerView(quint64 serial, const ViewFrames& frames, const QString& info) {
  if (serial != serial_) return;
  preview_node_.clear();
  view_frames_ = frames;
  view_info_ = info;
  emit viewChanged();
}

void Evaluator::onWorkerPreview() {
  const auto p = worker_->takePreview();
  // A preview that arrives after its run ended (queued behind the final view) must not replace it.
  if (!p || p->serial != serial_ || !busy_) return;
  view_frames_ = ViewFrames{{p->image}};
  view_info_ = QStringLiteral("%1: preview, step %2/%3").arg(p->id).arg(p->step).arg(p->total);
  preview_node_ = p->id;
  emit viewChanged();
}

void Evaluator::onWorkerDone(quint64 serial, bool ok, bool cancelled, const QString& message) {
  if (serial != serial_) return;
  onWorkerReports();  // made before `done`: every node's state is in before the run is said to end
  if (!cancelled) {
    status_ = ok ? QStringLiteral("ready") : message;
    emit statusChanged();
    emit finished(ok, message);
  }
  busy_ = false;
  emit busyChanged();
}

}  // namespace lattice::editor

#include "evaluator.moc"
