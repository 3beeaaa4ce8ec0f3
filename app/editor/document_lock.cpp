#include "app/editor/document_lock.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QLockFile>
#include <QSysInfo>

namespace lattice::editor {

namespace {

/// A QLockFile that goes stale only when its process is gone, never by age (Qt's default is 30 s).
std::unique_ptr<QLockFile> lock_file(const QString& path) {
  auto f = std::make_unique<QLockFile>(path);
  f->setStaleLockTime(0);
  return f;
}

std::optional<DocumentLock::Owner> owner_of(const QLockFile& f) {
  DocumentLock::Owner o;
  if (!f.getLockInfo(&o.pid, &o.host, &o.program)) return std::nullopt;
  return o;
}

bool is_this_process(const DocumentLock::Owner& o) {
  return o.pid == QCoreApplication::applicationPid() && (o.host.isEmpty() || o.host == QSysInfo::machineHostName());
}

}  // namespace

QString DocumentLock::Owner::describe() const {
  QString s = QStringLiteral("PID %1").arg(pid);
  if (!program.isEmpty()) s += QStringLiteral(" (%1)").arg(program);
  if (!host.isEmpty()) s += QStringLiteral(" on %1").arg(host);
  return s;
}

DocumentLock::DocumentLock() = default;

DocumentLock::~DocumentLock() { release(); }

bool DocumentLock::acquire(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  if (held() && abs == path_) return true;
  release();
  holder_.reset();
  error_.clear();
  if (!QDir().mkpath(QFileInfo(abs).absolutePath())) {
    error_ = QStringLiteral("cannot create folder %1").arg(QFileInfo(abs).absolutePath());
    return false;
  }
  auto f = lock_file(abs);
  if (!f->tryLock(0)) {  // a stale lock is removed and retaken inside tryLock
    if (f->error() == QLockFile::LockFailedError) {
      holder_ = owner_of(*f);
      error_ = QStringLiteral("%1 is locked by %2").arg(abs, holder_ ? holder_->describe() : QStringLiteral("another process"));
    } else {
      error_ = QStringLiteral("cannot create lock file %1").arg(abs);
    }
    return false;
  }
  file_ = std::move(f);
  path_ = abs;
  return true;
}

void DocumentLock::release() {
  if (file_) file_->unlock();
  file_.reset();
  path_.clear();
}

std::optional<DocumentLock::Owner> DocumentLock::heldByOtherProcess(const QString& path) {
  auto f = lock_file(path);
  const auto owner = owner_of(*f);
  if (!owner || is_this_process(*owner)) return std::nullopt;
  // Taking the lock succeeds exactly when its owner is gone (the stale file is removed on the way).
  if (f->tryLock(0)) {
    f->unlock();
    return std::nullopt;
  }
  return f->error() == QLockFile::LockFailedError ? owner : std::nullopt;
}

}  // namespace lattice::editor
