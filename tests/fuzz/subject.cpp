// Fuzz target: subject validation and wildcard matching (channel/subject.hpp) against a
// reference written from the NATS rules (nats.docs nats-concepts/subjects.md), plus UTF-8:
// nats-server rejects subjects that are not valid UTF-8 (issue 9 item 1).
#include <bulwark/channel/subject.hpp>

#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr const char* target = "subject";

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t dot = s.find('.', start);
        out.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos)
            return out;
        start = dot + 1;
    }
}

/// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as Go's
/// utf8.ValidString that nats-server uses.
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > s.size())
            return false;
        for (std::size_t k = 1; k < n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

enum class ref { ok, bad_utf8, bad };

/// The reference validity, rule by rule, in the simplest form (tokens first).
ref reference_check(std::string_view s, bool publish, bool allow_reserved) {
    if (s.empty() || (!allow_reserved && s.front() == '$'))
        return ref::bad;
    const auto toks = split(s);
    for (std::size_t i = 0; i < toks.size(); ++i) {
        const auto t = toks[i];
        if (t.empty())
            return ref::bad;
        for (char c : t)
            if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
                c == '\v')
                return ref::bad;
        const bool wild = t == "*" || t == ">";
        if (!wild &&
            (t.find('*') != std::string_view::npos || t.find('>') != std::string_view::npos))
            return ref::bad;
        if (wild && publish)
            return ref::bad;
        if (t == ">" && i + 1 != toks.size())
            return ref::bad;
    }
    return valid_utf8(s) ? ref::ok : ref::bad_utf8;
}

/// The reference matcher: token lists, recursively.
bool reference_match(const std::vector<std::string_view>& p, std::size_t i,
                     const std::vector<std::string_view>& s, std::size_t j) {
    if (i == p.size())
        return j == s.size();
    if (p[i] == ">")
        return j < s.size(); // one or more tokens left
    if (j == s.size())
        return false;
    if (p[i] != "*" && p[i] != s[j])
        return false;
    return reference_match(p, i + 1, s, j + 1);
}

void check_one(std::string_view s, bool publish, bool allow_reserved) {
    using namespace bulwark;
    const auto use = publish ? subject_use::publish : subject_use::subscribe;
    const auto reserved = allow_reserved ? reserved_subjects::allow : reserved_subjects::reject;
    const subject_problem got = check_subject(s, use, reserved);
    if (!s.empty())
        FUZZ_CHECK(target, subject_token_count(s) == split(s).size(), fuzz::show(s));
    const ref want = reference_check(s, publish, allow_reserved);
    const std::string where = fuzz::show(s) + (publish ? " publish" : " subscribe") +
                              (allow_reserved ? " reserved-allowed" : "");
    if (want == ref::bad_utf8 && got == subject_problem::ok) {
        fuzz::known_defect(target, "subject_utf8", where + " is not valid UTF-8 but accepted");
        return;
    }
    FUZZ_CHECK(target, (got == subject_problem::ok) == (want == ref::ok),
               where + " implementation says '" + std::string(describe(got)) + "'");
    FUZZ_CHECK(target, !describe(got).empty(), where);
    if (publish || !allow_reserved) // once per input is enough: a throw is slow under ASan
        return;
    bool threw = false;
    try {
        validate_subject(s, use, reserved);
    } catch (const invalid_subject_error& e) {
        threw = true;
        FUZZ_CHECK(target, e.problem() == got, where);
    }
    FUZZ_CHECK(target, threw == (got != subject_problem::ok), where);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const std::string pattern = in.ConsumeRandomLengthString(256);
    const std::string subject = in.ConsumeRemainingBytesAsString();

    for (const auto& s : {pattern, subject})
        for (bool publish : {true, false})
            for (bool allow : {true, false})
                check_one(s, publish, allow);

    const bool pattern_ok = reference_check(pattern, false, true) == ref::ok;
    const bool subject_ok = reference_check(subject, true, true) == ref::ok;
    const bool got = bulwark::subject_matches(pattern, subject);
    if (!pattern_ok || !subject_ok) {
        if (got && (reference_check(pattern, false, true) == ref::bad_utf8 ||
                    reference_check(subject, true, true) == ref::bad_utf8)) {
            fuzz::known_defect(target, "subject_utf8",
                               "matches() accepted invalid UTF-8: " + fuzz::show(pattern) + " " +
                                   fuzz::show(subject));
            return 0;
        }
        FUZZ_CHECK(target, !got,
                   "an invalid pattern or subject matched: " + fuzz::show(pattern) + " " +
                       fuzz::show(subject));
        return 0;
    }
    const bool want = reference_match(split(pattern), 0, split(subject), 0);
    FUZZ_CHECK(target, got == want,
               fuzz::show(pattern) + " vs " + fuzz::show(subject) + " reference says " +
                   (want ? "match" : "no match"));
    // A subject always matches itself and the full wildcard matches every subject.
    FUZZ_CHECK(target, bulwark::subject_matches(subject, subject), fuzz::show(subject));
    FUZZ_CHECK(target, bulwark::subject_matches(">", subject), fuzz::show(subject));
    return 0;
}
