#pragma once
/// \file
/// `parse_retry_after`: the `Retry-After` header (RFC 9110 §10.2.3) as a delay — delay-seconds,
/// or an HTTP-date in any of the three forms a recipient must accept (§5.6.7): IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`).

#include <bulwark/core/time.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bulwark {

namespace detail {

constexpr bool http_digits(std::string_view s, std::size_t at, std::size_t n, int& out) noexcept {
    if (at + n > s.size())
        return false;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

constexpr int http_month(std::string_view m) noexcept {
    constexpr std::string_view names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i)
        if (m == names[i])
            return i + 1;
    return 0;
}

/// "08:49:37" at `at`.
constexpr bool http_clock(std::string_view s, std::size_t at, int& h, int& m, int& sec) noexcept {
    return at + 8 <= s.size() && http_digits(s, at, 2, h) && s[at + 2] == ':' &&
           http_digits(s, at + 3, 2, m) && s[at + 5] == ':' && http_digits(s, at + 6, 2, sec) &&
           h < 24 && m < 60 && sec < 61;
}

} // namespace detail

/// Parses an HTTP-date into a system-clock time (seconds), or nothing when malformed.
inline std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view s) noexcept {
    using namespace std::chrono;
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    const std::size_t comma = s.find(',');
    if (comma != std::string_view::npos) {
        std::string_view rest = s.substr(comma + 1);
        if (rest.empty() || rest[0] != ' ')
            return std::nullopt;
        rest.remove_prefix(1);
        if (rest.size() >= 24 && rest[2] == ' ') { // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
            if (!detail::http_digits(rest, 0, 2, day) ||
                (month = detail::http_month(rest.substr(3, 3))) == 0 || rest[6] != ' ' ||
                !detail::http_digits(rest, 7, 4, year) || rest[11] != ' ' ||
                !detail::http_clock(rest, 12, h, m, sec) || rest.substr(20) != " GMT")
                return std::nullopt;
        } else if (rest.size() >= 22 && rest[2] == '-') { // RFC 850: "06-Nov-94 08:49:37 GMT"
            if (!detail::http_digits(rest, 0, 2, day) ||
                (month = detail::http_month(rest.substr(3, 3))) == 0 || rest[6] != '-' ||
                !detail::http_digits(rest, 7, 2, year) || rest[9] != ' ' ||
                !detail::http_clock(rest, 10, h, m, sec) || rest.substr(18) != " GMT")
                return std::nullopt;
            // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past.
            year += year < 70 ? 2000 : 1900;
        } else {
            return std::nullopt;
        }
    } else if (s.size() == 24 && s[3] == ' ' &&
               s[7] == ' ') { // asctime: "Sun Nov  6 08:49:37 1994"
        month = detail::http_month(s.substr(4, 3));
        const std::string_view d = s.substr(8, 2);
        if (d[0] == ' ') {
            if (!detail::http_digits(d, 1, 1, day))
                return std::nullopt;
        } else if (!detail::http_digits(d, 0, 2, day)) {
            return std::nullopt;
        }
        if (month == 0 || s[10] != ' ' || !detail::http_clock(s, 11, h, m, sec) || s[19] != ' ' ||
            !detail::http_digits(s, 20, 4, year))
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    const year_month_day ymd{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                             std::chrono::day{unsigned(day)}};
    if (!ymd.ok())
        return std::nullopt;
    return sys_days{ymd} + hours{h} + minutes{m} + seconds{sec};
}

/// The delay a `Retry-After` value asks for, seen at `now` (system clock): delay-seconds as is,
/// an HTTP-date minus `now`; clamped to `max`. Nothing when the value is malformed or the date
/// has passed (then the retry's own backoff applies, as Envoy falls back to its back-off).
///
/// **Failure semantics:** never throws; huge delay-seconds saturate at `max` (no overflow).
inline std::optional<duration> parse_retry_after(
    std::string_view value, duration max,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) noexcept {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
    if (value.empty())
        return std::nullopt;
    if (value.front() >= '0' && value.front() <= '9') {
        const auto max_s = std::chrono::duration_cast<std::chrono::seconds>(max).count();
        std::int64_t secs = 0;
        for (char c : value) {
            if (c < '0' || c > '9')
                return std::nullopt;
            if (secs <= max_s) // stop growing once past the clamp: no overflow
                secs = secs * 10 + (c - '0');
        }
        const duration d = std::chrono::seconds{secs};
        return d < max ? d : max;
    }
    const auto date = parse_http_date(value);
    if (!date)
        return std::nullopt;
    const auto delta = *date - std::chrono::time_point_cast<std::chrono::seconds>(now);
    if (delta <= std::chrono::seconds::zero())
        return std::nullopt;
    const duration d = std::chrono::duration_cast<duration>(delta);
    return d < max ? d : max;
}

} // namespace bulwark
