#pragma once
// One QGuiApplication per test binary, on the offscreen platform: no display needed.
#include <QGuiApplication>
#include <QStandardPaths>
#include <QString>
#include <ostream>

// Readable QString values in GoogleTest messages.
inline void PrintTo(const QString& s, std::ostream* os) { *os << '"' << s.toStdString() << '"'; }

namespace lattice::editor::test {

inline QGuiApplication& qt_app() {
  static int argc = 1;
  static char name[] = "lattice-editor-test";
  static char* argv[] = {name, nullptr};
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  // Settings, recent files and autosaves go to test locations (~/.qttest), never the user's.
  QStandardPaths::setTestModeEnabled(true);
  static QGuiApplication* app = new QGuiApplication(argc, argv);
  return *app;
}

}  // namespace lattice::editor::test
