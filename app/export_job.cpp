#include "app/export_job.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <tuple>

#include "app/render_command.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace lattice::app {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void usage(const std::string& message) { throw Error(ErrorKind::Usage, message); }

/// Farms take the job as data; a job with more tasks than this is almost certainly a mistake (and OpenCue
/// refuses jobs of over 100,000 frames).
constexpr uint64_t kMaxTasks = 100000;
/// An OpenJD list-valued task parameter holds at most 1024 values (2023-09 template schema, 3.4.1).
constexpr uint64_t kMaxOpenJdListValues = 1024;

struct Job {
  std::string kind;  // openjd, opencue, cuecmd
  std::string file;  // absolute
  int64_t first = 0, last = 0;
  int64_t chunk = 1;
  std::string output_dir = ".";
  std::string lattice_bin;
  std::vector<std::pair<std::string, std::string>> sets;
  std::string out;
  std::string name;
  std::string openjd_chunks = "extension";
  std::string show = "testing", shot, user, service = "shell";
};

Job parse(const std::vector<std::string>& args) {
  Job j;
  bool have_frames = false;
  auto value = [&](size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) usage(args[i] + " needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--export-job") {
      if (!j.kind.empty()) usage("--export-job can be given once");
      if (i + 2 >= args.size()) usage("--export-job needs a KIND (openjd, opencue or cuecmd) and a FILE");
      j.kind = args[++i];
      if (j.kind != "openjd" && j.kind != "opencue" && j.kind != "cuecmd")
        usage("--export-job expects openjd, opencue or cuecmd, got '" + j.kind + "'");
      j.file = args[++i];
    } else if (a == "--frames") {
      std::tie(j.first, j.last) = parse_frames(value(i));
      have_frames = true;
    } else if (a == "--chunk") {
      const std::string& v = value(i);
      size_t used = 0;
      try {
        j.chunk = std::stoll(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != v.size() || j.chunk < 1) usage("--chunk expects a whole number of frames >= 1, got '" + v + "'");
    } else if (a == "-o" || a == "--out") {
      j.out = value(i);
    } else if (a == "--output-dir") {
      j.output_dir = value(i);
    } else if (a == "--set") {
      j.sets.push_back(parse_set(value(i)));
    } else if (a == "--lattice-bin") {
      j.lattice_bin = value(i);
    } else if (a == "--job-name") {
      j.name = value(i);
    } else if (a == "--openjd-chunks") {
      j.openjd_chunks = value(i);
      if (j.openjd_chunks != "extension" && j.openjd_chunks != "list")
        usage("--openjd-chunks expects extension or list, got '" + j.openjd_chunks + "'");
    } else if (a == "--show") {
      j.show = value(i);
    } else if (a == "--shot") {
      j.shot = value(i);
    } else if (a == "--user") {
      j.user = value(i);
    } else if (a == "--service") {
      j.service = value(i);
    } else {
      usage("--export-job: unknown argument '" + a + "' (see lattice --help)");
    }
  }
  if (j.kind.empty()) usage("--export-job needs a kind: openjd, opencue or cuecmd");
  if (!have_frames) usage("--export-job needs --frames A-B");
  if (j.out.empty()) usage("--export-job needs -o OUT (the job file to write)");
  return j;
}

/// [first, last] of each chunk of `chunk` consecutive frames, the last one possibly shorter.
std::vector<std::pair<int64_t, int64_t>> chunks_of(const Job& j) {
  std::vector<std::pair<int64_t, int64_t>> out;
  // Unsigned arithmetic: the span of any int64 range fits, and nothing overflows at the top.
  const uint64_t span = static_cast<uint64_t>(j.last) - static_cast<uint64_t>(j.first);
  const uint64_t step = static_cast<uint64_t>(j.chunk);
  for (uint64_t offset = 0;; offset += step) {
    const uint64_t end = span - offset < step ? span : offset + step - 1;
    out.emplace_back(static_cast<int64_t>(static_cast<uint64_t>(j.first) + offset),
                     static_cast<int64_t>(static_cast<uint64_t>(j.first) + end));
    if (end == span) break;
  }
  return out;
}

/// Tasks minus one: cannot overflow, unlike the count itself (--frames spanning all of int64, --chunk 1).
uint64_t last_task_index(const Job& j) {
  return (static_cast<uint64_t>(j.last) - static_cast<uint64_t>(j.first)) / static_cast<uint64_t>(j.chunk);
}

