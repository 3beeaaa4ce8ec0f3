#include "nodes/models/clip/tokenizer.h"

#include <unicode/uchar.h>
#include <zlib.h>

#include <array>
#include <cctype>
#include <climits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "nodes/models/clip/unicode_util.h"

namespace lattice {

namespace fs = std::filesystem;

namespace {

// simple_tokenizer.py reads `merges[1 : 49152 - 256 - 2 + 1]`: a 49152-entry vocabulary minus the 256 byte
// characters and the 2 special tokens leaves room for 48894 merges (the file holds more). transformers'
// CLIPTokenizer slices merges.txt the same way.
constexpr size_t kMaxMerges = 49152 - 256 - 2;

constexpr std::string_view kStartOfText = "<|startoftext|>";
constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr std::string_view kEndOfWord = "</w>";

// bytes_to_unicode(): byte -> printable code point, in the reference's list order (the 188 printable
// bytes first, then the other 68 mapped to U+0100.. in increasing byte order). The list order is also the
// order of ids 0..255 in the vocabulary.
std::array<std::pair<uint8_t, char32_t>, 256> bytes_to_unicode() {
  std::array<std::pair<uint8_t, char32_t>, 256> out{};
  std::array<bool, 256> printable{};
  size_t k = 0;
  for (int b = 0; b < 256; ++b) {
    printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable[b]) out[k++] = {static_cast<uint8_t>(b), static_cast<char32_t>(b)};
  }
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (!printable[b]) out[k++] = {static_cast<uint8_t>(b), next++};
  }
  return out;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Python's str.split() for a merge line; merge tokens never contain whitespace (bytes_to_unicode maps
// every whitespace byte elsewhere), so ASCII whitespace is the whole set that can occur.
std::vector<std::string> split_ws(std::string_view line) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const size_t b = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > b) parts.emplace_back(line.substr(b, i - b));
  }
  return parts;
}

struct MergeLine {
  std::string left, right;
  size_t line_no;  // 1-based, for messages
};

// Lines [1, 1 + kMaxMerges) of a merges file; line 0 is the "#version" header, skipped unconditionally as
// both references do.
std::vector<MergeLine> parse_merges(std::string_view text, const fs::path& file) {
  std::vector<MergeLine> merges;
  size_t pos = 0, line_no = 0;
  while (pos <= text.size() && merges.size() < kMaxMerges) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1) continue;
    std::vector<std::string> parts = split_ws(line);
    if (parts.empty() && pos > text.size()) break;  // trailing newline at the end of the file
    if (parts.size() != 2) {
      throw_invalid(file.string() + ": line " + std::to_string(line_no) + " is not a merge \"a b\"");
    }
    merges.push_back({std::move(parts[0]), std::move(parts[1]), line_no});
  }
  if (merges.empty()) throw_invalid(file.string() + ": no BPE merges");
  return merges;
}

std::string read_text_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_invalid(file.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// zlib's gzread also passes plain (uncompressed) files through unchanged.
std::string read_gzip_file(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw_invalid(file.string() + ": no such file");
  gzFile gz = gzopen(file.c_str(), "rb");
  if (!gz) throw_invalid(file.string() + ": cannot open");
  std::string out;
  std::array<char, 1 << 16> buf{};
  int n = 0;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) {
    out.append(buf.data(), static_cast<size_t>(n));
  }
  int err = Z_OK;
  const std::string msg = n < 0 ? gzerror(gz, &err) : "";
  gzclose(gz);
  if (n < 0) throw_invalid(file.string() + ": corrupt gzip data (" + msg + ")");
  return out;
}

std::string char_utf8(char32_t c) { return clip::u32_to_utf8(std::u32string_view(&c, 1)); }

// Case-insensitive literal match at text[i] (the reference's regex runs with IGNORECASE, i.e. simple
// case folding; the text is already lower-case, so this matters only for characters like U+017F 'ſ').
bool match_folded(const std::u32string& text, size_t i, std::u32string_view lit) {
  if (text.size() - i < lit.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    if (u_foldCase(static_cast<UChar32>(text[i + k]), U_FOLD_CASE_DEFAULT) !=
        u_foldCase(static_cast<UChar32>(lit[k]), U_FOLD_CASE_DEFAULT)) {
      return false;
    }
  }
  return true;
}

