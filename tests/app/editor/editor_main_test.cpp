// The editor as a whole: Main.qml loads offscreen without QML errors or warnings, opens a file, and the
// real `lattice` executable under xvfb-run renders a window that is not blank.
#include "app/editor/editor_main.h"

#include <gtest/gtest.h>

#include <QFile>
#include <QImage>
#include <QQmlApplicationEngine>
#include <QQuickWindow>
#include <QSet>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <cstdlib>

#include "app/editor/graph_document.h"
#include "core/document.h"
#include "tests/app/editor/qt_test_app.h"

namespace lattice::editor {
namespace {

QStringList g_messages;
void collect(QtMsgType type, const QMessageLogContext&, const QString& msg) {
  if (type != QtDebugMsg && type != QtInfoMsg) g_messages << msg;
}

/// A project every build can open: the example when its node types are registered, else a small graph.
QString example_file(QTemporaryDir& dir) {
  const QString example = QStringLiteral(LATTICE_SOURCE_DIR "/examples/default.lattice");
  try {
    if (validate(load_graph_file(example.toStdString())).empty()) return example;
  } catch (const std::exception&) {
  }
  const QString path = dir.filePath("fallback.lattice");
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly)) return {};
  f.write(R"({"lattice":1,"nodes":[{"id":"n","type":"value.number","params":{"value":2},"ui":{"x":0,"y":0}},
    {"id":"m","type":"value.math","inputs":{"a":{"node":"n","output":"value"}},"ui":{"x":260,"y":40}}]})");
  return path;
}

TEST(EditorQml, MainLoadsWithoutWarnings) {
  test::qt_app();
  QTemporaryDir dir;
  const QString file = example_file(dir);
  g_messages.clear();
  auto previous = qInstallMessageHandler(collect);
  {
    QQmlApplicationEngine engine;
    QObject::connect(&engine, &QQmlEngine::warnings, [](const QList<QQmlError>& ws) {
      for (const auto& w : ws) g_messages << w.toString();
    });
    ASSERT_TRUE(load_editor(engine, file));
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    ASSERT_TRUE(window);
    auto* doc = window->property("document").value<GraphDocument*>();
    ASSERT_TRUE(doc);
    EXPECT_GE(doc->nodeCount(), 2);
    EXPECT_FALSE(doc->dirty());
    // Let bindings settle, the first run finish and the scene render once.
    QDeadlineTimer until(800);
    while (!until.hasExpired()) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    doc->evaluator()->waitForIdle(10000);
    doc->select(doc->nodes()->rows().front().key);
    QCoreApplication::processEvents();
    EXPECT_FALSE(window->grabWindow().isNull());
    doc->evaluator()->cancel();
    doc->evaluator()->waitForIdle(10000);
  }
  qInstallMessageHandler(previous);
  EXPECT_TRUE(g_messages.isEmpty()) << g_messages.join('\n').toStdString();
}

TEST(EditorQml, OpenOnAnUntitledProjectStartsInTheExamples) {
  test::qt_app();
  // The dialog's non-native implementation needs Qt.labs.folderlistmodel (a Depends of the package).
  g_messages.clear();
  auto previous = qInstallMessageHandler(collect);
  QQmlApplicationEngine engine;
  QObject::connect(&engine, &QQmlEngine::warnings, [](const QList<QQmlError>& ws) {
    for (const auto& w : ws) g_messages << w.toString();
  });
  ASSERT_TRUE(load_editor(engine, QString()));
  auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
  ASSERT_TRUE(window);
  auto* doc = window->property("document").value<GraphDocument*>();
  ASSERT_TRUE(doc);
  ASSERT_TRUE(doc->examplesFolder().isLocalFile());
  ASSERT_TRUE(QMetaObject::invokeMethod(window, "openProject"));
  // The FileDialog itself (QtQuick.Dialogs), not the popup item of its implementation.
  QObject* dialog = nullptr;
  for (QObject* o : window->findChildren<QObject*>())
    if (o->property("title").toString() == QStringLiteral("Open project") &&
        o->metaObject()->indexOfMethod("reject()") >= 0)
      dialog = o;
  ASSERT_TRUE(dialog);
  EXPECT_EQ(dialog->property("currentFolder").toUrl(), doc->examplesFolder());
  EXPECT_TRUE(QMetaObject::invokeMethod(dialog, "reject"));
  qInstallMessageHandler(previous);
  EXPECT_TRUE(g_messages.isEmpty()) << g_messages.join('\n').toStdString();
}

TEST(EditorExecutable, ScreenshotUnderXvfbIsNotBlank) {
  if (QStandardPaths::findExecutable("xvfb-run").isEmpty()) GTEST_SKIP() << "xvfb-run is not installed";
  QTemporaryDir dir;
  const QString file = example_file(dir);
  const QString shot = QStringLiteral(LATTICE_BINARY_DIR "/tests/editor_screenshot.png");
  QFile::remove(shot);
  const QString cmd = QStringLiteral("cd '%1' && xvfb-run -a -s '-screen 0 1400x900x24' env QT_QPA_PLATFORM=xcb "
                                     "LATTICE_EDITOR_SCREENSHOT='%2' '%3/lattice' '%4' > '%1/run.log' 2>&1")
                          .arg(dir.path(), shot, QStringLiteral(LATTICE_BINARY_DIR), file);
  const int rc = std::system(cmd.toLocal8Bit().constData());
  QFile log(dir.filePath("run.log"));
  (void)log.open(QIODevice::ReadOnly);
  const QString output = QString::fromLocal8Bit(log.readAll());
  ASSERT_EQ(rc, 0) << output.toStdString();
  QImage img(shot);
  ASSERT_FALSE(img.isNull()) << output.toStdString();
  EXPECT_GE(img.width(), 800);
  QSet<QRgb> colours;
  for (int y = 0; y < img.height(); y += 3)
    for (int x = 0; x < img.width(); x += 3) colours.insert(img.pixel(x, y));
  EXPECT_GT(colours.size(), 20) << "the window looks blank or uniform";
}

}  // namespace
}  // namespace lattice::editor
