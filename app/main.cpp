// The lattice executable: headless commands, or the editor when given no flags.
#include <cstdio>
#include <string>
#include <vector>

#include "app/render_command.h"
#include "gpu/instance.h"
#ifdef LATTICE_HAS_EDITOR
#include "app/editor/editor_main.h"
#endif

// With LATTICE_VULKAN_VALIDATION=1 (how the tests run the binary), a command that succeeded although the
// Khronos layer reported errors exits 4, as a device error does, so that those tests fail on them too.
static int checked(int code) {
  const unsigned long long errors = lattice::gpu::Instance::process_validation_errors();
  if (errors == 0) return code;
  std::fprintf(stderr, "lattice: error: %llu Vulkan validation error(s), messages above\n", errors);
  return code == 0 ? 4 : code;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Headless commands run before (and without) any Qt GUI initialisation, so they need no display.
  if (!args.empty() && lattice::app::is_headless(args)) return checked(lattice::app::run_headless(args));
#ifdef LATTICE_HAS_EDITOR
  if (args.size() <= 1)
    return checked(lattice::editor::run_editor(argc, argv, args.empty() ? std::string() : args[0]));
  std::fprintf(stderr, "lattice: the editor opens one project file at a time; see lattice --help\n");
  return 2;
#else
  std::fprintf(stderr, "lattice: the editor is not part of this build yet; see lattice --help\n");
  return 2;
#endif
}
