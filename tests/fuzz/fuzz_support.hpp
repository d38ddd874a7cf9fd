#pragma once
// Shared by the libFuzzer targets of tests/fuzz: how a target reports a model disagreement, and
// how it tells a defect already filed (issue 9, item 1) from a new one.
//
// A disagreement aborts (libFuzzer saves the input as crash-<sha1> and scripts/fuzz fails).
// Known item-1 defects abort too, unless BULWARK_FUZZ_TOLERATE_KNOWN=1: then each is counted,
// reported once on stderr and the input is abandoned, so the rest of the target keeps fuzzing
// before the fixes are merged (scripts/fuzz --tolerate-known).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace fuzz {

/// Prints what disagreed and aborts: libFuzzer keeps the input.
[[noreturn]] inline void fail(const char* target, const std::string& what) {
    std::fprintf(stderr, "\nbulwark fuzz [%s]: MODEL DISAGREEMENT: %s\n", target, what.c_str());
    std::abort();
}

inline bool tolerate_known() {
    static const bool on = [] {
        const char* v = std::getenv("BULWARK_FUZZ_TOLERATE_KNOWN");
        return v != nullptr && std::strcmp(v, "0") != 0 && *v != '\0';
    }();
    return on;
}

/// A disagreement that matches a defect filed in issue 9 item 1 (`name`). Aborts like `fail`,
/// or, when tolerated, reports the first hit of each name and returns (the caller then drops
/// the input).
inline void known_defect(const char* target, const char* name, const std::string& what) {
    if (!tolerate_known()) {
        std::fprintf(stderr, "\nbulwark fuzz [%s]: KNOWN DEFECT %s (issue 9 item 1): %s\n", target,
                     name, what.c_str());
        std::abort();
    }
    static std::string seen;
    const std::string key = std::string("|") + name + "|";
    if (seen.find(key) == std::string::npos) {
        seen += key;
        std::fprintf(stderr, "bulwark fuzz [%s]: known defect %s hit (tolerated): %s\n", target,
                     name, what.c_str());
    }
}

/// Printable form of arbitrary bytes for messages.
inline std::string show(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        }
    }
    return out + "\"";
}

} // namespace fuzz

#define FUZZ_CHECK(target, cond, what)                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ::fuzz::fail(target, std::string(#cond) + ": " + (what));                              \
    } while (false)
