// The lattice executable: headless commands, or the editor when given no flags.
#include <cstdio>
#include <string>
#include <vector>

#include "app/render_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || !lattice::app::is_headless(args)) {
    std::fprintf(stderr, "lattice: the editor is not part of this build yet; see lattice --help\n");
    return 2;
  }
  return lattice::app::run_headless(args);
}
