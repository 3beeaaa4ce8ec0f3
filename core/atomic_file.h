#pragma once
/// Atomic file replacement: write to a temporary file in the destination's folder, flush it to disk,
/// then rename it over the destination. A crash, a full disk or a write error leaves the previous file
/// untouched and no temporary behind; the caller gets Error(InvalidInput) naming the file and the cause.

#include <filesystem>
#include <string_view>

namespace lattice {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

/// Reads a whole file; throws Error(InvalidInput) naming the file if it cannot.
std::string read_file(const std::filesystem::path& path);

}  // namespace lattice
