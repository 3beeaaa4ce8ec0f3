#include "app/editor/autosave.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "app/editor/graph_document.h"
#include "app/editor/param_value.h"
#include "core/atomic_file.h"
#include "core/document.h"
#include "core/error.h"

namespace lattice::editor {

namespace {

const char* const kRecoveryKey = "lattice_recovery";

/// X.lock beside recovery file X.lattice.
QString lock_of(const QString& recoveryFile) {
  const QFileInfo fi(recoveryFile);
  return fi.absolutePath() + QLatin1Char('/') + fi.completeBaseName() + QStringLiteral(".lock");
}

}  // namespace

/// The thread that writes recovery files, one at a time in the order they were queued. Each write adds the
/// recovery key to its document, skips a text equal to the last one written to the same path, creates the
/// folder, writes atomically, then removes the file it supersedes (after: a crash between the two leaves
/// one good file). The last path and text are touched only by this thread while it runs a task, and by
/// forget() once the queue is empty.
class Autosaver::Writer {
 public:
  struct Task {
    std::string path, superseded, dir, original;
    std::shared_ptr<const Json> document;
    bool background = false;  ///< nobody waits for it: its error goes to on_error
  };
  /// `on_error` is called on the writer thread.
  explicit Writer(std::function<void(const std::string&)> on_error)
      : on_error_(std::move(on_error)), thread_([this] { loop(); }) {}
  ~Writer() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();  // after the queue is empty: queued writes are never dropped
  }
  std::shared_future<Outcome> post(Task t) {
    std::promise<Outcome> done;
    std::shared_future<Outcome> f = done.get_future().share();
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back({std::move(t), std::move(done)});
    }
    wake_.notify_all();
    return f;
  }
  /// Blocks until every queued write is done.
  void wait() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return tasks_.empty() && !busy_; });
  }
  /// Waits, then forgets the last write, so that the next one is made even with the same text.
  void forget() {
    wait();
    std::lock_guard lock(mutex_);
    last_path_.clear();
    last_text_.clear();
  }

 private:
  struct Item {
    Task task;
    std::promise<Outcome> done;
  };
  void loop() {
    for (;;) {
      Item item;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        item = std::move(tasks_.front());
        tasks_.pop_front();
        busy_ = true;
      }
      Outcome o = write(item.task);
      if (item.task.background && !o.error.empty()) on_error_(o.error);
      item.done.set_value(std::move(o));
      {
        std::lock_guard lock(mutex_);
        busy_ = false;
      }
      idle_.notify_all();
    }
  }
  Outcome write(const Task& t) {
    Json document = *t.document;
    document[kRecoveryKey] = Json{{"file", t.original}};
    std::string text = document.dump(2) + "\n";  // what serialize_graph writes, with the recovery key last
    if (t.path == last_path_ && text == last_text_) return {};
    try {
      if (!QDir().mkpath(qstr(t.dir))) throw Error(ErrorKind::InvalidInput, "cannot create folder " + t.dir);
      write_file_atomic(t.path, text);
    } catch (const std::exception& e) {
      return {false, e.what()};
    }
    if (!t.superseded.empty() && t.superseded != t.path) QFile::remove(qstr(t.superseded));
    last_path_ = t.path;
    last_text_ = std::move(text);
    return {true, {}};
  }

  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<Item> tasks_;  // guarded by mutex_
  bool busy_ = false;       // guarded by mutex_
  bool stop_ = false;       // guarded by mutex_
  std::string last_path_, last_text_;
  std::function<void(const std::string&)> on_error_;
  std::thread thread_;      // last: started once the rest is made
};

Autosaver::Autosaver(GraphDocument* doc)
    : QObject(doc),
      doc_(doc),
      // Safe: the writer thread ends before this object does, which drops the calls still queued.
      writer_(std::make_unique<Writer>([this](const std::string& error) {
        QMetaObject::invokeMethod(
            this, [this, e = qstr(error)] { doc_->reportError(QStringLiteral("autosave failed: %1").arg(e)); },
            Qt::QueuedConnection);
      })),
      dir_(defaultDirectory()) {
  timer_.setSingleShot(true);
  timer_.setInterval(30 * 1000);
  connect(&timer_, &QTimer::timeout, this, &Autosaver::saveNow);
  connect(doc_->undoStack(), &QUndoStack::indexChanged, this, &Autosaver::onDocumentChanged);
  connect(doc_->undoStack(), &QUndoStack::cleanChanged, this, &Autosaver::onDocumentChanged);
}

