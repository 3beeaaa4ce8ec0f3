// T5 tokenizer through libsentencepiece. No real spiece.model is shipped, so the test trains a tiny
// unigram model with T5's special-id layout (pad 0, EOS 1, unk 2, no BOS) at test time, once per binary.
#include "nodes/models/t5/tokenizer.h"

#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::temp_directory_path() / ("lattice_t5_tok_" + std::to_string(::getpid()));

// A generated corpus: captions combining word lists, varied enough for a ~150-piece unigram vocabulary.
void write_corpus(const fs::path& file) {
  const char* adjectives[] = {"red", "small", "ancient", "bright", "quiet", "golden", "wooden", "misty",
                              "frozen", "shiny", "purple", "gentle", "broken", "velvet", "cosmic", "rusty"};
  const char* nouns[] = {"cat", "house", "river", "mountain", "robot", "forest", "castle", "garden",
                         "dragon", "lantern", "bicycle", "harbor", "meadow", "tower", "violin", "glacier"};
  const char* places[] = {"at night", "in the rain", "under a blue sky", "by the sea", "in winter",
                          "during sunset", "with dramatic lighting", "on a quiet street"};
  std::ofstream out(file);
  for (int i = 0; i < 4096; ++i) {
    out << "a " << adjectives[i % 16] << ' ' << nouns[(i / 16) % 16] << ' ' << places[(i / 256) % 8]
        << ", photo " << (i * 37) % 1000 << "\n";
  }
}

class T5TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::create_directories(kDir / "tokenizer_2");
    write_corpus(kDir / "corpus.txt");
    const std::string args = "--input=" + (kDir / "corpus.txt").string() + " --model_prefix=" +
                             (kDir / "tokenizer_2" / "spiece").string() +
                             " --model_type=unigram --vocab_size=150 --pad_id=0 --eos_id=1 --unk_id=2"
                             " --bos_id=-1 --minloglevel=2 --num_threads=1";
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  static void TearDownTestSuite() { fs::remove_all(kDir); }
  static T5Tokenizer load() { return T5Tokenizer::from_file(kDir / "tokenizer_2" / "spiece.model"); }
};

TEST_F(T5TokenizerTest, SpecialIdsComeFromTheModel) {
  const T5Tokenizer tok = load();
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.vocab_size(), 150u);
}

TEST_F(T5TokenizerTest, EncodeAppendsEosAndPadsWithZero) {
  const T5Tokenizer tok = load();
  const std::string text = "a golden robot by the sea";
  const std::vector<int32_t> ids = tok.encode(text);
  ASSERT_FALSE(ids.empty());
  for (int32_t id : ids) {
    EXPECT_GT(id, 2) << "no special or unknown ids in in-vocabulary text";
  }
  const TokenBatch b = tok.encode_padded(text, 64);
  ASSERT_EQ(b.ids.size(), 64u);
  ASSERT_EQ(b.attention_mask.size(), 64u);
  EXPECT_EQ(b.valid_len, ids.size() + 1);
  EXPECT_FALSE(b.truncated);
  for (size_t i = 0; i < 64; ++i) {
    if (i < ids.size()) {
      EXPECT_EQ(b.ids[i], ids[i]);
    } else if (i == ids.size()) {
      EXPECT_EQ(b.ids[i], 1) << "EOS right after the text";
    } else {
      EXPECT_EQ(b.ids[i], 0) << "pad at " << i;
    }
    EXPECT_EQ(b.attention_mask[i], i <= ids.size() ? 1 : 0) << i;
  }
}

TEST_F(T5TokenizerTest, TruncationKeepsEosLast) {
  const T5Tokenizer tok = load();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "a misty castle in winter, ";
  const std::vector<int32_t> ids = tok.encode(text);
  ASSERT_GT(ids.size(), 16u);
  const TokenBatch b = tok.encode_padded(text, 16);
  EXPECT_TRUE(b.truncated);
  EXPECT_EQ(b.valid_len, 16u);
  EXPECT_EQ(std::vector<int32_t>(b.ids.begin(), b.ids.begin() + 15), std::vector<int32_t>(ids.begin(), ids.begin() + 15));
  EXPECT_EQ(b.ids.back(), 1);
  EXPECT_EQ(b.attention_mask, std::vector<int32_t>(16, 1));
  EXPECT_EQ(tok.encode_padded(text, T5Tokenizer::kFluxSchnellMaxLength).ids.size(), 256u);
}

TEST_F(T5TokenizerTest, DecodeRoundTrips) {
  const T5Tokenizer tok = load();
  for (const std::string text : {"a small cat in the rain", "an ancient river under a blue sky, photo 42", ""}) {
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
    // padding and EOS decode to nothing
    EXPECT_EQ(tok.decode(tok.encode_padded(text, 48).ids), text);
  }
}

TEST_F(T5TokenizerTest, FindsModelInCheckpointFolders) {
  EXPECT_EQ(T5Tokenizer::from_file(kDir).encode("a red cat"), load().encode("a red cat"));
  EXPECT_EQ(T5Tokenizer::from_file(kDir / "tokenizer_2").encode("a red cat"), load().encode("a red cat"));
}

void expect_invalid_naming(const fs::path& file) {
  try {
    T5Tokenizer::from_file(file);
    ADD_FAILURE() << "no error for " << file;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one-line message";
  }
}

TEST_F(T5TokenizerTest, MissingOrCorruptModelIsInvalidInputNamingTheFile) {
  expect_invalid_naming(kDir / "missing" / "spiece.model");
  std::ofstream(kDir / "corrupt.model", std::ios::binary) << "this is not a protobuf \x01\x02\x03";
  expect_invalid_naming(kDir / "corrupt.model");
  // A truncated real model
  std::string bytes;
  {
    std::ifstream in(kDir / "tokenizer_2" / "spiece.model", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(kDir / "truncated.model", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_invalid_naming(kDir / "truncated.model");
}

}  // namespace
}  // namespace lattice