/// Only once last_task_index(j) < kMaxTasks has been checked.
uint64_t task_count(const Job& j) { return last_task_index(j) + 1; }

std::string range_text(int64_t a, int64_t b) { return std::to_string(a) + "-" + std::to_string(b); }

bool has_control_char(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// True if some output path of the graph contains '#', i.e. frames write distinct files.
bool writes_per_frame_files(const Graph& g) {
  for (const auto& n : g.nodes) {
    const NodeDesc* d = NodeRegistry::instance().find(n.type);
    if (!d) continue;
    for (const auto& p : d->params) {
      if (p.type != ParamType::OutPath) continue;
      const Json& v = n.params.contains(p.name) ? n.params[p.name] : p.default_value;
      if (v.is_string() && v.get<std::string>().find('#') != std::string::npos) return true;
    }
  }
  return false;
}

/// Alphanumerics, '_' and '.' (OpenCue names: cuebot lowercases them and turns '-' into '_').
std::string cue_name(const std::string& s) {
  std::string r;
  for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '_';
  return r;
}

bool is_cue_name(const std::string& s) {
  return s.size() >= 3 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
         });
}

/// Absolute and normal, without a trailing separator ("." becomes "/current/folder").
std::string absolute_path(const std::string& p) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (!a.has_filename() && a != a.root_path()) a = a.parent_path();
  return a.string();
}

/// Checks everything a farm would only find out on its first task, and fills in the defaults.
void resolve(Job& j) {
  Json document;
  Graph g = load_project(j.file, &document);
  apply_sets(g, j.sets);
  require_valid(g);  // what --render would refuse on every task
  if (j.last > j.first && !writes_per_frame_files(g))
    std::fprintf(stderr, "lattice: warning: no output path of %s contains '#', so every frame writes the same file\n",
                 j.file.c_str());
  if (last_task_index(j) >= kMaxTasks)
    usage("--frames " + range_text(j.first, j.last) + " in chunks of " + std::to_string(j.chunk) +
          " makes more than " + std::to_string(kMaxTasks) + " tasks, the most a job may have (raise --chunk)");

  j.file = absolute_path(j.file);
  j.output_dir = absolute_path(j.output_dir);
  if (j.lattice_bin.empty()) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) usage("cannot tell where this executable is (" + ec.message() + "); pass --lattice-bin PATH");
    j.lattice_bin = self.string();
  } else if (j.lattice_bin.find('/') != std::string::npos) {
    // A bare name ("lattice") is looked up on the farm host's PATH; anything with a slash is made absolute.
    j.lattice_bin = absolute_path(j.lattice_bin);
    std::error_code ec;
    if (!fs::is_regular_file(j.lattice_bin, ec))
      std::fprintf(stderr, "lattice: warning: --lattice-bin %s does not exist here; the farm hosts must have it\n",
                   j.lattice_bin.c_str());
  }
  if (j.name.empty()) j.name = fs::path(j.file).stem().string();
  if (j.name.empty()) j.name = "lattice";

  // Farm command lines are one line each, and OpenJD strings allow no control characters.
  auto check_text = [&](const std::string& what, const std::string& s) {
    if (has_control_char(s)) usage(what + " contains a control character (such as a line break), which a farm job cannot carry");
    if (j.kind == "openjd" && s.find("{{") != std::string::npos)
      usage(what + " contains '{{', which Open Job Description would read as a format-string expression");
  };
  for (const auto& [target, text] : j.sets) check_text("--set " + target, text);
  check_text("the project path", j.file);
  check_text("--output-dir", j.output_dir);
  check_text("--lattice-bin", j.lattice_bin);
  check_text("--job-name", j.name);
  if (j.kind == "openjd" && j.name.size() > 128) usage("--job-name: Open Job Description job names have at most 128 characters");

  if (j.kind == "opencue") {
    if (j.shot.empty()) j.shot = cue_name(j.name).size() >= 3 ? cue_name(j.name) : cue_name(j.name) + "_lattice";
    if (j.user.empty()) {
      const char* u = std::getenv("USER");
      j.user = u && *u ? u : "lattice";
    }
    const std::string job_name = cue_name(j.name).size() >= 3 ? cue_name(j.name) : cue_name(j.name) + "_lattice";
    for (const auto& [what, v] : {std::pair<std::string, std::string>{"--show", j.show}, {"--shot", j.shot}, {"--job-name", job_name}})
      if (!is_cue_name(v))
        usage(what + " '" + v + "': OpenCue names are at least 3 letters, digits, '_', '.' or '-'");
    if (j.service.empty() || has_control_char(j.service) || has_control_char(j.user)) usage("--service and --user must be one line of text");
    if (j.user == "root")
      std::fprintf(stderr, "lattice: warning: cuebot refuses jobs whose user is root; pass --user NAME\n");
    j.name = job_name;
  }
}

