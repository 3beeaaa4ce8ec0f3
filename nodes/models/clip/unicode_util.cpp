#include "nodes/models/clip/unicode_util.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <string>

#include "core/error.h"

namespace lattice::clip {
namespace {

icu::UnicodeString to_icu(const std::u32string& text) {
  icu::UnicodeString s;
  for (char32_t c : text) s.append(static_cast<UChar32>(c));  // no aliasing of char32_t as UChar32
  return s;
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out;
  out.reserve(static_cast<size_t>(s.length()));
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out += static_cast<char32_t>(s.char32At(i));
  return out;
}

}  // namespace

std::u32string utf8_to_u32(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  const auto* p = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto n = static_cast<int32_t>(utf8.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c = 0;
    U8_NEXT(p, i, n, c);
    out += c < 0 ? U'\uFFFD' : static_cast<char32_t>(c);
  }
  return out;
}

std::string u32_to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    uint8_t buf[4];
    int32_t len = 0;
    UBool error = false;
    U8_APPEND(buf, len, 4, static_cast<UChar32>(c), error);
    if (error) {
      out += "\xEF\xBF\xBD";  // a surrogate or out-of-range value: U+FFFD
    } else {
      out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
    }
  }
  return out;
}

std::u32string normalize(const std::u32string& text, Normalization form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* norm = form == Normalization::NFC ? icu::Normalizer2::getNFCInstance(status)
                                                            : icu::Normalizer2::getNFKCInstance(status);
  if (U_FAILURE(status)) throw_eval(std::string("ICU: no normalizer: ") + u_errorName(status));
  const icu::UnicodeString in = to_icu(text);
  if (norm->isNormalized(in, status) && U_SUCCESS(status)) return text;
  status = U_ZERO_ERROR;
  const icu::UnicodeString out = norm->normalize(in, status);
  if (U_FAILURE(status)) throw_eval(std::string("ICU: normalisation failed: ") + u_errorName(status));
  return from_icu(out);
}

std::u32string to_lower(const std::u32string& text) { return from_icu(to_icu(text).toLower(icu::Locale::getRoot())); }

std::u32string to_upper(const std::u32string& text) { return from_icu(to_icu(text).toUpper(icu::Locale::getRoot())); }

bool is_letter(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0; }

bool is_number(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0; }

}  // namespace lattice::clip
