#pragma once
/// CLIP byte-level BPE tokenizer (FLUX `tokenizer/`, SD 1.x/2.x/XL, CLIP-L/G), a port of OpenAI's
/// `clip/simple_tokenizer.py` that reproduces its ids exactly (tests/golden/README.md, "CLIP tokenizer").
///
/// Contract:
///  * Loads either OpenAI's `bpe_simple_vocab_16e6.txt.gz` or transformers' `vocab.json` + `merges.txt`;
///    both give the same ids. Loading throws Error(InvalidInput) naming the file at fault.
///  * A loaded tokenizer is immutable: every method is const, keeps no cache and may be called from any
///    number of threads at once. Copying shares the vocabulary.
///  * encode() cleans the text (nodes/models/clip/text_clean.h: ftfy subset, html.unescape, whitespace,
///    lower case), splits it with CLIP's pre-tokenizer regex and applies BPE. It never throws for any
///    input; invalid UTF-8 is read with U+FFFD replacements. The literal strings "<|startoftext|>" and
///    "<|endoftext|>" in a prompt become the special ids, as in the reference.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/models/clip/text_clean.h"
#include "nodes/models/token_batch.h"

namespace lattice {

class ClipTokenizer {
 public:
  /// Length of every CLIP text-encoder input (position embeddings of CLIP-L and CLIP-G).
  static constexpr int kContextLength = 77;

  /// `path` is one of: a `.gz` merges file (OpenAI); a `vocab.json` (with `merges.txt` beside it); a
  /// folder holding `vocab.json` + `merges.txt` or `bpe_simple_vocab_16e6.txt.gz`; or a diffusers
  /// checkpoint root whose `tokenizer/` folder holds them.
  static ClipTokenizer from_files(const std::filesystem::path& path);
  /// OpenAI's gzip-compressed merges file: header line, then the merges in rank order.
  static ClipTokenizer from_bpe_gz(const std::filesystem::path& gz);
  /// transformers' CLIPTokenizer files.
  static ClipTokenizer from_vocab_merges(const std::filesystem::path& vocab_json,
                                         const std::filesystem::path& merges_txt);

  /// Token ids without BOS/EOS (openai `SimpleTokenizer.encode`). `mode` HfSlow reproduces transformers'
  /// slow CLIPTokenizer, which skips OpenAI's extra html.unescape.
  std::vector<int32_t> encode(std::string_view text, clip::CleanMode mode = clip::CleanMode::OpenAI) const;

  /// The text-encoder input: `[bos] + encode(text)[:max_len-2] + [eos]`, padded with `pad_id` (default
  /// -1 = EOS, as FLUX's and SD 1.x's tokenizer config; SD 2.x and openai `clip.tokenize` pad with 0).
  TokenBatch encode_padded(std::string_view text, int max_len = kContextLength, int32_t pad_id = -1,
                           clip::CleanMode mode = clip::CleanMode::OpenAI) const;

  /// Text of ids as the reference decodes it: tokens concatenated, "</w>" read as a space, bytes as UTF-8
  /// with U+FFFD for incomplete sequences. Unknown ids are skipped.
  std::string decode(std::span<const int32_t> ids) const;

  /// The vocabulary string of one id ("a</w>", "Ġ"-style byte characters), empty for an unknown id.
  std::string token(int32_t id) const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  /// Number of ids (49408 for every released CLIP vocabulary).
  size_t vocab_size() const;

  struct Vocab;  ///< loaded tables (tokenizer.cpp)

 private:
  explicit ClipTokenizer(std::shared_ptr<const Vocab> v) : vocab_(std::move(v)) {}
  std::shared_ptr<const Vocab> vocab_;
};

}  // namespace lattice
