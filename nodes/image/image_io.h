#pragma once
/// Image files through OpenImageIO: reading into ImageData, atomic writing with the project graph embedded
/// in the metadata (PNG tEXt chunk / EXR header string attribute, key "LatticeGraph"), and reading that
/// graph back so that `lattice --render image.png` re-renders the project that made the image.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/types/image.h"

namespace lattice {

/// Key under which written images carry the .lattice JSON.
inline constexpr const char* kEmbeddedGraphKey = "LatticeGraph";

struct ImageHeader {
  int width = 0, height = 0, channels = 0;
};

/// Reads an image (first subimage, up to 4 channels). Throws Error(InvalidInput) naming the file.
std::shared_ptr<ImageData> read_image(const std::filesystem::path& path);
ImageHeader read_image_header(const std::filesystem::path& path);

/// depth: "auto" (8-bit for PNG/JPEG, half for EXR, the format's default otherwise), "8", "16", "half", "float".
/// The file appears complete or not at all (temporary file + rename). Throws Error(Evaluation) on failure.
void write_image(const std::filesystem::path& path, const ImageData& img, const std::string& depth,
                 const std::string* embedded_graph);

std::optional<std::string> read_embedded_graph(const std::filesystem::path& path);

}  // namespace lattice
