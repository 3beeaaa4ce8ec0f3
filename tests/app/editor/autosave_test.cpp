// Autosave and crash recovery (app/editor/autosave.h): autosaves write the graph atomically to the recovery
// folder, a clean save or close removes them, a "crashed" session's file is listed and restoring it loads
// the recovered graph into a modified document whose undo shows the saved version.
#include "app/editor/autosave.h"

#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QThread>
#include <atomic>
#include <memory>

#include "app/editor/graph_document.h"
#include "core/document.h"
#include "core/eval_context.h"
#include "core/node.h"
#include "core/types/basic.h"
#include "tests/app/editor/lock_holder_process.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

// test.recovery_seen: whether g_recovery_dir held a recovery file when the node was evaluated (1 or 0).
std::string g_recovery_dir;
std::atomic<int> g_recovery_seen{-1};
NodeDesc recovery_seen_node() {
  NodeDesc d;
  d.type = "test.recovery_seen";
  d.category = "Test";
  d.outputs = {{"value", PortType::Number, ""}};
  d.evaluate = [](EvalContext& c) {
    g_recovery_seen = !QDir(QString::fromStdString(g_recovery_dir)).entryList({"*.lattice"}, QDir::Files).isEmpty();
    c.set_output("value", make_number(g_recovery_seen.load()));
  };
  return d;
}
LATTICE_REGISTER_NODE(recovery_seen_node);

class AutosaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    ASSERT_TRUE(tmp.isValid());
    recovery = tmp.filePath("recovery");
  }
  std::unique_ptr<GraphDocument> make_doc() {
    auto d = std::make_unique<GraphDocument>();
    d->setAutoRun(false);
    d->autosave()->setDirectory(recovery);
    return d;
  }
  QStringList recovery_files() const { return QDir(recovery).entryList({"*.lattice"}, QDir::Files); }
  /// A recovery file of one node, as another editor would write it.
  void write_recovery(const QString& name) const {
    QDir().mkpath(recovery);
    QFile f(recovery + "/" + name);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(R"({"lattice":1,"nodes":[{"id":"n","type":"value.number"}],"lattice_recovery":{"file":""}})");
  }
  QTemporaryDir tmp;
  QString recovery;
};

TEST_F(AutosaveTest, WritesOnlyWhenModifiedAndChanged) {
  auto doc = make_doc();
  EXPECT_FALSE(doc->autosave()->saveNow()) << "a clean document has nothing to recover";
  EXPECT_TRUE(recovery_files().isEmpty());
  const QString id = doc->addNode("value.number", 10, 20);
  ASSERT_TRUE(doc->autosave()->saveNow());
  EXPECT_EQ(recovery_files(), QStringList{"untitled-1.lattice"});
  EXPECT_FALSE(doc->autosave()->saveNow()) << "unchanged content is not rewritten";
  const auto r = Autosaver::read(doc->autosave()->recoveryFile());
  EXPECT_TRUE(r.originalFile.isEmpty());
  ASSERT_EQ(r.graph.nodes.size(), 1u);
  EXPECT_EQ(r.graph.nodes[0].id, id.toStdString());
  EXPECT_EQ(serialize_graph(r.graph), doc->graphJson().toStdString()) << "the recovery key is stripped on read";
}

