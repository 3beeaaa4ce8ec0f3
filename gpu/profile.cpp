#include "gpu/profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <vector>

namespace lattice::gpu::profile {

namespace {

struct Entry {
  uint64_t count = 0;
  double ns = 0;
};

// Prints the report when the process exits (a static object's destructor), if anything was recorded.
struct Store {
  std::mutex mutex;
  std::map<std::string, Entry> by_label;
  ~Store() {
    if (by_label.empty()) return;
    const std::string text = report();
    const char* where = std::getenv("LATTICE_GPU_PROFILE");
    if (where && std::string(where) != "1") {
      std::ofstream(where) << text;
    } else {
      std::fputs(text.c_str(), stderr);
    }
  }
};

Store& store() {
  static Store s;
  return s;
}

void table(std::string& out, const std::map<std::string, Entry>& m, double total) {
  std::vector<std::pair<std::string, Entry>> rows(m.begin(), m.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  char line[512];
  std::snprintf(line, sizeof line, "  %6s %11s %8s %11s  %s\n", "share", "total ms", "count", "mean us", "label");
  out += line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "  %5.1f%% %11.2f %8llu %11.1f  %s\n", total > 0 ? 100.0 * e.ns / total : 0.0,
                  e.ns / 1e6, static_cast<unsigned long long>(e.count), e.ns / 1e3 / static_cast<double>(e.count),
                  name.c_str());
    out += line;
  }
}

std::atomic<int>& state() {  // -1: not read yet, 0 off, 1 on
  static std::atomic<int> s{-1};
  return s;
}

}  // namespace

bool enabled() {
  int on = state().load();
  if (on < 0) {
    const char* v = std::getenv("LATTICE_GPU_PROFILE");
    on = v && *v && std::string(v) != "0" ? 1 : 0;
    if (on) store();  // constructed before any caller's statics, so it is destroyed (and reports) after them
    state().store(on);
  }
  return on == 1;
}

void set_enabled(bool on) {
  store();
  state().store(on ? 1 : 0);
}

void add(const std::string& label, double ns) {
  Store& s = store();
  std::lock_guard lock(s.mutex);
  Entry& e = s.by_label[label];
  ++e.count;
  e.ns += ns;
}

void reset() {
  Store& s = store();
  std::lock_guard lock(s.mutex);
  s.by_label.clear();
}

std::string report() {
  Store& s = store();
  std::map<std::string, Entry> labels, kernels;
  {
    std::lock_guard lock(s.mutex);
    labels = s.by_label;
  }
  double total = 0;
  uint64_t count = 0;
  for (const auto& [name, e] : labels) {
    Entry& k = kernels[name.substr(0, name.find(' '))];
    k.count += e.count;
    k.ns += e.ns;
    total += e.ns;
    count += e.count;
  }
  char head[160];
  std::snprintf(head, sizeof head, "LATTICE_GPU_PROFILE: %llu commands, %.2f ms of device time\nby kernel:\n",
                static_cast<unsigned long long>(count), total / 1e6);
  std::string out = head;
  table(out, kernels, total);
  out += "by label:\n";
  table(out, labels, total);
  return out;
}

}  // namespace lattice::gpu::profile
