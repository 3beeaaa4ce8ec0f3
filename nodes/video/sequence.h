#pragma once
/// Frame sequences as videos: one image file per frame, named by a pattern (core/frame_sequence.h:
/// `shot.####.exr` -> shot.0001.exr; list_frame_sequence finds the files).
/// Files are read and written through OpenImageIO (nodes/image/image_io.h), so EXR keeps float data and
/// PNG is 8- or 16-bit. Reading picks frames by position among the files present (0 = the lowest number),
/// so gaps in the numbering are skipped, not filled.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/frame_sequence.h"
#include "core/types/video.h"
#include "nodes/video/ffmpeg_io.h"

namespace lattice {

/// Reads the frames `options` selects (audio ignored) at the given rate (divided by the stride).
/// Throws Error(InvalidInput) when no frame matches or the frames differ in size or channels.
std::shared_ptr<VideoData> read_sequence(const std::filesystem::path& pattern, const VideoReadOptions& options,
                                         int fps_num, int fps_den, const std::function<void()>& cancel = {});

/// Writes frame i as number first_number + i (each file atomically; depth as write_image takes it).
/// `each` (optional) runs after every file. Returns the files written.
std::vector<std::filesystem::path> write_sequence(const std::filesystem::path& pattern, const VideoData& video,
                                                  int64_t first_number, const std::string& depth,
                                                  const std::string* embedded_graph,
                                                  const std::function<void(int64_t)>& each = {});

}  // namespace lattice
