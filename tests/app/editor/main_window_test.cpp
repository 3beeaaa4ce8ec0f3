// Main.qml driven by real mouse events on the offscreen window: the recovery dialog's Restore and
// Discard buttons, an entry of the File > Open Recent menu, and the warning shown when another editor
// process has the project open (Open Read-Only / Edit Anyway).
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

#include "app/editor/autosave.h"
#include "tests/app/editor/lock_holder_process.h"
#include "tests/app/editor/qml_window.h"

namespace lattice::editor {
namespace {

/// Writes `json` to `path`; false when it could not.
bool write(const QString& path, const QByteArray& json) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  return f.open(QIODevice::WriteOnly) && f.write(json) == json.size();
}

/// A recovery file as a crashed editor leaves it, in the folder the window's document reads (under
/// ~/.qttest in test mode), with a name no other test uses.
QString crashed_recovery(const char* tag, const char* node_id) {
  test::qt_app();  // test mode and the application's name decide the folder
  const QString path = Autosaver::defaultDirectory() + QStringLiteral("/untitled-qml-%1-%2.lattice")
                                                           .arg(QString::fromLatin1(tag))
                                                           .arg(QCoreApplication::applicationPid());
  const QByteArray json = QStringLiteral(R"({"lattice":1,"nodes":[{"id":"%1","type":"value.number","ui":{"x":0,"y":0}}],
    "lattice_recovery":{"file":""}})").arg(QString::fromLatin1(node_id)).toUtf8();
  return write(path, json) ? path : QString();
}

/// The button `name` in the recovery dialog's row for `recovery_file`.
QQuickItem* row_button(const test::EditorWindow& w, const QString& name, const QString& recovery_file) {
  for (QQuickItem* b : w.named(name)) {
    const QVariantMap entry = b->parentItem()->property("modelData").toMap();
    if (QFileInfo(entry["recoveryFile"].toString()) == QFileInfo(recovery_file)) return b;
  }
  return nullptr;
}

bool popup_opened(const test::EditorWindow& w, const char* name) {
  auto* p = w.window->findChild<QObject*>(name);
  return p && p->property("opened").toBool();
}

TEST(MainWindow, RecoveryDialogRestoreButtonLoadsTheRecoveredGraph) {
  const QString left = crashed_recovery("restore", "kept");
  ASSERT_FALSE(left.isEmpty());
  test::EditorWindow w;
  ASSERT_TRUE(w.load({}));
  w.doc->setAutoRun(false);
  ASSERT_TRUE(test::wait_until([&] { return popup_opened(w, "recoveryDialog"); })) << "offered at start";
  QTest::qWait(200);  // the dialog's opening transition
  QQuickItem* restore = row_button(w, "restoreRecovery", left);
  ASSERT_TRUE(restore);
  w.click(restore);
  ASSERT_TRUE(test::wait_until([&] { return w.doc->nodeCount() == 1; }));
  EXPECT_TRUE(w.doc->graph().find("kept"));
  EXPECT_TRUE(w.doc->dirty()) << "restored changes are unsaved";
  EXPECT_TRUE(test::wait_until([&] { return !popup_opened(w, "recoveryDialog"); })) << "the dialog closes";
  EXPECT_EQ(QFileInfo(w.doc->autosave()->recoveryFile()), QFileInfo(left)) << "it keeps writing the restored file";
  w.close();  // a clean close (changes discarded) removes the recovery file
  EXPECT_FALSE(QFile::exists(left));
}

TEST(MainWindow, RecoveryDialogDiscardButtonDeletesTheFileAndKeepsTheDocument) {
  const QString left = crashed_recovery("discard", "dropped");
  ASSERT_FALSE(left.isEmpty());
  test::EditorWindow w;
  ASSERT_TRUE(w.load({}));
  w.doc->setAutoRun(false);
  ASSERT_TRUE(test::wait_until([&] { return popup_opened(w, "recoveryDialog"); }));
  QTest::qWait(200);
  QQuickItem* discard = row_button(w, "discardRecovery", left);
  ASSERT_TRUE(discard);
  w.click(discard);
  EXPECT_TRUE(test::wait_until([&] { return !QFile::exists(left); })) << "Discard deletes the recovery file";
  EXPECT_TRUE(test::wait_until([&] { return row_button(w, "discardRecovery", left) == nullptr; }))
      << "and its row leaves the dialog";
  EXPECT_EQ(w.doc->nodeCount(), 0);
  EXPECT_FALSE(w.doc->dirty());
}

