// Where the executable finds its examples: <prefix>/share/lattice/examples beside <prefix>/bin/lattice (the
// Debian package's layout), else the source tree's examples/ for a build-tree executable.
#include "app/install_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace {

namespace fs = std::filesystem;

TEST(InstallPaths, InstalledExamplesBesideTheExecutableComeFirst) {
  const fs::path prefix = fs::temp_directory_path() / ("lattice_prefix_" + std::to_string(::getpid()));
  fs::remove_all(prefix);
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share" / "lattice" / "examples");
  EXPECT_EQ(lattice::app::examples_dir_for(prefix / "bin" / "lattice"), prefix / "share" / "lattice" / "examples");
  fs::remove_all(prefix);
}

TEST(InstallPaths, ABuildTreeExecutableUsesTheSourceExamples) {
  // This test binary lives in <build>/tests, with no share/lattice beside it.
  const fs::path dir = lattice::app::examples_dir();
  EXPECT_EQ(dir, fs::path(LATTICE_SOURCE_DIR) / "examples");
  EXPECT_TRUE(fs::exists(dir / "default.lattice"));
}

}  // namespace
