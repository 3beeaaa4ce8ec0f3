#pragma once
/// T5 SentencePiece tokenizer (FLUX `tokenizer_2/spiece.model`, the T5 v1.1 / UMT5 vocabularies) through
/// the system libsentencepiece, producing what transformers' T5Tokenizer(Fast) gives with
/// `padding="max_length", truncation=True`: ids + EOS, cut to max_len keeping EOS last, padded with the pad id.
///
/// Contract:
///  * from_file() throws Error(InvalidInput) naming the file when it is missing or not a SentencePiece model.
///  * A loaded tokenizer is immutable; its const methods may be called from any number of threads at once
///    (SentencePieceProcessor's encode/decode are const and keep no state). Copies share the model.
///  * Special ids come from the model: EOS must be defined (T5: 1); pad is the model's pad id (T5: 0), or 0
///    when the model defines none.
///  * Text goes to SentencePiece as is. transformers' T5 tokenizers additionally treat the strings
///    "<extra_id_0>".."<extra_id_99>" as single added tokens (sentinels for span corruption); prompts do not
///    use them, so they are split like any other text here.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/models/token_batch.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace lattice {

class T5Tokenizer {
 public:
  /// FLUX-dev's T5 sequence length; FLUX-schnell uses 256.
  static constexpr int kFluxDevMaxLength = 512;
  static constexpr int kFluxSchnellMaxLength = 256;

  /// `path` is a `spiece.model` file, a folder holding one, or a diffusers checkpoint root whose
  /// `tokenizer_2/` folder holds one.
  static T5Tokenizer from_file(const std::filesystem::path& path);

  /// SentencePiece ids of the text, without EOS.
  std::vector<int32_t> encode(std::string_view text) const;
  /// `encode(text)[:max_len-1] + [eos]`, padded with pad_id() to max_len, and the attention mask.
  TokenBatch encode_padded(std::string_view text, int max_len = kFluxDevMaxLength) const;
  /// Text of ids; special ids (pad, EOS) decode to nothing.
  std::string decode(std::span<const int32_t> ids) const;

  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }
  size_t vocab_size() const;

 private:
  T5Tokenizer(std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp, std::filesystem::path file);
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::filesystem::path file_;  // for error messages
  int32_t eos_ = 1, pad_ = 0;
};

}  // namespace lattice
