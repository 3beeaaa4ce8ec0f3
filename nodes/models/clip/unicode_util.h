#pragma once
/// Small ICU wrappers for the CLIP tokenizer's text handling (internal to nodes/models/clip/): UTF-8 <->
/// UTF-32, normalisation, full case mapping and the \p{L} / \p{N} classes. Pure functions, any thread.

#include <string>
#include <string_view>

namespace lattice::clip {

/// Invalid UTF-8 sequences become U+FFFD (what Python's decode(errors="replace") produces).
std::u32string utf8_to_u32(std::string_view utf8);
std::string u32_to_utf8(std::u32string_view text);

enum class Normalization { NFC, NFKC };
std::u32string normalize(const std::u32string& text, Normalization form);

/// Full, locale-independent case mapping with context (final sigma), as Python's str.lower()/upper().
std::u32string to_lower(const std::u32string& text);
std::u32string to_upper(const std::u32string& text);

/// \p{L}: general category Lu, Ll, Lt, Lm or Lo.
bool is_letter(char32_t c);
/// \p{N}: general category Nd, Nl or No.
bool is_number(char32_t c);

}  // namespace lattice::clip
