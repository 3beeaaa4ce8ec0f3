#pragma once
// Another editor process holding a lock file, for tests: runs editor_lock_holder (lock_holder.cpp).
#include <QProcess>
#include <QString>

namespace lattice::editor::test {

class LockHolder {
 public:
  /// Starts the holder on `lock_file` and waits until it has taken the lock; false (output() says why)
  /// when it did not.
  bool start(const QString& lock_file) {
    process_.start(QStringLiteral(LATTICE_BINARY_DIR "/tests/editor_lock_holder"), {lock_file});
    if (!process_.waitForStarted(10000)) return false;
    while (!process_.canReadLine() && process_.state() == QProcess::Running) process_.waitForReadyRead(100);
    output_ = QString::fromLocal8Bit(process_.readAll()).trimmed();
    return output_ == QStringLiteral("locked");
  }
  qint64 pid() const { return process_.processId(); }
  const QString& output() const { return output_; }
  /// A clean exit: the holder releases its lock.
  bool quit() {
    process_.closeWriteChannel();
    return process_.waitForFinished(10000) && process_.exitCode() == 0;
  }
  /// A crash: SIGKILL, the lock file stays behind.
  void crash() {
    process_.kill();
    process_.waitForFinished(10000);
  }
  ~LockHolder() {
    if (process_.state() != QProcess::NotRunning) crash();
  }

 private:
  QProcess process_;
  QString output_;
};

}  // namespace lattice::editor::test
