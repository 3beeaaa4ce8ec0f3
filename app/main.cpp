// The lattice executable: headless commands, or the editor when given no flags.
#include <cstdio>
#include <string>
#include <vector>

#include "app/render_command.h"
#ifdef LATTICE_HAS_EDITOR
#include "app/editor/editor_main.h"
#endif

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Headless commands run before (and without) any Qt GUI initialisation, so they need no display.
  if (!args.empty() && lattice::app::is_headless(args)) return lattice::app::run_headless(args);
#ifdef LATTICE_HAS_EDITOR
  if (args.size() <= 1) return lattice::editor::run_editor(argc, argv, args.empty() ? std::string() : args[0]);
  std::fprintf(stderr, "lattice: the editor opens one project file at a time; see lattice --help\n");
  return 2;
#else
  std::fprintf(stderr, "lattice: the editor is not part of this build yet; see lattice --help\n");
  return 2;
#endif
}
