// DocumentLock (app/editor/document_lock.h): one holder at a time, the holder named (PID, program, host),
// a live process's lock respected, a crashed process's lock taken over, release removing the file.
#include "app/editor/document_lock.h"

#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QFile>
#include <QSysInfo>
#include <QTemporaryDir>

#include "tests/app/editor/lock_holder_process.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

class DocumentLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    ASSERT_TRUE(tmp.isValid());
    path = tmp.filePath("locks/project.lock");
  }
  QTemporaryDir tmp;
  QString path;
};

TEST_F(DocumentLockTest, OneHolderAtATimeAndReleaseRemovesTheFile) {
  DocumentLock a, b;
  ASSERT_TRUE(a.acquire(path)) << a.error().toStdString();
  EXPECT_TRUE(a.held());
  EXPECT_EQ(a.path(), path);
  EXPECT_TRUE(QFile::exists(path)) << "the folder is created";
  EXPECT_TRUE(a.acquire(path)) << "taking a lock it holds again is no change";

  EXPECT_FALSE(b.acquire(path));
  EXPECT_FALSE(b.held());
  ASSERT_TRUE(b.holder().has_value());
  EXPECT_EQ(b.holder()->pid, QCoreApplication::applicationPid());
  EXPECT_TRUE(b.error().contains(path)) << b.error().toStdString();
  EXPECT_FALSE(DocumentLock::heldByOtherProcess(path)) << "this process's own lock is not another process's";

  a.release();
  EXPECT_FALSE(QFile::exists(path));
  EXPECT_TRUE(b.acquire(path));
  EXPECT_FALSE(b.holder().has_value());
}

TEST_F(DocumentLockTest, ALiveProcessKeepsItsLockAndReleasesItOnExit) {
  test::LockHolder other;
  ASSERT_TRUE(other.start(path)) << other.output().toStdString();
  DocumentLock mine;
  EXPECT_FALSE(mine.acquire(path));
  ASSERT_TRUE(mine.holder().has_value());
  EXPECT_EQ(mine.holder()->pid, other.pid());
  EXPECT_EQ(mine.holder()->host, QSysInfo::machineHostName());
  EXPECT_EQ(mine.holder()->program, "editor_lock_holder");
  EXPECT_EQ(mine.holder()->describe(),
            QStringLiteral("PID %1 (editor_lock_holder) on %2").arg(other.pid()).arg(QSysInfo::machineHostName()));
  const auto owner = DocumentLock::heldByOtherProcess(path);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, other.pid());

  ASSERT_TRUE(other.quit());
  EXPECT_FALSE(QFile::exists(path)) << "a clean exit removes the lock";
  EXPECT_FALSE(DocumentLock::heldByOtherProcess(path));
  EXPECT_TRUE(mine.acquire(path));
}

TEST_F(DocumentLockTest, ACrashedProcessesLockIsTakenOver) {
  test::LockHolder other;
  ASSERT_TRUE(other.start(path)) << other.output().toStdString();
  const qint64 dead = other.pid();
  other.crash();
  ASSERT_TRUE(QFile::exists(path)) << "a crash leaves the lock file behind";
  EXPECT_FALSE(DocumentLock::heldByOtherProcess(path)) << "PID " << dead << " is gone: the lock is stale";

  test::LockHolder again;
  ASSERT_TRUE(again.start(path)) << again.output().toStdString();
  again.crash();
  DocumentLock mine;
  EXPECT_TRUE(mine.acquire(path)) << mine.error().toStdString();
  EXPECT_FALSE(mine.holder().has_value());
  test::LockHolder late;
  EXPECT_FALSE(late.start(path)) << "now this process holds it";
  EXPECT_TRUE(late.output().startsWith("refused:")) << late.output().toStdString();
  EXPECT_TRUE(late.output().contains(QString::number(QCoreApplication::applicationPid()))) << late.output().toStdString();
}

TEST_F(DocumentLockTest, ALockThatCannotBeCreatedSaysWhere) {
  QFile blocker(tmp.filePath("file"));
  ASSERT_TRUE(blocker.open(QIODevice::WriteOnly));
  blocker.close();
  DocumentLock l;
  EXPECT_FALSE(l.acquire(tmp.filePath("file/sub/x.lock")));
  EXPECT_FALSE(l.holder().has_value()) << "nobody holds it; it cannot be made";
  EXPECT_TRUE(l.error().contains(tmp.filePath("file/sub"))) << l.error().toStdString();
}

}  // namespace
}  // namespace lattice::editor