Autosaver::~Autosaver() {
  writer_.reset();  // its writes done before the locks below are released
}

QString Autosaver::defaultDirectory() {
  return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/recovery");
}

void Autosaver::setDirectory(const QString& dir) {
  if (dir == dir_) return;
  discard();
  dir_ = dir;
  if (project_lock_.held()) claimProject(doc_->filePath());  // the lock lives in the folder
  emit recoverableChanged();
}

void Autosaver::setInterval(int seconds) {
  seconds = std::max(1, seconds);
  if (seconds == interval()) return;
  timer_.setInterval(seconds * 1000);
  emit intervalChanged();
}

void Autosaver::onDocumentChanged() {
  if (!doc_->dirty()) {
    timer_.stop();
    discard();
  } else if (!timer_.isActive()) {
    timer_.start();
  }
}

QString Autosaver::projectSlot(const QString& file) const {
  const QByteArray h = QCryptographicHash::hash(file.toUtf8(), QCryptographicHash::Sha1).toHex().left(16);
  return dir_ + QLatin1Char('/') + QString::fromLatin1(h);
}

QString Autosaver::projectLockFile(const QString& file) const { return projectSlot(file) + QStringLiteral(".lock"); }

std::optional<DocumentLock::Owner> Autosaver::claimProject(const QString& file) {
  project_lock_.release();
  if (file.isEmpty() || project_lock_.acquire(projectLockFile(file))) return std::nullopt;
  return project_lock_.holder();
}

bool Autosaver::takeSlot(const QString& base) {
  const QString lock = QFileInfo(base + QStringLiteral(".lock")).absoluteFilePath();
  if (project_lock_.path() == lock || slot_lock_.path() == lock) return true;
  // A lock file that cannot be created at all (no folder) is no other editor's: the write then fails
  // and reports why.
  return slot_lock_.acquire(lock) || !slot_lock_.holder();
}

QString Autosaver::targetPath() {
  if (!adopted_path_.isEmpty()) return adopted_path_;
  const QString file = doc_->filePath();
  const QString ext = QStringLiteral(".lattice");
  if (!file.isEmpty()) {
    const QString base = projectSlot(file);
    if (project_lock_.path() == QFileInfo(base + QStringLiteral(".lock")).absoluteFilePath()) return base + ext;
    // Another editor has the project open and autosaves to base.lattice: a slot of our own beside it.
    for (int n = 2;; ++n) {
      const QString alt = base + QStringLiteral("-%1").arg(n);
      if ((written_path_ == alt + ext || !QFileInfo::exists(alt + ext)) && takeSlot(alt)) return alt + ext;
    }
  }
  // An untitled document keeps the name it wrote first; a new one takes the first number that neither
  // holds a file (a crashed session's untitled files are never overwritten) nor is another editor's.
  if (!written_path_.isEmpty() && QFileInfo(written_path_).fileName().startsWith(QStringLiteral("untitled-")) &&
      slot_lock_.path() == lock_of(written_path_))
    return written_path_;
  for (int n = 1;; ++n) {
    const QString base = dir_ + QStringLiteral("/untitled-%1").arg(n);
    if (!QFileInfo::exists(base + ext) && takeSlot(base)) return base + ext;
  }
}

std::shared_future<Autosaver::Outcome> Autosaver::queue(std::shared_ptr<const Json> document, bool background) {
  timer_.stop();
  if (!doc_->dirty()) return {};
  const QString path = targetPath();
  // The document was renamed (Save As) since the last write: the old file is superseded.
  Writer::Task t{sstr(path), written_path_ != path ? sstr(written_path_) : std::string(), sstr(dir_),
                 sstr(doc_->filePath()), std::move(document), background};
  written_path_ = path;
  return writer_->post(std::move(t));
}

