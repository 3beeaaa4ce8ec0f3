#pragma once
/// Prompt cleaning for the CLIP tokenizer, ported from the Python that every CLIP-L tokenizer runs:
/// OpenAI's `clip/simple_tokenizer.py` (basic_clean + whitespace_clean + lower), which calls
/// `ftfy.fix_text` (ftfy 6.3.1) and `html.unescape`. Pure functions on UTF-8 text, safe from any thread.
/// Unicode data (NFC/NFKC, lower/upper case, character classes) comes from ICU.
///
/// What of ftfy.fix_text is implemented, in ftfy's own order and repeated until nothing changes, per
/// line segment exactly as `fix_text` splits the text:
///   unescape_html ("auto": off from the first line segment containing '<' onwards), fix_c1_controls,
///   fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks, remove_terminal_escapes,
///   remove_control_chars, NFC.
/// Not implemented: fix_encoding and its helpers (restore_byte_a0, replace_lossy_sequences,
/// decode_inconsistent_utf8), i.e. mojibake repair such as "cafÃ©" -> "café". That is a statistical
/// detector over ftfy's character-class tables, not a fixed rule; prompts typed by a person rarely contain
/// mojibake, and text that does will tokenize as written. fix_surrogates has nothing to do on UTF-8 input:
/// invalid UTF-8 is decoded with U+FFFD replacements before any of the above.
/// Checked against ftfy 6.3.1 (fix_encoding=False) + html on 9,000 random strings mixing the characters each
/// fixer targets, and against the reference's 44 golden prompts (tests/nodes/models/clip/).

#include <string>
#include <string_view>

namespace lattice::clip {

/// The ftfy.fix_text subset described above.
std::string fix_text(std::string_view utf8);

/// Python's `html.unescape`: named references (HTML5 table, longest-prefix match for names without ';'),
/// decimal and hex references with the HTML5 parser's remapping of invalid code points.
std::string html_unescape(std::string_view utf8);

/// Python's `str.isspace()` for one code point (bidi class WS, B or S, or category Zs): what `\s`,
/// `str.strip()` and `str.split()` treat as whitespace.
bool is_python_space(char32_t c);

enum class CleanMode {
  OpenAI,  ///< openai/CLIP SimpleTokenizer: fix_text, html.unescape twice, strip, collapse \s+, lower
  HfSlow,  ///< transformers' slow CLIPTokenizer: the same without html.unescape (ftfy's own still runs)
  KeepCase,  ///< WanPipeline's prompt_clean (UMT5 prompts): OpenAI's cleaning without lowercasing
};

/// The whole cleaning a CLIP tokenizer applies before pre-tokenization.
std::string clean_prompt(std::string_view utf8, CleanMode mode = CleanMode::OpenAI);

}  // namespace lattice::clip