// CLIP's pre-tokenizer, the regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// run with finditer: at each position the first alternative that matches wins (not the longest), and
// positions where none matches (whitespace) are skipped. Digits are single pieces.
std::vector<std::u32string> pre_tokenize(const std::u32string& text) {
  static constexpr std::u32string_view kLiterals[] = {U"<|startoftext|>", U"<|endoftext|>", U"'s", U"'t",
                                                      U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> pieces;
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    size_t end = i;
    for (std::u32string_view lit : kLiterals) {
      if (match_folded(text, i, lit)) {
        end = i + lit.size();
        break;
      }
    }
    if (end == i) {
      const char32_t c = text[i];
      if (clip::is_letter(c)) {
        while (end < n && clip::is_letter(text[end])) ++end;
      } else if (clip::is_number(c)) {
        end = i + 1;
      } else if (!clip::is_python_space(c)) {
        while (end < n && !clip::is_letter(text[end]) && !clip::is_number(text[end]) &&
               !clip::is_python_space(text[end])) {
          ++end;
        }
      } else {
        ++i;
        continue;
      }
    }
    pieces.push_back(text.substr(i, end - i));
    i = end;
  }
  return pieces;
}

}  // namespace

struct ClipTokenizer::Vocab {
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  std::unordered_map<std::string, int32_t> ids;  // token string -> id
  std::vector<std::string> tokens;               // id -> token string
  std::unordered_map<uint64_t, Merge> merges;    // (left id, right id) -> rank and result
  std::array<int32_t, 256> byte_id{};            // byte -> id of its character
  std::array<int32_t, 256> byte_end_id{};        // byte -> id of its character + "</w>"
  std::unordered_map<char32_t, uint8_t> char_byte;  // inverse of bytes_to_unicode, for decode()
  int32_t bos = -1, eos = -1;

  // Completes the tables from ids + merges; the paths name the sources in errors.
  void build(const std::vector<MergeLine>& merge_lines, const fs::path& vocab_file, const fs::path& merges_file) {
    tokens.clear();
    for (const auto& [tok, id] : ids) {
      if (id < 0) throw_invalid(vocab_file.string() + ": negative id for token \"" + tok + "\"");
      if (static_cast<size_t>(id) >= tokens.size()) tokens.resize(static_cast<size_t>(id) + 1);
      tokens[static_cast<size_t>(id)] = tok;
    }
    const auto find = [&](const std::string& tok) {
      const auto it = ids.find(tok);
      return it == ids.end() ? -1 : it->second;
    };
    for (const auto& [byte, cp] : bytes_to_unicode()) {
      const std::string ch = char_utf8(cp);
      byte_id[byte] = find(ch);
      byte_end_id[byte] = find(ch + std::string(kEndOfWord));
      if (byte_id[byte] < 0 || byte_end_id[byte] < 0) {
        throw_invalid(vocab_file.string() + ": vocabulary lacks the byte token \"" + ch + "\"");
      }
      char_byte[cp] = byte;
    }
    for (size_t r = 0; r < merge_lines.size(); ++r) {
      const MergeLine& m = merge_lines[r];
      const int32_t a = find(m.left), b = find(m.right);
      // A merge whose parts are not tokens can never fire: BPE only forms tokens.
      if (a < 0 || b < 0) continue;
      const int32_t merged = find(m.left + m.right);
      if (merged < 0) {
        throw_invalid(merges_file.string() + ": merge on line " + std::to_string(m.line_no) +
                      " yields a token missing from the vocabulary");
      }
      // dict(zip(merges, range(...))): a repeated pair keeps its last rank.
      merges.insert_or_assign(pair_key(a, b), Merge{static_cast<int32_t>(r), merged});
    }
    bos = find(std::string(kStartOfText));
    eos = find(std::string(kEndOfText));
    if (bos < 0 || eos < 0) throw_invalid(vocab_file.string() + ": vocabulary lacks <|startoftext|> or <|endoftext|>");
  }

  // SimpleTokenizer.bpe: repeatedly merge every occurrence (left to right) of the adjacent pair with the
  // lowest rank until no adjacent pair has one.
  void bpe(const std::string& piece, std::vector<int32_t>& out) const {
    std::vector<int32_t> word;
    word.reserve(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
      const auto b = static_cast<uint8_t>(piece[i]);
      word.push_back(i + 1 == piece.size() ? byte_end_id[b] : byte_id[b]);
    }
    std::vector<int32_t> next;
    while (word.size() > 1) {
      int32_t best_rank = INT32_MAX, first = -1, second = -1, merged = -1;
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        const auto it = merges.find(pair_key(word[i], word[i + 1]));
        if (it != merges.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          first = word[i];
          second = word[i + 1];
          merged = it->second.merged;
        }
      }
      if (merged < 0) break;
      next.clear();
      for (size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
          next.push_back(merged);
          i += 2;
        } else {
          next.push_back(word[i++]);
        }
      }
      word.swap(next);
    }
    out.insert(out.end(), word.begin(), word.end());
  }
};