bool Autosaver::saveNow() {
  const auto f = queue(doc_->dirty() ? std::make_shared<const Json>(graph_to_json(doc_->graph())) : nullptr, false);
  if (!f.valid()) return false;
  const Outcome& o = f.get();
  if (!o.error.empty()) {
    doc_->reportError(QStringLiteral("autosave failed: %1").arg(qstr(o.error)));
    return false;
  }
  if (o.written) emit saved();
  return o.written;
}

std::function<void()> Autosaver::saveBeforeRun(std::shared_ptr<const Json> document) {
  const QString before = written_path_;
  const auto f = queue(std::move(document), true);
  if (!f.valid()) return {};
  if (written_path_ != before) emit saved();  // recoveryFile is the new one
  return [f] { f.wait(); };
}

void Autosaver::discard() {
  timer_.stop();
  writer_->forget();  // a write in flight must not bring the file back
  if (!written_path_.isEmpty()) QFile::remove(written_path_);
  if (!adopted_path_.isEmpty()) QFile::remove(adopted_path_);
  written_path_.clear();
  adopted_path_.clear();
  slot_lock_.release();
  emit saved();
}

void Autosaver::adopt(const QString& recoveryFile) {
  const QString lock = lock_of(recoveryFile);
  if (project_lock_.path() != lock && !slot_lock_.acquire(lock) && slot_lock_.holder()) return;
  adopted_path_ = recoveryFile;
  writer_->forget();
  written_path_ = recoveryFile;
  emit recoverableChanged();
}

Autosaver::Recovered Autosaver::read(const QString& recoveryFile) {
  Graph g = load_graph_file(sstr(recoveryFile));
  const auto it = g.extra.find(kRecoveryKey);
  if (it == g.extra.end() || !it->is_object() || !it->contains("file") || !(*it)["file"].is_string())
    throw Error(ErrorKind::InvalidInput, sstr(recoveryFile) + ": not a recovery file (no \"lattice_recovery\" key)");
  Recovered r;
  r.originalFile = qstr((*it)["file"].get<std::string>());
  g.extra.erase(it);
  r.graph = std::move(g);
  return r;
}

QVariantList Autosaver::recoverable() const {
  QVariantList out;
  const QFileInfoList files =
      QDir(dir_).entryInfoList({QStringLiteral("*.lattice")}, QDir::Files, QDir::Time);  // newest first
  for (const QFileInfo& fi : files) {
    const QString path = fi.absoluteFilePath();
    if ((!written_path_.isEmpty() && path == QFileInfo(written_path_).absoluteFilePath()) ||
        (!adopted_path_.isEmpty() && path == QFileInfo(adopted_path_).absoluteFilePath()))
      continue;  // this document's own file
    if (DocumentLock::heldByOtherProcess(lock_of(path))) continue;  // a running editor's, not a crash's
    QVariantMap m{{"recoveryFile", path}, {"modified", fi.lastModified()}};
    try {
      const Recovered r = read(path);
      if (!r.originalFile.isEmpty()) {
        const QFileInfo orig(r.originalFile);
        if (orig.exists() && orig.lastModified() >= fi.lastModified()) continue;  // saved after it: stale
      }
      m["originalFile"] = r.originalFile;
      m["name"] = r.originalFile.isEmpty() ? QStringLiteral("Untitled (%1)").arg(fi.completeBaseName())
                                           : QFileInfo(r.originalFile).fileName();
      m["nodes"] = static_cast<int>(r.graph.nodes.size());
    } catch (const std::exception& e) {
      m["originalFile"] = QString();
      m["name"] = qstr(e.what());
      m["nodes"] = 0;
    }
    out << m;
  }
  return out;
}

bool Autosaver::discardRecovery(const QString& recoveryFile) {
  const QFileInfo fi(recoveryFile);
  // Only files in the recovery folder: this deletes files named by QML.
  if (fi.absolutePath() != QFileInfo(dir_).absoluteFilePath() || fi.suffix() != QLatin1String("lattice")) return false;
  if (DocumentLock::heldByOtherProcess(lock_of(fi.absoluteFilePath()))) return false;  // another editor writes it
  const bool ok = QFile::remove(fi.absoluteFilePath());
  emit recoverableChanged();
  return ok;
}

}  // namespace lattice::editor
