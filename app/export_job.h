#pragma once
/// `lattice --export-job KIND FILE --frames A-B [--chunk N] -o OUT`: writes a render-farm job whose tasks each
/// run `lattice --render FILE --frames <chunk> --output-dir DIR [--set ...]` on one chunk of consecutive frames.
/// Kinds: `openjd` (an Open Job Description 2023-09 job template, YAML), `opencue` (an OpenCue job spec XML,
/// cjsl 1.13) and `cuecmd` (one shell command per chunk, for OpenCue's cuecmd). The project is loaded and the
/// --set overrides are checked here, so a bad job fails at export time rather than on the farm. Paths in the
/// job are absolute; the farm's hosts must see the project, the output folder and the lattice executable
/// under the same paths (or the farm maps them: OpenJD PATH parameters). See docs/render-farm.md.

#include <string>
#include <vector>

namespace lattice::app {

/// True if the arguments ask for --export-job (anywhere among them).
bool is_export_job(const std::vector<std::string>& args);

/// Runs the export; returns 0. Throws lattice::Error: Usage (exit 2) for bad options, InvalidInput (exit 3)
/// for an unreadable or invalid project or an unwritable output file.
int export_job(const std::vector<std::string>& args);

}  // namespace lattice::app
