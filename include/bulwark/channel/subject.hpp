#pragma once
/// \file
/// Subjects with NATS rules: a parser (validation with a reason) and a wildcard matcher, as pure
/// `constexpr` functions over `std::string_view` that never allocate — shared by the in-process
/// bus (compile-time checks of topic subjects), the NATS transport and the subject fuzzer.
///
/// Rules (nats.docs `nats-concepts/subjects.md`): tokens are separated by `.` and are
/// case-sensitive; a token is never empty and holds no null, whitespace, `.`, `*` or `>`; `*` is a
/// whole token matching exactly one token; `>` is a whole *last* token matching one or more
/// tokens (`foo.>` does not match `foo`); publishers never use wildcards; the `$` prefix
/// (`$SYS`, `$JS`, `$KV`) is reserved for the system.

#include <bulwark/core/error.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace bulwark {

/// What a subject is used for: publishing (no wildcards) or subscribing (wildcards allowed).
enum class subject_use { publish, subscribe };

/// The enumerator's name ("publish", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(subject_use v) noexcept {
    switch (v) {
    case subject_use::publish:
        return "publish";
    case subject_use::subscribe:
        return "subscribe";
    }
    return "unknown";
}

/// Whether `$`-prefixed (system) subjects are accepted.
enum class reserved_subjects { reject, allow };

/// The enumerator's name ("reject", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(reserved_subjects v) noexcept {
    switch (v) {
    case reserved_subjects::reject:
        return "reject";
    case reserved_subjects::allow:
        return "allow";
    }
    return "unknown";
}

/// Why a subject is invalid (`ok` when it is valid).
enum class subject_problem {
    ok,
    empty,                  ///< the subject is empty
    empty_token,            ///< `a..b`, a leading or a trailing `.`
    invalid_character,      ///< null or whitespace in a token
    partial_wildcard,       ///< `*` or `>` inside a token (`a*`, `>b`)
    full_wildcard_not_last, ///< `>` followed by more tokens
    wildcard_on_publish,    ///< a wildcard in a subject used for publishing
    reserved,               ///< a `$`-prefixed subject where system subjects are not allowed
    invalid_utf8,           ///< the bytes are not well-formed UTF-8 (NATS rejects them)
};

/// The enumerator's name ("ok", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(subject_problem v) noexcept {
    switch (v) {
    case subject_problem::ok:
        return "ok";
    case subject_problem::empty:
        return "empty";
    case subject_problem::empty_token:
        return "empty_token";
    case subject_problem::invalid_character:
        return "invalid_character";
    case subject_problem::partial_wildcard:
        return "partial_wildcard";
    case subject_problem::full_wildcard_not_last:
        return "full_wildcard_not_last";
    case subject_problem::wildcard_on_publish:
        return "wildcard_on_publish";
    case subject_problem::reserved:
        return "reserved";
    case subject_problem::invalid_utf8:
        return "invalid_utf8";
    }
    return "unknown";
}

/// A readable reason for `p`, for error messages.
constexpr std::string_view describe(subject_problem p) noexcept {
    switch (p) {
    case subject_problem::ok:
        return "valid";
    case subject_problem::empty:
        return "the subject is empty";
    case subject_problem::empty_token:
        return "a token is empty (leading, trailing or double '.')";
    case subject_problem::invalid_character:
        return "a token contains null or whitespace";
    case subject_problem::partial_wildcard:
        return "'*' and '>' must be whole tokens ('orders.*', not 'orders*')";
    case subject_problem::full_wildcard_not_last:
        return "'>' may only be the last token";
    case subject_problem::wildcard_on_publish:
        return "wildcards are not allowed when publishing";
    case subject_problem::reserved:
        return "subjects starting with '$' are reserved for the system";
    case subject_problem::invalid_utf8:
        return "the subject is not valid UTF-8";
    }
    return "invalid subject";
}

namespace detail {
/// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
/// above U+10FFFF). ASCII-only text takes one comparison per byte.
constexpr bool is_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80, hi = 0xbf; // the range of the second byte
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            if (b == 0xe0)
                lo = 0xa0; // overlong
            else if (b == 0xed)
                hi = 0x9f; // surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            if (b == 0xf0)
                lo = 0x90; // overlong
            else if (b == 0xf4)
                hi = 0x8f; // above U+10FFFF
        } else {
            return false; // a continuation byte first, 0xc0/0xc1, or 0xf5..0xff
        }
        if (n - i < len)
            return false;
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        if (b1 < lo || b1 > hi)
            return false;
        for (std::size_t k = 2; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if (c < 0x80 || c > 0xbf)
                return false;
        }
        i += len;
    }
    return true;
}
} // namespace detail