ClipTokenizer ClipTokenizer::from_bpe_gz(const fs::path& gz) {
  const std::vector<MergeLine> merges = parse_merges(read_gzip_file(gz), gz);
  // The reference builds its vocabulary as a list: byte characters, the same + "</w>", each merge's
  // concatenation, then the two special tokens; a repeated string keeps its last index (dict(zip(...))).
  auto v = std::make_shared<Vocab>();
  std::vector<std::string> list;
  list.reserve(512 + merges.size() + 2);
  const auto b2u = bytes_to_unicode();
  for (const auto& [byte, cp] : b2u) list.push_back(char_utf8(cp));
  for (const auto& [byte, cp] : b2u) list.push_back(char_utf8(cp) + std::string(kEndOfWord));
  for (const MergeLine& m : merges) list.push_back(m.left + m.right);
  list.emplace_back(kStartOfText);
  list.emplace_back(kEndOfText);
  for (size_t i = 0; i < list.size(); ++i) v->ids.insert_or_assign(list[i], static_cast<int32_t>(i));
  v->build(merges, gz, gz);
  return ClipTokenizer(std::move(v));
}

ClipTokenizer ClipTokenizer::from_vocab_merges(const fs::path& vocab_json, const fs::path& merges_txt) {
  if (!fs::is_regular_file(vocab_json)) throw_invalid(vocab_json.string() + ": no such file");
  if (!fs::is_regular_file(merges_txt)) throw_invalid(merges_txt.string() + ": no such file");
  auto v = std::make_shared<Vocab>();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(vocab_json));
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(vocab_json.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw_invalid(vocab_json.string() + ": expected an object of token -> id");
  for (const auto& [tok, id] : j.items()) {
    if (!id.is_number_integer()) throw_invalid(vocab_json.string() + ": id of \"" + tok + "\" is not an integer");
    v->ids.emplace(tok, id.get<int32_t>());
  }
  v->build(parse_merges(read_text_file(merges_txt), merges_txt), vocab_json, merges_txt);
  return ClipTokenizer(std::move(v));
}

ClipTokenizer ClipTokenizer::from_files(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    const fs::path dir = path.parent_path();
    if (path.filename() == "vocab.json") return from_vocab_merges(path, dir / "merges.txt");
    if (path.filename() == "merges.txt" && fs::is_regular_file(dir / "vocab.json")) {
      return from_vocab_merges(dir / "vocab.json", path);
    }
    return from_bpe_gz(path);
  }
  if (!fs::is_directory(path, ec)) throw_invalid(path.string() + ": no such file or folder");
  for (const fs::path& dir : {path, path / "tokenizer"}) {
    if (fs::is_regular_file(dir / "vocab.json") && fs::is_regular_file(dir / "merges.txt")) {
      return from_vocab_merges(dir / "vocab.json", dir / "merges.txt");
    }
    if (fs::is_regular_file(dir / "bpe_simple_vocab_16e6.txt.gz")) return from_bpe_gz(dir / "bpe_simple_vocab_16e6.txt.gz");
  }
  throw_invalid(path.string() +
                ": no CLIP tokenizer files (vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz, here or in tokenizer/)");
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text, clip::CleanMode mode) const {
  std::vector<int32_t> ids;
  const std::u32string cleaned = clip::utf8_to_u32(clip::clean_prompt(text, mode));
  for (const std::u32string& piece : pre_tokenize(cleaned)) {
    const std::string bytes = clip::u32_to_utf8(piece);
    // Only the exact special strings map to the special ids (the reference's BPE cache holds them).
    if (bytes == kStartOfText) {
      ids.push_back(vocab_->bos);
    } else if (bytes == kEndOfText) {
      ids.push_back(vocab_->eos);
    } else {
      vocab_->bpe(bytes, ids);
    }
  }
  return ids;
}

TokenBatch ClipTokenizer::encode_padded(std::string_view text, int max_len, int32_t pad_id,
                                        clip::CleanMode mode) const {
  const std::vector<int32_t> ids = encode(text, mode);
  return make_token_batch(ids, vocab_->bos, vocab_->eos, pad_id < 0 ? vocab_->eos : pad_id, max_len);
}

std::string ClipTokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    for (char32_t c : clip::utf8_to_u32(token(id))) {
      const auto it = vocab_->char_byte.find(c);
      if (it != vocab_->char_byte.end()) bytes += static_cast<char>(it->second);
    }
  }
  std::string text = clip::u32_to_utf8(clip::utf8_to_u32(bytes));  // invalid sequences -> U+FFFD
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kEndOfWord.size(), kEndOfWord) == 0) {
      out += ' ';
      i += kEndOfWord.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string ClipTokenizer::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->tokens.size()) return {};
  return vocab_->tokens[static_cast<size_t>(id)];
}

int32_t ClipTokenizer::bos_id() const { return vocab_->bos; }
int32_t ClipTokenizer::eos_id() const { return vocab_->eos; }
size_t ClipTokenizer::vocab_size() const { return vocab_->tokens.size(); }

}  // namespace lattice