TEST_F(AutosaveTest, TimerWritesAfterInterval) {
  auto doc = make_doc();
  doc->autosave()->setInterval(1);
  doc->addNode("value.number", 0, 0);
  EXPECT_TRUE(recovery_files().isEmpty());
  QDeadlineTimer until(5000);
  while (recovery_files().isEmpty() && !until.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
  EXPECT_EQ(recovery_files().size(), 1);
}

TEST_F(AutosaveTest, EvaluationStartAutosavesBeforeTheRunBegins) {
  auto doc = make_doc();
  const QString n = doc->addNode("test.recovery_seen", 0, 0);
  g_recovery_dir = recovery.toStdString();
  g_recovery_seen = -1;
  EXPECT_TRUE(recovery_files().isEmpty());
  doc->run();  // the write happens on the Autosaver's thread; the run waits for it on the evaluation's
  ASSERT_TRUE(doc->evaluator()->waitForIdle(10000));
  EXPECT_EQ(doc->nodes()->state(n), "done");
  EXPECT_EQ(g_recovery_seen.load(), 1) << "the node ran before the recovery file was on disk";
  EXPECT_EQ(recovery_files().size(), 1);
  EXPECT_TRUE(doc->lastError().isEmpty()) << doc->lastError().toStdString();
}

TEST_F(AutosaveTest, AFailedAutosaveBeforeARunReachesLastError) {
  auto doc = make_doc();
  QFile blocker(tmp.filePath("file"));
  ASSERT_TRUE(blocker.open(QIODevice::WriteOnly));
  blocker.close();
  doc->autosave()->setDirectory(tmp.filePath("file/recovery"));  // under a file: cannot be made
  doc->addNode("value.number", 0, 0);
  doc->run();
  ASSERT_TRUE(doc->evaluator()->waitForIdle(10000));
  QCoreApplication::processEvents();
  EXPECT_TRUE(doc->lastError().contains("autosave failed")) << doc->lastError().toStdString();
}

TEST_F(AutosaveTest, SavedProjectUsesPathHashAndCleanSaveRemovesIt) {
  auto doc = make_doc();
  const QString file = tmp.filePath("p.lattice");
  doc->addNode("value.number", 0, 0);
  ASSERT_TRUE(doc->saveAs(file));
  doc->addNode("value.string", 0, 100);
  ASSERT_TRUE(doc->autosave()->saveNow());
  const QStringList files = recovery_files();
  ASSERT_EQ(files.size(), 1);
  EXPECT_EQ(files[0].size(), 16 + 8) << files[0].toStdString() << ": 16 hex digits + .lattice";
  EXPECT_EQ(Autosaver::read(doc->autosave()->recoveryFile()).originalFile, QFileInfo(file).absoluteFilePath());
  ASSERT_TRUE(doc->save());
  EXPECT_TRUE(recovery_files().isEmpty());
}

TEST_F(AutosaveTest, UndoToCleanStateRemovesRecoveryFile) {
  auto doc = make_doc();
  doc->addNode("value.number", 0, 0);
  ASSERT_TRUE(doc->autosave()->saveNow());
  doc->undo();
  EXPECT_FALSE(doc->dirty());
  EXPECT_TRUE(recovery_files().isEmpty());
}

TEST_F(AutosaveTest, CleanCloseRemovesAndOtherDocumentsDoNotListTheirOwn) {
  auto doc = make_doc();
  doc->addNode("value.number", 0, 0);
  ASSERT_TRUE(doc->autosave()->saveNow());
  EXPECT_TRUE(doc->autosave()->recoverable().isEmpty()) << "its own file is not offered to itself";
  doc.reset();  // the user closed the window and discarded the changes
  EXPECT_TRUE(recovery_files().isEmpty());
}

TEST_F(AutosaveTest, CrashLeavesFileThatIsOfferedAndRestored) {
  const QString file = tmp.filePath("project.lattice");
  QString saved_json, crashed_json;
  {
    auto doc = make_doc();
    doc->addNode("value.number", 0, 0);
    ASSERT_TRUE(doc->saveAs(file));
    saved_json = doc->graphJson();
    QThread::msleep(20);  // the recovery file must be newer than the saved file
    doc->addNode("value.math", 200, 0);
    ASSERT_TRUE(doc->autosave()->saveNow());
    crashed_json = doc->graphJson();
    // A crash: the document never gets to clean up. Simulate by moving the file away and back.
    const QString rf = doc->autosave()->recoveryFile();
    ASSERT_TRUE(QFile::rename(rf, rf + ".keep"));
    doc.reset();
    ASSERT_TRUE(QFile::rename(rf + ".keep", rf));
  }
  auto doc = make_doc();
  const QVariantList offered = doc->autosave()->recoverable();
  ASSERT_EQ(offered.size(), 1);
  const QVariantMap entry = offered[0].toMap();
  EXPECT_EQ(entry["originalFile"].toString(), QFileInfo(file).absoluteFilePath());
  EXPECT_EQ(entry["name"].toString(), "project.lattice");
  EXPECT_EQ(entry["nodes"].toInt(), 2);

  ASSERT_TRUE(doc->restoreRecovery(entry["recoveryFile"].toString()));
  EXPECT_EQ(doc->graphJson(), crashed_json);
  EXPECT_TRUE(doc->dirty());
  EXPECT_EQ(doc->filePath(), QFileInfo(file).absoluteFilePath());
  doc->undo();
  EXPECT_EQ(doc->graphJson(), saved_json) << "undo goes back to the saved version";
  doc->redo();
  ASSERT_TRUE(doc->save());
  EXPECT_TRUE(recovery_files().isEmpty()) << "a clean save removes the restored recovery file";
  EXPECT_EQ(load_graph_file(file.toStdString()).nodes.size(), 2u);
}

TEST_F(AutosaveTest, StaleFilesAreNotOfferedAndDeclinedOnesAreDeleted) {
  const QString file = tmp.filePath("p.lattice");
  auto writer = make_doc();
  writer->addNode("value.number", 0, 0);
  ASSERT_TRUE(writer->saveAs(file));
  writer->addNode("value.number", 0, 100);
  ASSERT_TRUE(writer->autosave()->saveNow());
  const QString rf = writer->autosave()->recoveryFile();
  auto other = make_doc();
  ASSERT_EQ(other->autosave()->recoverable().size(), 1);
  // The project was saved after the autosave (by another session): the recovery file is stale.
  QFile f(file);
  ASSERT_TRUE(f.open(QIODevice::ReadWrite));
  ASSERT_TRUE(f.setFileTime(QFileInfo(rf).lastModified().addSecs(5), QFileDevice::FileModificationTime));
  f.close();
  EXPECT_TRUE(other->autosave()->recoverable().isEmpty());
  EXPECT_FALSE(other->autosave()->discardRecovery(file)) << "only files in the recovery folder are deleted";
  EXPECT_TRUE(QFile::exists(file));
  EXPECT_TRUE(other->autosave()->discardRecovery(rf));
  EXPECT_FALSE(QFile::exists(rf));
}

TEST_F(AutosaveTest, RestoringAGarbageFileFailsAndKeepsTheDocument) {
  QDir().mkpath(recovery);
  QFile f(recovery + "/broken.lattice");
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("{ not json");
  f.close();
  auto doc = make_doc();
  const QString id = doc->addNode("value.number", 0, 0);
  const QVariantList offered = doc->autosave()->recoverable();
  ASSERT_EQ(offered.size(), 1);
  EXPECT_TRUE(offered[0].toMap()["name"].toString().contains("broken.lattice"));
  EXPECT_FALSE(doc->restoreRecovery(recovery + "/broken.lattice"));
  EXPECT_FALSE(doc->lastError().isEmpty());
  ASSERT_EQ(doc->nodeCount(), 1);
  EXPECT_TRUE(doc->graph().find(id.toStdString()));
}

// Two editors running at once (issue #6): another process's live autosave is not a crash's leftover.
TEST_F(AutosaveTest, AnotherRunningEditorsAutosaveIsNeitherOfferedNorTaken) {
  write_recovery("untitled-1.lattice");
  test::LockHolder other;  // the editor writing untitled-1.lattice, still running
  ASSERT_TRUE(other.start(recovery + "/untitled-1.lock")) << other.output().toStdString();
  test::LockHolder third;  // a third editor that holds untitled-2 but has not written it yet
  ASSERT_TRUE(third.start(recovery + "/untitled-2.lock")) << third.output().toStdString();

  auto doc = make_doc();
  EXPECT_TRUE(doc->autosave()->recoverable().isEmpty()) << "a running editor's autosave is not offered";
  EXPECT_FALSE(doc->autosave()->discardRecovery(recovery + "/untitled-1.lattice"));
  EXPECT_TRUE(QFile::exists(recovery + "/untitled-1.lattice"));
  doc->addNode("value.number", 0, 0);
  ASSERT_TRUE(doc->autosave()->saveNow());
  EXPECT_EQ(QFileInfo(doc->autosave()->recoveryFile()).fileName(), "untitled-3.lattice")
      << "neither the number with a file nor the one another editor holds";

  // The other editor crashes: its file is now what a crash left, offered and restorable.
  other.crash();
  const QVariantList offered = doc->autosave()->recoverable();
  ASSERT_EQ(offered.size(), 1);
  const QString leftover = offered[0].toMap()["recoveryFile"].toString();
  EXPECT_EQ(QFileInfo(leftover).fileName(), "untitled-1.lattice");
  auto restorer = make_doc();
  ASSERT_TRUE(restorer->restoreRecovery(leftover));
  EXPECT_EQ(restorer->nodeCount(), 1);
  test::LockHolder late;
  EXPECT_FALSE(late.start(recovery + "/untitled-1.lock")) << "the restoring editor now holds the crashed one's file";
  ASSERT_TRUE(third.quit());
}

TEST_F(AutosaveTest, ASecondEditorOpeningAProjectIsWarnedAndOpensItReadOnly) {
  const QString file = tmp.filePath("shared.lattice");
  {
    auto writer = make_doc();
    writer->addNode("value.number", 0, 0);
    ASSERT_TRUE(writer->saveAs(file));
  }
  auto doc = make_doc();
  test::LockHolder other;  // another editor with the project open
  ASSERT_TRUE(other.start(doc->autosave()->projectLockFile(QFileInfo(file).absoluteFilePath())))
      << other.output().toStdString();

  ASSERT_TRUE(doc->open(file));
  EXPECT_TRUE(doc->readOnly());
  EXPECT_TRUE(doc->openElsewhere().contains(QStringLiteral("PID %1").arg(other.pid()))) << doc->openElsewhere().toStdString();
  EXPECT_TRUE(doc->addNode("value.number", 0, 100).isEmpty()) << "read-only refuses edits";
  EXPECT_TRUE(doc->lastError().contains("read-only")) << doc->lastError().toStdString();
  EXPECT_EQ(doc->nodeCount(), 1);
  EXPECT_FALSE(doc->dirty());
  EXPECT_FALSE(doc->save());

  // Save As onto the project from a third document is refused while the other editor has it open.
  auto third = make_doc();
  third->addNode("value.string", 0, 0);
  EXPECT_FALSE(third->saveAs(file));
  EXPECT_TRUE(third->lastError().contains(QString::number(other.pid()))) << third->lastError().toStdString();
  EXPECT_EQ(load_graph_file(file.toStdString()).nodes.size(), 1u);

  // Edit anyway: the autosave goes beside the other editor's recovery file, never over it.
  doc->editAnyway();
  EXPECT_FALSE(doc->readOnly());
  EXPECT_FALSE(doc->addNode("value.number", 0, 100).isEmpty());
  ASSERT_TRUE(doc->autosave()->saveNow());
  const QString own = QFileInfo(doc->autosave()->projectLockFile(QFileInfo(file).absoluteFilePath())).completeBaseName();
  EXPECT_EQ(QFileInfo(doc->autosave()->recoveryFile()).fileName(), own + "-2.lattice");

  // The other editor crashes: its lock is stale, and the next editor to open the project is not warned.
  other.crash();
  auto next = make_doc();
  ASSERT_TRUE(next->open(file));
  EXPECT_FALSE(next->readOnly());
  EXPECT_TRUE(next->openElsewhere().isEmpty());
}

}  // namespace
}  // namespace lattice::editor
