// CLIP prompt cleaning. Expected strings are what Python 3.11's html.unescape and ftfy 6.3.1's fix_text
// return for the same input (computed once with those libraries; written out here).
#include "nodes/models/clip/text_clean.h"

#include <gtest/gtest.h>

namespace lattice::clip {
namespace {

TEST(ClipTextClean, HtmlUnescapeFollowsPython) {
  // longest-prefix legacy names, numeric references, HTML5 remapping of invalid code points
  EXPECT_EQ(html_unescape("&amp; &ampx &notit; &#x41;&#65;&#128;&#0;&#xD800;&#1114112;&#1;"),
            "& &x \u00acit; AA\u20ac\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(html_unescape("&#|&unknown;|&lt;&lt|&#x;|&#99999999999999999999;"), "&#|&unknown;|<<|&#x;|\uFFFD");
  EXPECT_EQ(html_unescape("no entities"), "no entities");
}

TEST(ClipTextClean, FixTextUnescapesOnlyCompleteEntities) {
  // ftfy also decodes upper-cased lowercase names, keeps "&#59;" (it would leave a ';' behind) and needs ';'.
  EXPECT_EQ(fix_text("&EACUTE; &SZLIG; &AMP; &Amp; &#59; &#x41; &#128; &amp &NotAnEntity;"),
            "\u00c9 SS & &Amp; &#59; A \u20ac &amp &NotAnEntity;");
  // repeated until nothing changes
  EXPECT_EQ(fix_text("&amp;amp;lt;"), "<");
}

TEST(ClipTextClean, FixTextStopsUnescapingFromTheFirstLineWithATag) {
  EXPECT_EQ(fix_text("a &amp; b\n<c> &amp; d\n&amp;"), "a & b\n<c> &amp; d\n&amp;");
}

TEST(ClipTextClean, FixTextCharacterFixes) {
  EXPECT_EQ(fix_text("ﬁ ﬀ Ĳ ǆ ＦＵＬＬ　ｶﾞ ￠ ＄"), "fi ff IJ dž FULL ガ ¢ $");  // ligatures, width (+ NFC)
  EXPECT_EQ(fix_text("x\u0085y\u0080z\u0081"), "x\u2026y\u20acz\u0081");      // C1 controls as Windows-1252
  EXPECT_EQ(fix_text("l1\r\nl2\rl3\u2028l4"), "l1\nl2\nl3\nl4");
  EXPECT_EQ(fix_text("\x1b[31;1mred\x1b[0m \x1b[9"), "red [9");
  EXPECT_EQ(fix_text(std::string("a\0b\x07" "c\x0b" "d\x0c" "e\x7f" "f\ufeffg\u206ah\ufffci\u200bj", 27)),
            "abcd\x0c" "efghi\u200bj");
  EXPECT_EQ(fix_text("e\u0301 \u212b"), "\u00e9 \u00c5");  // NFC
  EXPECT_EQ(fix_text("\u02bcx\u2018y\u201bz\u201c\u201f"), "'x'y'z\"\"");
}

TEST(ClipTextClean, CleanPromptMatchesReference) {
  EXPECT_EQ(clean_prompt("ΟΔΟΣ ΟΔΟΣ."), "οδος οδος.");  // final sigma, as Python's str.lower()
  EXPECT_EQ(clean_prompt("İstanbul"), "i\u0307stanbul");
  EXPECT_EQ(clean_prompt("  a\u3000b\u2003c\x1c" "d\u00a0e\u200b" "f  "), "a b cd e\u200b" "f");
  EXPECT_EQ(clean_prompt("ǅ"), "dž");
  EXPECT_EQ(clean_prompt("ﬅ"), "ſt");
  // With a literal '<' ftfy leaves entities alone; only OpenAI's own html.unescape decodes them.
  EXPECT_EQ(clean_prompt("<b> &amp;lt;", CleanMode::OpenAI), "<b> <");
  EXPECT_EQ(clean_prompt("<b> &amp;lt;", CleanMode::HfSlow), "<b> &amp;lt;");
  EXPECT_EQ(clean_prompt(""), "");
  EXPECT_EQ(clean_prompt("\xff\xfe bad utf-8"), "\uFFFD\uFFFD bad utf-8");
}

// The one documented divergence from ftfy (text_clean.h): mojibake is not repaired. ftfy's fix_encoding
// would turn "cafÃ©" (UTF-8 read as Windows-1252) into "café"; here it is tokenized as written.
TEST(ClipTextClean, MojibakeIsKeptAsWritten) {
  EXPECT_EQ(fix_text("cafÃ©"), "cafÃ©");
  EXPECT_EQ(clean_prompt("cafÃ©"), "cafã©");
}

TEST(ClipTextClean, PythonWhitespace) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\x0b', U'\x0c', U'\r', U'\x1c', U'\x1f', U'\x85', U'\xa0', U'\u1680',
                     U'\u2000', U'\u200a', U'\u2028', U'\u2029', U'\u202f', U'\u205f', U'\u3000'}) {
    EXPECT_TRUE(is_python_space(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'a', U'\u200b', U'\ufeff', U'\x00', U'_'}) EXPECT_FALSE(is_python_space(c));
}

TEST(ClipTextClean, KeepCaseIsWanPipelinesPromptClean) {
  // ftfy + html.unescape twice + whitespace collapsed and stripped, case kept (UMT5 is cased).
  EXPECT_EQ(clean_prompt("  A Fox &amp;amp; the\u3000 Snow\n", CleanMode::KeepCase), "A Fox & the Snow");
  EXPECT_EQ(clean_prompt("  A Fox &amp;amp; the\u3000 Snow\n", CleanMode::OpenAI), "a fox & the snow");
}

}  // namespace
}  // namespace lattice::clip
