#pragma once
/// `lattice --render` and the other headless commands. Returns the process exit code:
/// 0 success, 2 bad usage, 3 invalid graph or input file, 4 failure during evaluation, 130 cancelled.

#include <string>
#include <vector>

namespace lattice::app {

int run_headless(const std::vector<std::string>& args);
/// True if the arguments ask for a headless command (anything but opening the editor).
bool is_headless(const std::vector<std::string>& args);
void print_help();

}  // namespace lattice::app
