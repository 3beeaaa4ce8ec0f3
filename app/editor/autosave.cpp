#include "app/editor/autosave.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <algorithm>

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

Autosaver::Autosaver(GraphDocument* doc) : QObject(doc), doc_(doc), dir_(defaultDirectory()) {
  timer_.setSingleShot(true);
  timer_.setInterval(30 * 1000);
  connect(&timer_, &QTimer::timeout, this, &Autosaver::saveNow);
  connect(doc_->undoStack(), &QUndoStack::indexChanged, this, &Autosaver::onDocumentChanged);
  connect(doc_->undoStack(), &QUndoStack::cleanChanged, this, &Autosaver::onDocumentChanged);
}

Autosaver::~Autosaver() = default;

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

bool Autosaver::saveNow() {
  timer_.stop();
  if (!doc_->dirty()) return false;
  Graph g = doc_->graph();
  g.extra[kRecoveryKey] = Json{{"file", sstr(doc_->filePath())}};
  std::string text = serialize_graph(g);
  const QString path = targetPath();
  if (path == written_path_ && text == written_) return false;
  try {
    if (!QDir().mkpath(dir_)) throw Error(ErrorKind::InvalidInput, "cannot create folder " + sstr(dir_));
    write_file_atomic(sstr(path), text);
  } catch (const std::exception& e) {
    doc_->reportError(QStringLiteral("autosave failed: %1").arg(qstr(e.what())));
    return false;
  }
  // The document was renamed (Save As) since the last write: the old file is superseded.
  if (!written_path_.isEmpty() && written_path_ != path) QFile::remove(written_path_);
  written_path_ = path;
  written_ = std::move(text);
  emit saved();
  return true;
}

void Autosaver::discard() {
  timer_.stop();
  if (!written_path_.isEmpty()) QFile::remove(written_path_);
  if (!adopted_path_.isEmpty()) QFile::remove(adopted_path_);
  written_path_.clear();
  adopted_path_.clear();
  written_.clear();
  slot_lock_.release();
  emit saved();
}

void Autosaver::adopt(const QString& recoveryFile) {
  const QString lock = lock_of(recoveryFile);
  if (project_lock_.path() != lock && !slot_lock_.acquire(lock) && slot_lock_.holder()) return;
  adopted_path_ = recoveryFile;
  written_path_ = recoveryFile;
  written_.clear();
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
