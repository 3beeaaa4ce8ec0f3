// CLIP tokenizer against OpenAI's reference (tests/golden/clip_tokenizer.json, 44 prompts): cleaned text,
// ids, the 77-token FLUX form with its mask, transformers' slow-tokenizer variant and decode, from both the
// .gz vocabulary and vocab.json + merges.txt written here from it.
#include "nodes/models/clip/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
const fs::path kVocabGz = kGolden / "clip_bpe_simple_vocab_16e6.txt.gz";

const nlohmann::json& golden() {
  static const nlohmann::json j = [] {
    std::ifstream in(kGolden / "clip_tokenizer.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok = ClipTokenizer::from_files(kVocabGz);
  return tok;
}

std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("lattice_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_gz(const fs::path& file) {
  gzFile gz = gzopen(file.c_str(), "rb");
  std::string out;
  char buf[65536];
  int n = 0;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(gz);
  return out;
}

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// transformers' vocab.json + merges.txt, built independently from the README's description of the id
// layout: 188 printable bytes then the 68 others (as U+0100..), the same with "</w>", merges, specials.
void write_hf_files(const fs::path& dir) {
  std::vector<std::string> lines;
  const std::string text = read_gz(kVocabGz);
  for (size_t pos = 0; lines.size() < 48895;) {
    const size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::vector<std::string> vocab;
  std::vector<int> rest;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    if (printable) {
      vocab.push_back(utf8(static_cast<char32_t>(b)));
    } else {
      rest.push_back(b);
    }
  }
  for (size_t i = 0; i < rest.size(); ++i) vocab.push_back(utf8(static_cast<char32_t>(256 + i)));
  for (size_t i = 0; i < 256; ++i) vocab.push_back(vocab[i] + "</w>");
  std::ofstream merges(dir / "merges.txt", std::ios::binary);
  merges << lines[0] << '\n';
  for (size_t i = 1; i < lines.size(); ++i) {
    merges << lines[i] << '\n';
    const size_t sp = lines[i].find(' ');
    vocab.push_back(lines[i].substr(0, sp) + lines[i].substr(sp + 1));
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");
  nlohmann::json j = nlohmann::json::object();
  for (size_t i = 0; i < vocab.size(); ++i) j[vocab[i]] = i;
  std::ofstream(dir / "vocab.json", std::ios::binary) << j.dump();
}

TEST(ClipTokenizer, GoldenHasAllCases) {
  EXPECT_EQ(golden()["cases"].size(), 44u);
  EXPECT_EQ(tokenizer().vocab_size(), 49408u);
  EXPECT_EQ(tokenizer().bos_id(), 49406);
  EXPECT_EQ(tokenizer().eos_id(), 49407);
}

// Every case must match exactly: no case is exempt.
TEST(ClipTokenizer, CleaningMatchesReference) {
  for (const auto& c : golden()["cases"]) {
    EXPECT_EQ(clip::clean_prompt(c["prompt"].get<std::string>()), c["cleaned"].get<std::string>())
        << "prompt: " << c["prompt"];
  }
}

TEST(ClipTokenizer, IdsMatchReference) {
  for (const auto& c : golden()["cases"]) {
    EXPECT_EQ(tokenizer().encode(c["prompt"].get<std::string>()), ids_of(c["ids"])) << "prompt: " << c["prompt"];
  }
}

TEST(ClipTokenizer, Padded77MatchesTransformers) {
  for (const auto& c : golden()["cases"]) {
    const TokenBatch b = tokenizer().encode_padded(c["prompt"].get<std::string>());
    EXPECT_EQ(b.ids, ids_of(c["ids_77_pad_eos"])) << "prompt: " << c["prompt"];
    EXPECT_EQ(b.attention_mask, ids_of(c["attention_mask_77"])) << "prompt: " << c["prompt"];
    EXPECT_EQ(b.truncated, c["truncated"].get<bool>()) << "prompt: " << c["prompt"];
    EXPECT_EQ(b.valid_len, std::min<size_t>(c["ids"].size() + 2, 77));
  }
}

TEST(ClipTokenizer, HfSlowCleaningSkipsHtmlUnescape) {
  size_t differing = 0;
  for (const auto& c : golden()["cases"]) {
    const auto ids = tokenizer().encode(c["prompt"].get<std::string>(), clip::CleanMode::HfSlow);
    EXPECT_EQ(ids, ids_of(c["ids_hf_slow"])) << "prompt: " << c["prompt"];
    differing += ids != ids_of(c["ids"]);
  }
  EXPECT_EQ(differing, 1u);  // the prompt with literal tags and entities
}

TEST(ClipTokenizer, DecodeMatchesReference) {
  for (const auto& c : golden()["cases"]) {
    EXPECT_EQ(tokenizer().decode(ids_of(c["ids"])), c["decoded"].get<std::string>()) << "prompt: " << c["prompt"];
  }
}

TEST(ClipTokenizer, TokensMatchReference) {
  for (const auto& c : golden()["cases"]) {
    const auto ids = ids_of(c["ids"]);
    const auto tokens = c["tokens"].get<std::vector<std::string>>();
    ASSERT_EQ(ids.size(), tokens.size());
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tokenizer().token(ids[i]), tokens[i]);
  }
}

TEST(ClipTokenizer, VocabJsonAndMergesGiveIdenticalIds) {
  TempDir dir("clip_hf");
  fs::create_directories(dir.path / "tokenizer");
  write_hf_files(dir.path / "tokenizer");
  // A diffusers checkpoint root: from_files finds tokenizer/vocab.json + merges.txt.
  const ClipTokenizer hf = ClipTokenizer::from_files(dir.path);
  EXPECT_EQ(hf.vocab_size(), tokenizer().vocab_size());
  for (const auto& c : golden()["cases"]) {
    const std::string prompt = c["prompt"].get<std::string>();
    EXPECT_EQ(hf.encode(prompt), tokenizer().encode(prompt)) << "prompt: " << c["prompt"];
    EXPECT_EQ(hf.encode_padded(prompt).ids, ids_of(c["ids_77_pad_eos"])) << "prompt: " << c["prompt"];
  }
  EXPECT_EQ(ClipTokenizer::from_files(dir.path / "tokenizer" / "vocab.json").encode("a photo of a cat"),
            tokenizer().encode("a photo of a cat"));
}

TEST(ClipTokenizer, TruncationKeepsEosLastAndPadIdIsConfigurable) {
  const auto ids = tokenizer().encode("a photo of a cat");  // 5 ids
  ASSERT_EQ(ids.size(), 5u);
  const TokenBatch cut = tokenizer().encode_padded("a photo of a cat", 4);
  EXPECT_EQ(cut.ids, (std::vector<int32_t>{49406, ids[0], ids[1], 49407}));
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.valid_len, 4u);
  const TokenBatch zero_pad = tokenizer().encode_padded("a photo of a cat", 10, 0);
  EXPECT_EQ(zero_pad.ids, (std::vector<int32_t>{49406, ids[0], ids[1], ids[2], ids[3], ids[4], 49407, 0, 0, 0}));
  EXPECT_EQ(zero_pad.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_FALSE(zero_pad.truncated);
  EXPECT_THROW(tokenizer().encode_padded("x", 1), Error);
}

TEST(ClipTokenizer, LiteralSpecialTokensOnlyWhenExact) {
  EXPECT_EQ(tokenizer().encode("<|endoftext|>"), (std::vector<int32_t>{49407}));
  // Upper case is lowered by cleaning first, so it is special too.
  EXPECT_EQ(tokenizer().encode("<|ENDOFTEXT|>"), (std::vector<int32_t>{49407}));
  // Glued to preceding punctuation the regex's punctuation run swallows "<|" first: no special id.
  const auto glued = tokenizer().encode(",<|endoftext|>");
  EXPECT_EQ(std::count(glued.begin(), glued.end(), 49407), 0);
}

void expect_invalid_naming(const std::function<void()>& f, const std::string& name) {
  try {
    f();
    ADD_FAILURE() << "no error for " << name;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizer, BadFilesAreInvalidInputNamingTheFile) {
  TempDir dir("clip_bad");
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path / "missing.txt.gz"); }, "missing.txt.gz");
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path); }, dir.path.string());
  // gzip magic followed by garbage
  std::ofstream(dir.path / "corrupt.gz", std::ios::binary) << std::string("\x1f\x8b\x08\x00garbage-garbage", 19);
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path / "corrupt.gz"); }, "corrupt.gz");
  std::ofstream(dir.path / "vocab.json") << "{not json";
  std::ofstream(dir.path / "merges.txt") << "#version: 0.2\na b\n";
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path); }, "vocab.json");
  std::ofstream(dir.path / "vocab.json") << R"({"a": 0})";
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path); }, "vocab.json");
  std::ofstream(dir.path / "merges.txt") << "#version: 0.2\nnot-a-pair\n";
  expect_invalid_naming([&] { ClipTokenizer::from_files(dir.path); }, "merges.txt");
}

}  // namespace
}  // namespace lattice
