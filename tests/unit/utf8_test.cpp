#include "utf8.h"

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

TEST(Utf8Test, KeepsValidTextAndReplacesEverythingElse) {
    EXPECT_EQ(sanitizeUtf8("plain ascii"), "plain ascii");
    EXPECT_EQ(sanitizeUtf8("gr\xC3\xBC\xC3\x9F"
                           "e \xE2\x9C\x93 \xF0\x9F\x90\xA7"),
              "gr\xC3\xBC\xC3\x9F"
              "e \xE2\x9C\x93 \xF0\x9F\x90\xA7");
    EXPECT_EQ(sanitizeUtf8("bad \xFF byte"), "bad \xEF\xBF\xBD byte");
    EXPECT_EQ(sanitizeUtf8("cut \xE2\x9C"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");  // a line cut mid-character
    EXPECT_EQ(sanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong '/'
    EXPECT_EQ(sanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
    EXPECT_EQ(sanitizeUtf8(std::string("nul\0in", 6)), "nul\xEF\xBF\xBDin");
}

}  // namespace
}  // namespace nixos_containers
