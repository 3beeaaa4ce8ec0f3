#include "nodes/models/t5/tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace lattice {

namespace fs = std::filesystem;

T5Tokenizer::T5Tokenizer(std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp, fs::path file)
    : sp_(std::move(sp)), file_(std::move(file)) {
  eos_ = sp_->eos_id();
  if (eos_ < 0) throw_invalid(file_.string() + ": SentencePiece model defines no EOS piece");
  pad_ = sp_->pad_id() >= 0 ? sp_->pad_id() : 0;
}

T5Tokenizer T5Tokenizer::from_file(const fs::path& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(path, ec)) {
    file = fs::is_regular_file(path / "spiece.model") ? path / "spiece.model" : path / "tokenizer_2" / "spiece.model";
  }
  if (!fs::is_regular_file(file, ec)) throw_invalid(file.string() + ": no such file (expected a SentencePiece spiece.model)");
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->Load(file.string());
  if (!status.ok()) throw_invalid(file.string() + ": not a SentencePiece model (" + status.ToString() + ")");
  return T5Tokenizer(std::move(sp), std::move(file));
}

std::vector<int32_t> T5Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  // Encoding a loaded model fails only on internal errors; report them as evaluation failures.
  if (!status.ok()) throw_eval(file_.string() + ": SentencePiece encode failed (" + status.ToString() + ")");
  return {ids.begin(), ids.end()};
}

TokenBatch T5Tokenizer::encode_padded(std::string_view text, int max_len) const {
  const std::vector<int32_t> ids = encode(text);
  return make_token_batch(ids, std::nullopt, eos_, pad_, max_len);
}

std::string T5Tokenizer::decode(std::span<const int32_t> ids) const {
  const int size = sp_->GetPieceSize();
  std::vector<int> in;
  for (int32_t id : ids) {
    if (id >= 0 && id < size) in.push_back(id);
  }
  std::string text;
  const auto status = sp_->Decode(in, &text);
  if (!status.ok()) throw_eval(file_.string() + ": SentencePiece decode failed (" + status.ToString() + ")");
  return text;
}

size_t T5Tokenizer::vocab_size() const { return static_cast<size_t>(sp_->GetPieceSize()); }

}  // namespace lattice
