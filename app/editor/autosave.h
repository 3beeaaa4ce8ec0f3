#pragma once
/// Autosaver: crash recovery for one GraphDocument.
///
/// While the document has unsaved changes, its graph is written `interval` seconds after a change and
/// whenever an evaluation starts (a model run is when a crash is likeliest) to a recovery file in
/// directory() (AppDataLocation/recovery by default): <first 16 hex digits of SHA-1 of the absolute
/// path>.lattice for a saved project, untitled-N.lattice for a new one. Writes are atomic
/// (core/atomic_file.h) and skipped when the content did not change since the last write. The file is the
/// .lattice JSON with one extra top-level key, "lattice_recovery": {"file": original path or ""}.
///
/// The recovery file is removed when the document becomes clean (saved, or undone back to its saved
/// state), when its changes are discarded (new/open), and when the document is destroyed (a clean close).
/// So a recovery file that outlives its editor comes from a crash; recoverable() lists those that are
/// newer than the file they belong to, for the editor to offer at start.
///
/// Several editors may run at once and share the folder, so each recovery file X.lattice has a lock X.lock
/// (document_lock.h) held by the editor that writes it: recoverable() skips files whose lock a live process
/// holds (another editor's live autosave, not a crash's), and a new untitled document never takes a
/// number another editor holds. An open project's lock (<hash>.lock, claimProject()) is held for as long
/// as the project is open, clean or not, so a second editor opening it learns who has it; if the user
/// edits anyway, that editor autosaves to <hash>-2.lattice (-3, ...), never over the first one's file.
///
/// Threading: every member is for the UI thread. Files are written on the Autosaver's own writer thread,
/// in the order they were asked for (write_file_atomic flushes to disk, which can take tens of ms on a busy
/// disk: not the UI's to wait for). saveNow() waits for its write; saveBeforeRun() does not, and gives the
/// evaluation a function that does, so a run starts only once the state it runs is on disk. discard()
/// and destruction wait for writes in flight, so no write lands after its file was removed.

#include <QDateTime>
#include <QObject>
#include <QTimer>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "app/editor/document_lock.h"
#include "core/graph.h"

namespace lattice::editor {

class GraphDocument;

class Autosaver : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("Autosaver belongs to a GraphDocument")
  /// [{recoveryFile, originalFile, name, modified, nodes}], newest first; see recoverable().
  Q_PROPERTY(QVariantList recoverable READ recoverable NOTIFY recoverableChanged)
  Q_PROPERTY(int interval READ interval WRITE setInterval NOTIFY intervalChanged)
  Q_PROPERTY(QString recoveryFile READ recoveryFile NOTIFY saved)

 public:
  explicit Autosaver(GraphDocument* doc);
  ~Autosaver() override;

  /// AppDataLocation/recovery.
  static QString defaultDirectory();
  QString directory() const { return dir_; }
  void setDirectory(const QString& dir);
  /// Seconds between a change and its autosave.
  int interval() const { return timer_.interval() / 1000; }
  void setInterval(int seconds);

  /// The file this document autosaves to ("" when it has not written one yet).
  QString recoveryFile() const { return written_path_; }
  /// Writes the recovery file now when the document has unsaved changes that differ from the last write.
  /// Returns whether a file was written; a write error goes to the document's lastError.
  Q_INVOKABLE bool saveNow();
  /// Queues the write of `document` (the graph_to_json of the document's graph now) as saveNow() would
  /// write it, without waiting for it. Returns a function for the evaluation's thread that blocks until
  /// that write is done (an empty function when the document has no unsaved changes). A write error
  /// reaches the document's lastError through the UI thread's event loop.
  std::function<void()> saveBeforeRun(std::shared_ptr<const Json> document);
  /// Removes this document's recovery file.
  void discard();

  /// Recovery files left by other sessions whose content is newer than the file they belong to (or that
  /// belong to no file): what a crash left behind. Unreadable files are listed with their error as name.
  QVariantList recoverable() const;
  /// Deletes a recovery file from the list (the user declined it).
  Q_INVOKABLE bool discardRecovery(const QString& recoveryFile);

  struct Recovered {
    Graph graph;           ///< without the "lattice_recovery" key
    QString originalFile;  ///< "" for a project that was never saved
  };
  /// Reads a recovery file; throws Error(InvalidInput) naming it when it is not one.
  static Recovered read(const QString& recoveryFile);
  /// Continues writing to `recoveryFile` (after restoring it), so that a later clean save removes it.
  /// Does nothing when another live editor holds that file's lock.
  void adopt(const QString& recoveryFile);

  /// Holds the lock of project `file` (releasing the previous project's; "" releases only). Returns the
  /// other editor process that holds it, if one does: then this document's autosaves go elsewhere.
  std::optional<DocumentLock::Owner> claimProject(const QString& file);
  /// The lock file of project `file` in directory(): <first 16 hex digits of SHA-1 of its path>.lock.
  QString projectLockFile(const QString& file) const;

 signals:
  void recoverableChanged();
  void intervalChanged();
  void saved();

 private:
  void onDocumentChanged();
  QString targetPath();
  /// Project `file`'s recovery slot: the recovery and lock file names without their suffix.
  QString projectSlot(const QString& file) const;
  /// Holds the lock of slot `base` in slot_lock_ (or finds it held); false when another process holds it.
  bool takeSlot(const QString& base);

  class Writer;
  struct Outcome {
    bool written = false;  ///< false: the same text was already there, or the write failed
    std::string error;
  };
  /// Queues `document`'s write to targetPath(); an invalid future when the document is clean.
  std::shared_future<Outcome> queue(std::shared_ptr<const Json> document, bool background);

  GraphDocument* doc_;
  std::unique_ptr<Writer> writer_;
  QTimer timer_;
  QString dir_, written_path_, adopted_path_;
  DocumentLock project_lock_;  // the open project's <hash>.lock
  DocumentLock slot_lock_;     // the lock of the file written when that is not the project's own slot
};

}  // namespace lattice::editor
