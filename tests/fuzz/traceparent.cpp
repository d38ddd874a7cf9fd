// Fuzz target: W3C Trace Context `traceparent` (channel/envelope.hpp) against a reference
// parser written from the spec (w3.org/TR/trace-context, §3.2 and §4.3): lower-case hex only;
// version ff invalid; version 00 is exactly 55 characters; a higher version is parsed
// forward-compatibly (its first 55 characters, then nothing or '-' and more); all-zero trace-id
// or parent-id invalid. Plus the round trips parse(text(tp)) == tp and text(parse(s)) == s.
#include <bulwark/channel/envelope.hpp>

#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <optional>
#include <string>

namespace {

constexpr const char* target = "traceparent";

bool lower_hex(std::string_view s, bool fold_case = false) {
    for (char c : s) {
        const bool digit = c >= '0' && c <= '9', lower = c >= 'a' && c <= 'f';
        const bool upper = c >= 'A' && c <= 'F';
        if (!digit && !lower && !(fold_case && upper))
            return false;
    }
    return true;
}
std::uint64_t hex(std::string_view s) {
    std::uint64_t v = 0;
    for (char c : s)
        v = (v << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    return v;
}

struct parsed {
    std::uint64_t trace_hi = 0, trace_lo = 0, parent = 0;
    std::uint8_t flags = 0;
};

/// The reference parser; `fold_case` and `lax_v00` give the lenient variants used to tell the
/// known defects from new ones.
std::optional<parsed> reference(std::string_view s, bool fold_case = false, bool lax_v00 = false) {
    if (s.size() < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return std::nullopt;
    const auto version = s.substr(0, 2), trace = s.substr(3, 32), parent = s.substr(36, 16),
               flags = s.substr(53, 2);
    if (!lower_hex(version, fold_case) || !lower_hex(trace, fold_case) ||
        !lower_hex(parent, fold_case) || !lower_hex(flags, fold_case))
        return std::nullopt;
    if (version == "ff" || version == "FF" || version == "fF" || version == "Ff")
        return std::nullopt;
    if (version == "00") {
        if (s.size() != 55 && !(lax_v00 && s[55] == '-'))
            return std::nullopt;
    } else if (s.size() > 55 && s[55] != '-') {
        return std::nullopt;
    }
    parsed p{hex(trace.substr(0, 16)), hex(trace.substr(16)), hex(parent),
             static_cast<std::uint8_t>(hex(flags))};
    if ((p.trace_hi == 0 && p.trace_lo == 0) || p.parent == 0)
        return std::nullopt;
    return p;
}

void check(std::string_view s) {
    const auto got = bulwark::traceparent::parse(s);
    const auto want = reference(s);
    const std::string where = fuzz::show(s);
    if (got.valid() && !want) {
        if (reference(s, true, false))
            return fuzz::known_defect(target, "traceparent_uppercase",
                                      where + " has upper-case hex but was accepted");
        if (reference(s, false, true) || reference(s, true, true))
            return fuzz::known_defect(target, "traceparent_v00_length",
                                      where + " is version 00 with extra characters but was "
                                              "accepted");
        fuzz::fail(target, where + " is invalid but was accepted");
    }
    if (!got.valid() && want) {
        if (s.substr(0, 2) != "00")
            return fuzz::known_defect(target, "traceparent_forward_compat",
                                      where + " (a higher version) was rejected");
        fuzz::fail(target, where + " is valid but was rejected");
    }
    if (!want) {
        FUZZ_CHECK(target, got == bulwark::traceparent{},
                   where + ": an invalid header parses to nil");
        return;
    }
    FUZZ_CHECK(target,
               got.trace_id.hi == want->trace_hi && got.trace_id.lo == want->trace_lo &&
                   got.parent_id == want->parent && got.flags == want->flags,
               where + " parsed to " + got.to_string());
    // Formatting writes version 00 with the same fields.
    const std::string text = got.to_string();
    const std::string expected = "00" + std::string(s.substr(2, 53));
    FUZZ_CHECK(target, text == expected, where + " formats as " + text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    FuzzedDataProvider in(data + 1, size - 1);
    if (data[0] & 1) { // raw header text
        check(in.ConsumeRemainingBytesAsString());
        return 0;
    }
    // Structured: a traceparent from fields, formatted, checked, then mutated.
    bulwark::traceparent tp;
    tp.trace_id.hi = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    tp.trace_id.lo = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    tp.parent_id = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint64_t>();
    tp.flags = in.ConsumeIntegral<std::uint8_t>();
    const std::string text = tp.to_string();
    FUZZ_CHECK(target, text.size() == 55 && lower_hex(text.substr(3, 32)) && text[2] == '-',
               fuzz::show(text));
    const auto back = bulwark::traceparent::parse(text);
    if (tp.valid())
        FUZZ_CHECK(target, back == tp, fuzz::show(text) + " did not round-trip");
    else
        FUZZ_CHECK(target, !back.valid(), fuzz::show(text) + " (an all-zero id) was accepted");
    check(text);
    std::string mutated = text;
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0: { // a version: 00..ff
        const auto v = in.ConsumeIntegral<std::uint8_t>();
        mutated[0] = bulwark::detail::hex_digits[v >> 4];
        mutated[1] = bulwark::detail::hex_digits[v & 0xf];
        break;
    }
    case 1: { // upper-case one character
        const auto at = in.ConsumeIntegralInRange<std::size_t>(0, 54);
        if (mutated[at] >= 'a' && mutated[at] <= 'f')
            mutated[at] = static_cast<char>(mutated[at] - 'a' + 'A');
        break;
    }
    case 2: // extra fields after a version-00 or higher-version header
        mutated += in.ConsumeRandomLengthString(16);
        if (in.ConsumeBool())
            mutated[0] = '0', mutated[1] = 'c';
        break;
    case 3: // truncate
        mutated.resize(in.ConsumeIntegralInRange<std::size_t>(0, 55));
        break;
    case 4: { // overwrite one byte
        const auto at = in.ConsumeIntegralInRange<std::size_t>(0, 54);
        mutated[at] = static_cast<char>(in.ConsumeIntegral<std::uint8_t>());
        break;
    }
    }
    check(mutated);
    return 0;
}