/// The arguments of `lattice --render` for one task, `frames` being the task's frame range (or a token).
std::vector<std::string> render_args(const Job& j, const std::string& project, const std::string& frames,
                                     const std::string& output_dir) {
  std::vector<std::string> a = {"--render", project, "--frames", frames, "--output-dir", output_dir};
  for (const auto& [target, text] : j.sets) {
    a.push_back("--set");
    a.push_back(target + "=" + text);
  }
  return a;
}

/// POSIX shell quoting: bare when only safe characters, else single quotes ('#' would start a comment).
std::string sh_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_-+=/.,:@%").find(c) != std::string_view::npos;
  });
  if (plain) return s;
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

std::string command_line(const Job& j, const std::string& frames) {
  std::string line = sh_quote(j.lattice_bin);
  for (const auto& a : render_args(j, j.file, frames, j.output_dir)) line += " " + sh_quote(a);
  return line;
}

// ---- Open Job Description -------------------------------------------------------------------------------

/// Block-style YAML for a JSON value. Every string is written double-quoted with JSON escapes, which YAML 1.2
/// reads identically, so no value can turn into a number, a boolean or a comment.
void yaml_block(const Json& v, int indent, std::string& out);

void yaml_after_key(const Json& v, int indent, std::string& out) {
  if ((v.is_object() || v.is_array()) && !v.empty()) {
    out += "\n";
    yaml_block(v, indent + 2, out);
  } else {
    out += " " + v.dump() + "\n";  // a scalar, [] or {}
  }
}

std::string yaml_key(const std::string& k) {
  const bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  return plain ? k : Json(k).dump();
}

void yaml_block(const Json& v, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      out += pad + yaml_key(k) + ":";
      yaml_after_key(x, indent, out);
    }
    return;
  }
  for (const auto& x : v) {
    out += pad + "-";
    if (x.is_object() && !x.empty()) {
      // The mapping's first key goes on the dash's line: "- name: ..." with the rest aligned under it.
      std::string item;
      yaml_block(x, indent + 2, item);
      out += " " + item.substr(static_cast<size_t>(indent) + 2);
    } else if (x.is_array() && !x.empty()) {
      out += "\n";
      yaml_block(x, indent + 2, out);
    } else {
      out += " " + x.dump() + "\n";
    }
  }
}

std::string openjd_template(const Job& j) {
  const bool extension = j.openjd_chunks == "extension";
  Json params = Json::array();
  params.push_back({{"name", "ProjectFile"}, {"type", "PATH"}, {"objectType", "FILE"}, {"dataFlow", "IN"},
                    {"default", j.file}, {"description", "The .lattice project to render"}});
  params.push_back({{"name", "OutputDir"}, {"type", "PATH"}, {"objectType", "DIRECTORY"}, {"dataFlow", "OUT"},
                    {"default", j.output_dir}, {"description", "Where relative output paths of the project go"}});
  params.push_back({{"name", "LatticeExecutable"}, {"type", "PATH"}, {"objectType", "FILE"}, {"dataFlow", "NONE"},
                    {"default", j.lattice_bin}, {"description", "The lattice program on the worker hosts"}});

  Json frame_param;
  if (extension) {
    params.push_back({{"name", "Frames"}, {"type", "STRING"}, {"default", range_text(j.first, j.last)},
                      {"description", "Frames to render, an integer range expression such as 1-48"}});
    params.push_back({{"name", "ChunkSize"}, {"type", "INT"}, {"default", j.chunk}, {"minValue", 1},
                      {"description", "Frames per task"}});
    // CONTIGUOUS: each task's Frame is "<first>-<last>" (also "5-5" for one frame), exactly what --frames takes.
    frame_param = {{"name", "Frame"}, {"type", "CHUNK[INT]"}, {"range", "{{Param.Frames}}"},
                   {"chunks", {{"defaultTaskCount", "{{Param.ChunkSize}}"}, {"rangeConstraint", "CONTIGUOUS"}}}};
  } else if (j.chunk == 1) {
    frame_param = {{"name", "Frame"}, {"type", "INT"}, {"range", range_text(j.first, j.last)}};
  } else {
    if (task_count(j) > kMaxOpenJdListValues)
      usage("--openjd-chunks list: " + std::to_string(task_count(j)) + " chunks, but an OpenJD task parameter lists at most " +
            std::to_string(kMaxOpenJdListValues) + " values (raise --chunk, or use --openjd-chunks extension)");
    Json ranges = Json::array();
    for (const auto& [a, b] : chunks_of(j)) ranges.push_back(range_text(a, b));
    frame_param = {{"name", "Frame"}, {"type", "STRING"}, {"range", ranges}};
  }

  Json args = Json::array();
  for (const auto& a : render_args(j, "{{Param.ProjectFile}}", "{{Task.Param.Frame}}", "{{Param.OutputDir}}")) args.push_back(a);
  Json step = {{"name", "Render"},
               {"parameterSpace", {{"taskParameterDefinitions", Json::array({frame_param})}}},
               {"script", {{"actions", {{"onRun", {{"command", "{{Param.LatticeExecutable}}"}, {"args", args}}}}}}}};

  Json t = {{"specificationVersion", "jobtemplate-2023-09"}};
  if (extension) t["extensions"] = Json::array({"TASK_CHUNKING"});
  t["name"] = j.name;
  t["description"] = std::string("Lattice ") + LATTICE_VERSION + ": lattice --render " +
                     fs::path(j.file).filename().string() + ", frames " + range_text(j.first, j.last);
  t["parameterDefinitions"] = params;
  t["steps"] = Json::array({step});
  std::string out = "# Open Job Description job template written by `lattice --export-job openjd`.\n";
  yaml_block(t, 0, out);
  return out;
}

