#pragma once
/// Frame sequences on disk: files named by a pattern whose single run of '#' is the frame number,
/// zero-padded to the run's length as substitute_frame (eval_context.h) writes it: `shot.####.exr` names
/// shot.0001.exr, shot.0002.exr, ... Used by the engine for the cache key of nodes whose paths name whole
/// sequences (NodeDesc::path_sequences) and by the nodes that read them.

#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

namespace lattice {

/// True when the file name (not the folders) holds a '#'.
bool is_sequence_pattern(const std::filesystem::path& pattern);

/// The files of `pattern` present on disk, ascending by frame number. A file whose number is padded
/// otherwise (a.0042.png for a.###.png) belongs to another sequence and is left out. Throws
/// Error(InvalidInput) for a pattern with no or several runs of '#', or a folder that cannot be listed.
std::vector<std::pair<int64_t, std::filesystem::path>> list_frame_sequence(const std::filesystem::path& pattern);

}  // namespace lattice
