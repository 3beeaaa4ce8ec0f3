#include "nodes/models/clip/text_clean.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "nodes/models/clip/unicode_util.h"

namespace lattice::clip {
namespace {

struct HtmlEntity {
  const char* name;   // without the leading '&'; with or without the trailing ';'
  const char* value;  // UTF-8
};
struct InvalidCharref {
  char32_t code;
  const char* value;  // UTF-8
};
#include "nodes/models/clip/html_entities.inc"

std::optional<std::u32string> lookup_entity(const std::u32string& name) {
  std::string key;
  for (char32_t c : name) {
    if (c >= 0x80) return std::nullopt;  // every HTML5 entity name is ASCII
    key += static_cast<char>(c);
  }
  const auto* end = std::end(kHtml5Entities);
  const auto* it = std::lower_bound(std::begin(kHtml5Entities), end, key,
                                    [](const HtmlEntity& e, const std::string& k) { return e.name < k; });
  if (it == end || key != it->name) return std::nullopt;
  return utf8_to_u32(it->value);
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ascii_alnum(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Python's html._replace_charref for a numeric reference.
std::u32string numeric_charref(uint64_t num) {
  for (const auto& inv : kInvalidCharrefs) {
    if (inv.code == num) return utf8_to_u32(inv.value);
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  if (std::binary_search(std::begin(kInvalidCodepoints), std::end(kInvalidCodepoints),
                         static_cast<char32_t>(num))) {
    return {};
  }
  return std::u32string(1, static_cast<char32_t>(num));
}

// One match of Python's html._charref regex at s[i] == '&':
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// Returns the replacement and sets `consumed`, or nullopt when the regex does not match here.
std::optional<std::u32string> charref_at(const std::u32string& s, size_t i, size_t& consumed) {
  const size_t n = s.size();
  size_t j = i + 1;
  if (j < n && s[j] == '#') {
    const bool hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
    size_t k = j + (hex ? 2 : 1);
    const size_t digits_begin = k;
    uint64_t num = 0;
    // Saturate: Python's int() is unbounded, and anything above 0x10FFFF maps to U+FFFD anyway.
    while (k < n && (hex ? is_ascii_hex(s[k]) : is_ascii_digit(s[k]))) {
      const uint64_t d = is_ascii_digit(s[k]) ? s[k] - '0' : (s[k] | 0x20) - 'a' + 10;
      num = std::min<uint64_t>(num * (hex ? 16 : 10) + d, 0x110000);
      ++k;
    }
    if (k == digits_begin) return std::nullopt;  // '#' is not allowed in a name either
    if (k < n && s[k] == ';') ++k;
    consumed = k - i;
    return numeric_charref(num);
  }
  static constexpr std::u32string_view kNotInName = U"\t\n\f <&#;";
  size_t k = j;
  while (k < n && k - j < 32 && kNotInName.find(s[k]) == std::u32string_view::npos) ++k;
  if (k == j) return std::nullopt;
  if (k < n && s[k] == ';') ++k;
  consumed = k - i;
  const std::u32string name = s.substr(j, k - j);
  if (auto v = lookup_entity(name)) return v;
  // The HTML5 rule for legacy names without ';' ("&ampx" -> "&x"): the longest known prefix of 2+ chars.
  for (size_t len = name.size() - 1; len >= 2; --len) {
    if (auto v = lookup_entity(name.substr(0, len))) return *v + name.substr(len);
  }
  return U"&" + name;
}

std::u32string py_html_unescape(const std::u32string& s) {
  if (s.find(U'&') == std::u32string::npos) return s;
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t consumed = 0;
    if (s[i] == '&') {
      if (auto rep = charref_at(s, i, consumed)) {
        out += *rep;
        i += consumed;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return s;
}

// ftfy.chardata.HTML_ENTITIES: every HTML5 name with ';', plus the all-uppercase spelling of a lowercase
// name ("&EACUTE;" -> "É") when that spelling is not itself a reference, mapped to the upper-cased value.
std::optional<std::u32string> ftfy_entity(const std::u32string& name_with_semicolon) {
  if (auto v = lookup_entity(name_with_semicolon)) return v;
  const std::string name = u32_to_utf8(name_with_semicolon);  // ASCII: the caller matched [0-9A-Za-z]+;
  const std::string lower = ascii_case(name, false);
  if (ascii_case(lower, true) != name) return std::nullopt;
  const auto value = lookup_entity(utf8_to_u32(lower));
  if (!value) return std::nullopt;
  const std::u32string upper_ref = U"&" + name_with_semicolon;
  if (py_html_unescape(upper_ref) != upper_ref) return std::nullopt;
  return to_upper(*value);
}

// ftfy.fixes.unescape_html: only complete references matching &#?[0-9A-Za-z]{1,24}; are replaced.
std::u32string ftfy_unescape_html(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (s[i] == '&') {
      const bool hash = i + 1 < n && s[i + 1] == '#';
      const size_t j = i + 1 + (hash ? 1 : 0);
      size_t k = j;
      while (k < n && is_ascii_alnum(s[k])) ++k;
      if (k > j && k - j <= 24 && k < n && s[k] == ';') {
        const std::u32string match = s.substr(i, k + 1 - i);
        std::u32string rep = match;
        if (auto v = ftfy_entity(match.substr(1))) {
          rep = *v;
        } else if (hash) {
          // ftfy keeps the reference when html.unescape would leave the ';' behind.
          const std::u32string un = py_html_unescape(match);
          if (un.find(U';') == std::u32string::npos) rep = un;
        }
        out += rep;
        i = k + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// ftfy.fixes.fix_c1_controls: a C1 control is read as the Windows-1252 byte it most likely was
// ("sloppy": bytes 1252 leaves undefined keep their Latin-1 meaning). Python's html module holds the
// same table for numeric references 0x80..0x9F.
void fix_c1_controls(std::u32string& s) {
  std::u32string out;
  for (char32_t c : s) {
    if (c >= 0x80 && c <= 0x9F) {
      out += numeric_charref(c);  // always in kInvalidCharrefs
    } else {
      out += c;
    }
  }
  s = std::move(out);
}

// ftfy.chardata.LIGATURES: Latin ligatures and legacy digraphs split into their letters. Deliberately
// not all of NFKC (which would also rewrite superscripts, fractions, ...).
void fix_latin_ligatures(std::u32string& s) {
  static constexpr std::pair<char32_t, std::u32string_view> kLigatures[] = {
      {U'Ĳ', U"IJ"}, {U'ĳ', U"ij"}, {U'ŉ', U"ʼn"}, {U'Ǳ', U"DZ"}, {U'ǲ', U"Dz"}, {U'ǳ', U"dz"},
      {U'Ǆ', U"DŽ"}, {U'ǅ', U"Dž"}, {U'ǆ', U"dž"}, {U'Ǉ', U"LJ"}, {U'ǈ', U"Lj"}, {U'ǉ', U"lj"},
      {U'Ǌ', U"NJ"}, {U'ǋ', U"Nj"}, {U'ǌ', U"nj"}, {U'ﬀ', U"ff"}, {U'ﬁ', U"fi"}, {U'ﬂ', U"fl"},
      {U'ﬃ', U"ffi"}, {U'ﬄ', U"ffl"}, {U'ﬅ', U"ſt"}, {U'ﬆ', U"st"},
  };
  std::u32string out;
  for (char32_t c : s) {
    const auto* it = std::find_if(std::begin(kLigatures), std::end(kLigatures),
                                  [c](const auto& l) { return l.first == c; });
    if (it != std::end(kLigatures)) {
      out += it->second;
    } else {
      out += c;
    }
  }
  s = std::move(out);
}

// ftfy.chardata.WIDTH_MAP: U+3000 ideographic space -> ' ', and every character of the Halfwidth and
// Fullwidth Forms block (U+FF01..U+FFEF) whose NFKC form differs -> that form ("Ａ" -> "A", "ｶ" -> "カ").
void fix_character_width(std::u32string& s) {
  static const std::array<std::u32string, 0xFFF0 - 0xFF01> kWidth = [] {
    std::array<std::u32string, 0xFFF0 - 0xFF01> map;
    for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
      std::u32string nfkc = normalize(std::u32string(1, c), Normalization::NFKC);
      if (nfkc != std::u32string(1, c)) map[c - 0xFF01] = std::move(nfkc);
    }
    return map;
  }();
  std::u32string out;
  for (char32_t c : s) {
    if (c == 0x3000) {
      out += U' ';
    } else if (c >= 0xFF01 && c < 0xFFF0 && !kWidth[c - 0xFF01].empty()) {
      out += kWidth[c - 0xFF01];
    } else {
      out += c;
    }
  }
  s = std::move(out);
}

// ftfy.fixes.uncurl_quotes: [U+02BC U+2018-U+201B] -> ', [U+201C-U+201F] -> ".
void uncurl_quotes(std::u32string& s) {
  for (char32_t& c : s) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';
    if (c >= 0x201C && c <= 0x201F) c = U'"';
  }
}

// ftfy.fixes.fix_line_breaks: CRLF, CR, U+2028, U+2029 and U+0085 -> LF.
void fix_line_breaks(std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == U'\r' && i + 1 < s.size() && s[i + 1] == U'\n') continue;  // the LF follows
    out += (c == U'\r' || c == 0x2028 || c == 0x2029 || c == 0x85) ? U'\n' : c;
  }
  s = std::move(out);
}

// ftfy.fixes.remove_terminal_escapes: ANSI sequences \x1b[ (\d|;)* [a-zA-Z]  (\d is any decimal digit).
void remove_terminal_escapes(std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == U'[') {
      size_t k = i + 2;
      while (k < s.size() && (s[k] == U';' || u_charType(static_cast<UChar32>(s[k])) == U_DECIMAL_DIGIT_NUMBER)) {
        ++k;
      }
      if (k < s.size() && ((s[k] | 0x20) >= U'a' && (s[k] | 0x20) <= U'z')) {
        i = k + 1;
        continue;
      }
    }
    out += s[i++];
  }
  s = std::move(out);
}

// ftfy.chardata.CONTROL_CHARS: C0 controls other than \t \n \f \r, DEL, deprecated Arabic format
// characters, the BOM and interlinear annotation / object replacement characters are removed.
void remove_control_chars(std::u32string& s) {
  std::erase_if(s, [](char32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
  });
}

// ftfy.fix_and_explain for one segment: the fixers in ftfy's order until a fixed point.
std::u32string fix_segment(std::u32string text, bool unescape_html) {
  while (true) {
    const std::u32string orig = text;
    if (unescape_html) text = ftfy_unescape_html(text);
    fix_c1_controls(text);
    fix_latin_ligatures(text);
    fix_character_width(text);
    uncurl_quotes(text);
    fix_line_breaks(text);
    remove_terminal_escapes(text);
    remove_control_chars(text);
    text = normalize(text, Normalization::NFC);
    if (text == orig) return text;
  }
}

std::u32string py_strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_python_space(s[b])) ++b;
  while (e > b && is_python_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// re.sub(r"\s+", " ", text).strip()
std::u32string whitespace_clean(const std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    if (is_python_space(s[i])) {
      while (i < s.size() && is_python_space(s[i])) ++i;
      out += U' ';
    } else {
      out += s[i++];
    }
  }
  return py_strip(out);
}

std::u32string fix_text_u32(const std::u32string& text) {
  // ftfy.fix_text: segments end after each '\n' (at most max_decode_length = 1e6 code points); html
  // unescaping ("auto") stays off from the first segment that contains '<' to the end of the text.
  constexpr size_t kMaxDecodeLength = 1000000;
  std::u32string out;
  bool unescape = true;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = text.find(U'\n', pos);
    size_t end = nl == std::u32string::npos ? text.size() : nl + 1;
    end = std::min(end, pos + kMaxDecodeLength);
    const std::u32string segment = text.substr(pos, end - pos);
    if (segment.find(U'<') != std::u32string::npos) unescape = false;
    out += fix_segment(segment, unescape);
    pos = end;
  }
  return out;
}

}  // namespace

bool is_python_space(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  const UCharDirection dir = u_charDirection(cp);
  return u_charType(cp) == U_SPACE_SEPARATOR || dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR ||
         dir == U_SEGMENT_SEPARATOR;
}

std::string fix_text(std::string_view utf8) { return u32_to_utf8(fix_text_u32(utf8_to_u32(utf8))); }

std::string html_unescape(std::string_view utf8) { return u32_to_utf8(py_html_unescape(utf8_to_u32(utf8))); }

std::string clean_prompt(std::string_view utf8, CleanMode mode) {
  std::u32string t = fix_text_u32(utf8_to_u32(utf8));
  if (mode != CleanMode::HfSlow) t = py_strip(py_html_unescape(py_html_unescape(t)));
  t = whitespace_clean(t);
  return u32_to_utf8(mode == CleanMode::KeepCase ? t : to_lower(t));
}

}  // namespace lattice::clip
