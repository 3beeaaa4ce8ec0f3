#include "app/editor/editor_main.h"

#include <QElapsedTimer>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQuickWindow>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>
#include <cstdio>

#include "app/editor/graph_document.h"

// Both QML modules are static libraries linked into the executable.
Q_IMPORT_QML_PLUGIN(Lattice_ModelPlugin)
Q_IMPORT_QML_PLUGIN(Lattice_EditorPlugin)

namespace lattice::editor {

bool load_editor(QQmlApplicationEngine& engine, const QString& file) {
  // Qt 6.4 does not put qrc:/ on the import path by default; our modules live at qrc:/Lattice/...
  engine.addImportPath(QStringLiteral("qrc:/"));
  engine.setInitialProperties({{QStringLiteral("initialFile"), file}});
  engine.load(QUrl(QStringLiteral("qrc:/Lattice/Editor/Main.qml")));
  return !engine.rootObjects().isEmpty();
}

namespace {

/// The last node without side effects: usually the graph's result, which the viewer can show.
QString node_to_show(const GraphDocument& doc) {
  QString id;
  for (const auto& n : doc.graph().nodes) {
    const NodeDesc* d = NodeRegistry::instance().find(n.type);
    if (d && !d->side_effect) id = QString::fromStdString(n.id);
  }
  return id;
}

/// Selects a node to view, then saves the window once evaluation is over; see run_editor.
void arm_screenshot(QQuickWindow* window, const QString& path) {
  auto* clock = new QElapsedTimer;
  clock->start();
  auto* timer = new QTimer(window);
  if (auto* doc = window->property("document").value<GraphDocument*>()) doc->select(node_to_show(*doc));
  QObject::connect(timer, &QTimer::timeout, window, [=] {
    auto* doc = window->property("document").value<GraphDocument*>();
    const bool idle = doc && !doc->evaluator()->busy();
    // Give the debounced auto-run time to start before trusting "idle".
    if (!(idle && clock->elapsed() > 1500) && clock->elapsed() < 20000) return;
    timer->stop();
    const QImage shot = window->grabWindow();
    const bool ok = !shot.isNull() && shot.save(path);
    std::fprintf(stderr, ok ? "lattice: screenshot saved to %s\n" : "lattice: could not save screenshot %s\n",
                 qPrintable(path));
    delete clock;
    QCoreApplication::exit(ok ? 0 : 3);
  });
  timer->start(100);
}

}  // namespace

int run_editor(int argc, char** argv, const std::string& file) {
  QGuiApplication app(argc, argv);
  QGuiApplication::setApplicationName(QStringLiteral("Lattice"));
  QGuiApplication::setOrganizationName(QStringLiteral("Lattice"));
  QQmlApplicationEngine engine;
  if (!load_editor(engine, QString::fromStdString(file))) {
    std::fprintf(stderr, "lattice: the editor window could not be created\n");
    return 1;
  }
  const QString shot = qEnvironmentVariable("LATTICE_EDITOR_SCREENSHOT");
  if (!shot.isEmpty())
    if (auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first())) arm_screenshot(window, shot);
  return app.exec();
}

}  // namespace lattice::editor
