#pragma once
/// DocumentLock: one editor process's claim on a project or a recovery file, so that two editors running
/// at once never take each other's live autosaves for a crash's leftovers, never write the same recovery
/// file, and a second editor opening a project hears that another one has it open (see autosave.h).
///
/// The lock is a file created exclusively (QLockFile) that holds the owner's PID, program name and host
/// name. A lock is stale when its owner is gone: same host, and that PID no longer runs or now runs another
/// program (PID reuse). acquire() takes over a stale lock; a lock held by a live process, or by a process
/// on another host sharing the folder (whose liveness cannot be checked), is respected. Locks never go
/// stale by age: an editor may keep a project open for days.
///
/// Threading: UI thread only. Not copyable; the destructor releases the lock.

#include <QString>
#include <memory>
#include <optional>

class QLockFile;

namespace lattice::editor {

class DocumentLock {
 public:
  /// Who holds a lock file.
  struct Owner {
    qint64 pid = 0;
    QString host, program;
    /// "PID 1234 (lattice) on host.example"
    QString describe() const;
  };

  DocumentLock();
  ~DocumentLock();
  DocumentLock(const DocumentLock&) = delete;
  DocumentLock& operator=(const DocumentLock&) = delete;

  /// Takes the lock file at `path` (releasing the one held before, unless it is the same), taking over
  /// a stale one. Returns false when a live process holds it (holder() then says which) or when the file
  /// cannot be created (error() says why); this object then holds nothing.
  bool acquire(const QString& path);
  void release();
  bool held() const { return file_ != nullptr; }
  /// The lock file held, "" when none.
  QString path() const { return held() ? path_ : QString(); }
  /// After a failed acquire(): the live process holding the lock, if that is why it failed.
  const std::optional<Owner>& holder() const { return holder_; }
  /// After a failed acquire(): why, in words naming the file.
  const QString& error() const { return error_; }

  /// The live process holding the lock file at `path` now, unless that is this process (or nobody).
  /// A stale lock file is removed on the way.
  static std::optional<Owner> heldByOtherProcess(const QString& path);

 private:
  std::unique_ptr<QLockFile> file_;
  QString path_, error_;
  std::optional<Owner> holder_;
};

}  // namespace lattice::editor
