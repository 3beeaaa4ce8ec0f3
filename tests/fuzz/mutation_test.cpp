// Runs the fuzz bodies over the seed corpus and a fixed number of deterministic mutations of it, so that
// every build exercises them even without clang. scripts/fuzz runs the coverage-guided version.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "tests/fuzz/fuzz_targets.h"

namespace {

std::vector<std::string> corpus(const char* name) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(LATTICE_SOURCE_DIR) + "/tests/fuzz/corpus/" + name)) {
    std::ifstream f(e.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  return out;
}

void mutate_and_run(const std::vector<std::string>& seeds, void (*body)(const uint8_t*, size_t), int rounds) {
  ASSERT_FALSE(seeds.empty());
  std::mt19937_64 rng(12345);
  for (const auto& s : seeds) body(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  for (int i = 0; i < rounds; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0: s[pos] = static_cast<char>(rng()); break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        case 2: s.insert(pos, 1, "{}[]\",:0-e\\"[rng() % 11]); break;
        case 3: s.resize(pos); break;
        default: s.insert(pos, s.substr(rng() % s.size(), rng() % 16)); break;
      }
    }
    body(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

TEST(Fuzz, LatticeParserSurvivesMutations) { mutate_and_run(corpus("lattice"), lattice::fuzz::lattice_parser, 20000); }
TEST(Fuzz, SafetensorsReaderSurvivesMutations) {
  mutate_and_run(corpus("safetensors"), lattice::fuzz::safetensors_reader, 20000);
}

}  // namespace