// ---- OpenCue -------------------------------------------------------------------------------------------

std::string xml_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;  // attribute values are double-quoted
      default: r += c;
    }
  }
  return r;
}

std::string opencue_spec(const Job& j) {
  // Cuebot substitutes #FRAME_START# and #FRAME_END# with the first and last frame of each chunk.
  const std::string cmd = command_line(j, "#FRAME_START#-#FRAME_END#");
  auto el = [](const std::string& tag, const std::string& text) { return "<" + tag + ">" + xml_escape(text) + "</" + tag + ">"; };
  std::string x = "<?xml version=\"1.0\"?>\n";
  x += "<!DOCTYPE spec PUBLIC \"SPI Cue  Specification Language\" \"http://localhost:8080/spcue/dtd/cjsl-1.13.dtd\">\n";
  // (No "--" may appear inside an XML comment.)
  x += "<!-- OpenCue job spec written by lattice export-job; submit it with opencue.api.launchSpec -->\n";
  x += "<spec>\n";
  x += "  " + el("show", j.show) + "\n";
  x += "  " + el("shot", j.shot) + "\n";
  x += "  " + el("user", j.user) + "\n";
  x += "  <job name=\"" + xml_escape(j.name) + "\">\n";
  x += "    " + el("paused", "False") + "\n";
  x += "    " + el("maxretries", "1") + "\n";
  x += "    " + el("autoeat", "False") + "\n";
  x += "    <layers>\n";
  x += "      <layer name=\"render\" type=\"Render\">\n";
  x += "        " + el("cmd", cmd) + "\n";
  x += "        " + el("range", range_text(j.first, j.last)) + "\n";
  x += "        " + el("chunk", std::to_string(j.chunk)) + "\n";
  x += "        <services>" + el("service", j.service) + "</services>\n";
  x += "      </layer>\n";
  x += "    </layers>\n";
  x += "  </job>\n";
  x += "  <depends/>\n";
  x += "</spec>\n";
  return x;
}

std::string cuecmd_list(const Job& j) {
  std::string s;
  for (const auto& [a, b] : chunks_of(j)) s += command_line(j, range_text(a, b)) + "\n";
  return s;
}

}  // namespace

bool is_export_job(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--export-job") != args.end();
}

int export_job(const std::vector<std::string>& args) {
  Job j = parse(args);
  resolve(j);
  const std::string text = j.kind == "openjd" ? openjd_template(j) : j.kind == "opencue" ? opencue_spec(j) : cuecmd_list(j);
  write_file_atomic(j.out, text);
  std::printf("lattice: wrote %s: %s job, frames %s in %llu task(s) of up to %lld frame(s)\n", j.out.c_str(),
              j.kind.c_str(), range_text(j.first, j.last).c_str(), static_cast<unsigned long long>(task_count(j)),
              static_cast<long long>(j.chunk));
  return 0;
}

}  // namespace lattice::app
