// RecentFiles (app/editor/recent_files.h): newest first, no duplicates, at most ten, missing files pruned,
// persisted in the settings file, and fed by GraphDocument's open and save.
#include "app/editor/recent_files.h"

#include <gtest/gtest.h>

#include <QFile>
#include <QTemporaryDir>

#include "app/editor/graph_document.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

class RecentFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::qt_app();
    ASSERT_TRUE(tmp.isValid());
    ini = tmp.filePath("settings.ini");
  }
  QString touch(const QString& name) {
    const QString p = tmp.filePath(name);
    QFile f(p);
    EXPECT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(R"({"lattice":1,"nodes":[]})");
    return p;
  }
  QTemporaryDir tmp;
  QString ini;
};

TEST_F(RecentFilesTest, NewestFirstWithoutDuplicatesAndPersisted) {
  RecentFiles r;
  r.setSettingsFile(ini);
  EXPECT_TRUE(r.files().isEmpty());
  const QString a = touch("a.lattice"), b = touch("b.lattice");
  r.add(a);
  r.add(QUrl::fromLocalFile(b).toString());
  r.add(a);
  EXPECT_EQ(r.files(), (QStringList{a, b}));
  RecentFiles again;
  again.setSettingsFile(ini);
  EXPECT_EQ(again.files(), (QStringList{a, b}));
  again.remove(a);
  EXPECT_EQ(again.files(), QStringList{b});
  again.clear();
  EXPECT_TRUE(again.files().isEmpty());
}

TEST_F(RecentFilesTest, KeepsAtMostTen) {
  RecentFiles r;
  r.setSettingsFile(ini);
  QStringList added;
  for (int i = 0; i < 13; ++i) r.add(added.emplace_back(touch(QStringLiteral("f%1.lattice").arg(i))));
  ASSERT_EQ(r.files().size(), RecentFiles::kMax);
  EXPECT_EQ(r.files().front(), added.back());
  EXPECT_FALSE(r.files().contains(added.front()));
}

TEST_F(RecentFilesTest, MissingFilesArePruned) {
  RecentFiles r;
  r.setSettingsFile(ini);
  const QString a = touch("a.lattice"), b = touch("b.lattice");
  r.add(a);
  r.add(b);
  ASSERT_TRUE(QFile::remove(a));
  int changes = 0;
  QObject::connect(&r, &RecentFiles::filesChanged, [&] { ++changes; });
  r.refresh();
  EXPECT_EQ(r.files(), QStringList{b});
  EXPECT_EQ(changes, 1);
  RecentFiles fresh;
  fresh.setSettingsFile(ini);
  EXPECT_EQ(fresh.files(), QStringList{b});
}

TEST_F(RecentFilesTest, DocumentOpenAndSaveAddThem) {
  GraphDocument doc;
  doc.setAutoRun(false);
  doc.recent()->setSettingsFile(ini);
  const QString a = touch("a.lattice");
  ASSERT_TRUE(doc.open(a));
  EXPECT_EQ(doc.recent()->files(), QStringList{a});
  const QString b = tmp.filePath("b.lattice");
  doc.addNode("value.number", 0, 0);
  ASSERT_TRUE(doc.saveAs(b));
  EXPECT_EQ(doc.recent()->files(), (QStringList{b, a}));
  EXPECT_FALSE(doc.open(tmp.filePath("missing.lattice")));
  EXPECT_EQ(doc.recent()->files(), (QStringList{b, a}));
}

}  // namespace
}  // namespace lattice::editor
