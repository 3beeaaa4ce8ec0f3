#pragma once
/// The editor's entry points. Only the `lattice` executable (when built with LATTICE_BUILD_EDITOR) and the
/// editor's tests call these; the headless commands never reach them, so rendering needs no display.

#include <QString>
#include <string>

class QQmlApplicationEngine;

namespace lattice::editor {

/// Loads the editor's main window (qrc:/Lattice/Editor/Main.qml) into `engine`, opening `file` when it is
/// not empty. Returns false when the window could not be created.
bool load_editor(QQmlApplicationEngine& engine, const QString& file);

/// Runs the editor: creates the QGuiApplication, shows the window, returns the exit code.
/// With LATTICE_EDITOR_SCREENSHOT=PATH in the environment it saves the window as PATH once the first
/// evaluation has finished (or after 20 s) and quits: exit code 0 when the image was written.
int run_editor(int argc, char** argv, const std::string& file);

}  // namespace lattice::editor