TEST(MainWindow, OpenRecentMenuEntryOpensThatProject) {
  QTemporaryDir tmp;
  const QString a = tmp.filePath("a.lattice"), b = tmp.filePath("b.lattice");
  ASSERT_TRUE(write(a, R"({"lattice":1,"nodes":[{"id":"in_a","type":"value.number","ui":{"x":0,"y":0}}]})"));
  ASSERT_TRUE(write(b, R"({"lattice":1,"nodes":[{"id":"in_b","type":"value.string","ui":{"x":0,"y":0}},
    {"id":"b2","type":"value.number","ui":{"x":0,"y":200}}]})"));
  test::EditorWindow w;
  ASSERT_TRUE(w.load(a));
  w.doc->setAutoRun(false);
  w.doc->recent()->add(b);  // opened earlier; a.lattice, opened now, is first
  w.doc->recent()->add(a);
  ASSERT_EQ(w.doc->recent()->files().value(1), QFileInfo(b).absoluteFilePath());
  // A recovery dialog for other leftovers would take the clicks: close it.
  if (auto* d = w.window->findChild<QObject*>("recoveryDialog")) QMetaObject::invokeMethod(d, "close");

  QQuickItem* file_menu = w.with_text("&File");
  ASSERT_TRUE(file_menu);
  w.click(file_menu);
  ASSERT_TRUE(test::wait_until([&] { return popup_opened(w, "fileMenu"); }));  // its opening transition is over
  QQuickItem* recent = w.with_text("Open &Recent");
  ASSERT_TRUE(recent);
  QQuickItem* entry = nullptr;
  auto find_entry = [&] {
    entry = nullptr;
    for (QQuickItem* i : w.named("recentFile1"))
      if (i->property("modelData").toString() == QFileInfo(b).absoluteFilePath()) entry = i;
    return entry != nullptr;
  };
  // A click opens the submenu; on a loaded machine a click during a transition can be lost: retry.
  for (int i = 0; i < 5 && !find_entry(); ++i) {
    w.click(recent);
    test::wait_until(find_entry, 1500);
  }
  ASSERT_TRUE(entry) << "the submenu lists b.lattice second";
  QTest::qWait(300);  // the submenu's opening transition
  EXPECT_TRUE(entry->property("text").toString().startsWith("&2  ")) << entry->property("text").toString().toStdString();
  w.click(entry);
  ASSERT_TRUE(test::wait_until([&] { return w.doc->filePath() == QFileInfo(b).absoluteFilePath(); }));
  EXPECT_EQ(w.doc->nodeCount(), 2);
  EXPECT_TRUE(w.doc->graph().find("in_b"));
  EXPECT_EQ(w.doc->recent()->files().value(0), QFileInfo(b).absoluteFilePath()) << "it moves to the front";
  w.doc->recent()->clear();
}

/// A project that another editor process (a LockHolder) has open, opened in the window.
class OpenElsewhere : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();  // before the probe: test mode and the application's name decide the folder
    ASSERT_TRUE(tmp.isValid());
    const QString p = QFileInfo(tmp.filePath("shared.lattice")).absoluteFilePath();
    ASSERT_TRUE(write(p, R"({"lattice":1,"nodes":[{"id":"n","type":"value.number","ui":{"x":0,"y":0}}]})"));
    QString lock;
    {
      GraphDocument probe;  // the window's document uses the same (default) recovery folder
      lock = probe.autosave()->projectLockFile(p);
    }
    ASSERT_TRUE(other.start(lock)) << other.output().toStdString();
    ASSERT_TRUE(w.load(p));
    w.doc->setAutoRun(false);
    ASSERT_TRUE(test::wait_until([&] { return popup_opened(w, "openElsewhereDialog"); })) << "the user is warned";
    QTest::qWait(100);  // the dialog's opening transition
  }
  void TearDown() override {
    w.close();
    other.quit();  // a clean exit: no stale lock left in the shared test folder
  }
  QTemporaryDir tmp;
  test::LockHolder other;
  test::EditorWindow w;
};

TEST_F(OpenElsewhere, EditAnywayLiftsReadOnly) {
  EXPECT_TRUE(w.doc->readOnly());
  EXPECT_TRUE(w.doc->openElsewhere().contains(QStringLiteral("PID %1").arg(other.pid())));
  EXPECT_TRUE(w.window->title().contains("[read-only]")) << w.window->title().toStdString();
  QQuickItem* edit = w.item("editAnyway");
  ASSERT_TRUE(edit);
  w.click(edit);
  ASSERT_TRUE(test::wait_until([&] { return !w.doc->readOnly(); }));
  EXPECT_TRUE(test::wait_until([&] { return !popup_opened(w, "openElsewhereDialog"); }));
  EXPECT_FALSE(w.window->title().contains("[read-only]"));
  EXPECT_FALSE(w.doc->addNode("value.number", 0, 100).isEmpty()) << "editing is allowed now";
}

TEST_F(OpenElsewhere, OpenReadOnlyKeepsEditsRefused) {
  QQuickItem* ro = w.item("openReadOnly");
  ASSERT_TRUE(ro);
  w.click(ro);
  EXPECT_TRUE(test::wait_until([&] { return !popup_opened(w, "openElsewhereDialog"); }));
  EXPECT_TRUE(w.doc->readOnly());
  EXPECT_TRUE(w.doc->addNode("value.number", 0, 100).isEmpty());
  EXPECT_EQ(w.doc->nodeCount(), 1);
}

}  // namespace
}  // namespace lattice::editor
