#pragma once
/// Entry points the command line needs from libraries it does not otherwise know (the GPU runtime,
/// image metadata, fixtures). Filled by the modules that provide them at static initialisation
/// (nodes/runtime_hooks.cpp); any may be empty in a reduced build.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/eval_context.h"
#include "core/types/image.h"

namespace lattice::app {

struct Hooks {
  /// The .lattice JSON embedded in an image's metadata, or nullopt.
  std::function<std::optional<std::string>(const std::filesystem::path&)> read_embedded_graph;
  /// Adds services (the GPU device) to the environment; dry_run = do not touch devices.
  std::function<void(Environment&, bool dry_run)> setup_environment;
  std::function<uint64_t(const Environment&)> peak_device_bytes;
  std::function<int(bool json)> list_devices;
  std::function<int(const std::string& fixture, const std::string& out)> run_fixture;
  /// Writes a step preview as an 8-bit PNG (complete or not at all); --serve offers previews only when set.
  std::function<void(const std::filesystem::path&, const ImageData&)> write_preview_png;
};

Hooks& hooks();

}  // namespace lattice::app
