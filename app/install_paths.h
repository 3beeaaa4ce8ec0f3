#pragma once
/// Where the lattice executable finds the files installed beside it. The layout is the FHS one that
/// `cmake --install` and the Debian package use: <prefix>/bin/lattice and <prefix>/share/lattice/examples.
/// An executable run from its build tree falls back to the source tree's examples/. No Qt, no globals.

#include <filesystem>

namespace lattice::app {

/// The examples folder for an executable at `executable` (absolute): <prefix>/share/lattice/examples when it
/// exists, else the source tree's examples/ when that exists, else an empty path.
std::filesystem::path examples_dir_for(const std::filesystem::path& executable);

/// examples_dir_for(the running executable).
std::filesystem::path examples_dir();

}  // namespace lattice::app