/// Checks `s` against the NATS subject rules for `use`.
///
/// **Complexity:** O(|s|), one pass. **Allocation:** none.
constexpr subject_problem
check_subject(std::string_view s, subject_use use,
              reserved_subjects reserved = reserved_subjects::reject) noexcept {
    if (s.empty())
        return subject_problem::empty;
    if (reserved == reserved_subjects::reject && s.front() == '$')
        return subject_problem::reserved;
    if (!detail::is_utf8(s))
        return subject_problem::invalid_utf8;
    std::size_t start = 0;
    bool after_full_wildcard = false;
    for (;;) {
        std::size_t end = s.find('.', start);
        if (end == std::string_view::npos)
            end = s.size();
        std::string_view tok = s.substr(start, end - start);
        if (tok.empty())
            return subject_problem::empty_token;
        if (after_full_wildcard)
            return subject_problem::full_wildcard_not_last;
        for (char c : tok) {
            if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
                c == '\v')
                return subject_problem::invalid_character;
            if ((c == '*' || c == '>') && tok.size() != 1)
                return subject_problem::partial_wildcard;
        }
        if (tok == "*" || tok == ">") {
            if (use == subject_use::publish)
                return subject_problem::wildcard_on_publish;
            after_full_wildcard = tok == ">";
        }
        if (end == s.size())
            return subject_problem::ok;
        start = end + 1;
    }
}

/// True when `s` is a valid subject to publish to (no wildcards).
constexpr bool
is_valid_publish_subject(std::string_view s,
                         reserved_subjects reserved = reserved_subjects::reject) noexcept {
    return check_subject(s, subject_use::publish, reserved) == subject_problem::ok;
}

/// True when `s` is a valid subscription subject (wildcards allowed).
constexpr bool
is_valid_subscribe_subject(std::string_view s,
                           reserved_subjects reserved = reserved_subjects::reject) noexcept {
    return check_subject(s, subject_use::subscribe, reserved) == subject_problem::ok;
}

/// Thrown by `validate_subject` for an invalid subject (`errc::invalid_subject`).
class invalid_subject_error : public resilience_error {
public:
    invalid_subject_error(std::string_view subject, subject_problem p)
        : resilience_error(errc::invalid_subject, "bulwark: invalid subject '" +
                                                      std::string(subject) +
                                                      "': " + std::string(describe(p)))
        , problem_(p) {}
    subject_problem problem() const noexcept { return problem_; }

private:
    subject_problem problem_;
};

/// Throws `invalid_subject_error` (with the reason) when `s` is not valid for `use`.
inline void validate_subject(std::string_view s, subject_use use,
                             reserved_subjects reserved = reserved_subjects::reject) {
    if (auto p = check_subject(s, use, reserved); p != subject_problem::ok)
        throw invalid_subject_error(s, p);
}

/// The number of tokens of a (non-empty) subject.
constexpr std::size_t subject_token_count(std::string_view s) noexcept {
    if (s.empty())
        return 0;
    std::size_t n = 1;
    for (char c : s)
        n += c == '.';
    return n;
}

namespace detail {
/// Matches without validating; both arguments are assumed valid.
constexpr bool match_subject_unchecked(std::string_view pattern,
                                       std::string_view subject) noexcept {
    std::size_t p = 0, s = 0;
    for (;;) {
        std::size_t pe = pattern.find('.', p);
        if (pe == std::string_view::npos)
            pe = pattern.size();
        std::string_view ptok = pattern.substr(p, pe - p);
        if (ptok == ">") // reached only with at least one subject token left: one or more
            return true;
        std::size_t se = subject.find('.', s);
        if (se == std::string_view::npos)
            se = subject.size();
        std::string_view stok = subject.substr(s, se - s);
        if (ptok != "*" && ptok != stok)
            return false;
        bool p_last = pe == pattern.size(), s_last = se == subject.size();
        if (p_last || s_last)
            return p_last && s_last;
        p = pe + 1;
        s = se + 1;
    }
}
} // namespace detail

/// True when the subscription `pattern` matches the published `subject`, with NATS semantics:
/// `*` matches exactly one token, a trailing `>` one or more tokens, other tokens exactly
/// (case-sensitive). Invalid input (an invalid pattern, or a subject with wildcards) never
/// matches. `$`-prefixed subjects are accepted here: the transport decides who may use them.
///
/// **Complexity:** O(|pattern| + |subject|). **Allocation:** none. `constexpr`, `noexcept`.
constexpr bool subject_matches(std::string_view pattern, std::string_view subject) noexcept {
    if (!is_valid_subscribe_subject(pattern, reserved_subjects::allow) ||
        !is_valid_publish_subject(subject, reserved_subjects::allow))
        return false;
    return detail::match_subject_unchecked(pattern, subject);
}

} // namespace bulwark
