#include "app/install_paths.h"

namespace lattice::app {

namespace fs = std::filesystem;

fs::path examples_dir_for(const fs::path& executable) {
  std::error_code ec;
  const fs::path installed = (executable.parent_path() / ".." / "share" / "lattice" / "examples").lexically_normal();
  if (fs::is_directory(installed, ec)) return installed;
  const fs::path source = LATTICE_SOURCE_EXAMPLES;
  if (fs::is_directory(source, ec)) return source;
  return {};
}

fs::path examples_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : examples_dir_for(self);
}

}  // namespace lattice::app
