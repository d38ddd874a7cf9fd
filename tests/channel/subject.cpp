#include <bulwark/channel/subject.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using bulwark::subject_matches;
using bulwark::subject_problem;
using bulwark::subject_use;

// Compile-time checks: the parser and the matcher are constexpr.
static_assert(bulwark::is_valid_publish_subject("orders.created"));
static_assert(!bulwark::is_valid_publish_subject("orders.*"));
static_assert(subject_matches("orders.*", "orders.created"));
static_assert(!subject_matches("orders.>", "orders"));

TEST_CASE("subject matcher follows the NATS documentation cases", "[channel][subject]") {
    struct row {
        std::string_view pattern, subject;
        bool match;
    };
    // nats.docs nats-concepts/subjects.md: time.us.east, time.*.east, time.us.>, time.>, ...
    const row rows[] = {
        {"time.us.east", "time.us.east", true},
        {"time.us.east", "time.us.east.atlanta", false},
        {"time.us.east", "time.us.west", false},
        {"time.us.east", "Time.us.east", false}, // case-sensitive
        {"time.*.east", "time.us.east", true},
        {"time.*.east", "time.eu.east", true},
        {"time.*.east", "time.us.east.atlanta", false},
        {"time.*.east", "time.east", false},
        {"time.us.*", "time.us.east", true},
        {"time.us.*", "time.us.east.atlanta", false}, // * is exactly one token
        {"time.us.>", "time.us.east", true},
        {"time.us.>", "time.us.east.atlanta", true},
        {"time.us.>", "time.us", false}, // > is one or more tokens
        {"time.>", "time.us.east.atlanta", true},
        {">", "time", true},
        {">", "time.us", true},
        {"*", "time", true},
        {"*", "time.us", false},
        {"*.*.east", "time.us.east", true},
        {"*.*.east", "time.us.west", false},
        {"*.us.>", "time.us.east", true},
        {"time.*.*", "time.us.east", true},
        {"foo.*", "foo.bar", true},
        {"foo.*", "foo", false},
        {"foo.>", "foo", false},
        {"foo.bar", "foo.barbaz", false},
        {"foo.ba", "foo.bar", false},
        {"foo.bar.baz", "foo.bar", false},
        // invalid input never matches
        {"foo..bar", "foo..bar", false},
        {"foo.>.bar", "foo.x.bar", false},
        {"foo*", "foo*", false},
        {"foo.*", "foo.*", false},
        {"", "", false},
    };
    for (const auto& r : rows) {
        INFO(r.pattern << " vs " << r.subject);
        CHECK(subject_matches(r.pattern, r.subject) == r.match);
    }
}

TEST_CASE("subject parser reports why a subject is invalid", "[channel][subject]") {
    using bulwark::check_subject;
    constexpr auto pub = subject_use::publish;
    constexpr auto sub = subject_use::subscribe;
    CHECK(check_subject("orders.created", pub) == subject_problem::ok);
    CHECK(check_subject("orders.créé-é_1", pub) == subject_problem::ok); // UTF-8 is allowed
    CHECK(check_subject("", pub) == subject_problem::empty);
    CHECK(check_subject(".orders", pub) == subject_problem::empty_token);
    CHECK(check_subject("orders.", pub) == subject_problem::empty_token);
    CHECK(check_subject("orders..created", sub) == subject_problem::empty_token);
    CHECK(check_subject("orders created", pub) == subject_problem::invalid_character);
    CHECK(check_subject("orders.\tx", pub) == subject_problem::invalid_character);
    CHECK(check_subject(std::string_view("a\0b", 3), pub) == subject_problem::invalid_character);
    CHECK(check_subject("orders*", sub) == subject_problem::partial_wildcard);
    CHECK(check_subject("orders.>x", sub) == subject_problem::partial_wildcard);
    CHECK(check_subject("orders.>.created", sub) == subject_problem::full_wildcard_not_last);
    CHECK(check_subject("orders.*", pub) == subject_problem::wildcard_on_publish);
    CHECK(check_subject("orders.>", pub) == subject_problem::wildcard_on_publish);
    CHECK(check_subject("orders.*.>", sub) == subject_problem::ok);
    CHECK(check_subject("$SYS.x", pub) == subject_problem::reserved);
    CHECK(check_subject("$JS.API.>", sub, bulwark::reserved_subjects::allow) ==
          subject_problem::ok);
    CHECK(bulwark::subject_token_count("a.b.c") == 3);
    CHECK(bulwark::subject_token_count("") == 0);
}

TEST_CASE("validate_subject throws a clear invalid_subject error", "[channel][subject]") {
    CHECK_NOTHROW(bulwark::validate_subject("orders.*", subject_use::subscribe));
    try {
        bulwark::validate_subject("orders.*", subject_use::publish);
        FAIL("no exception");
    } catch (const bulwark::invalid_subject_error& e) {
        CHECK(e.kind() == bulwark::errc::invalid_subject);
        CHECK(e.problem() == subject_problem::wildcard_on_publish);
        CHECK(std::string_view(e.what()).find("'orders.*'") != std::string_view::npos);
        CHECK(std::string_view(e.what()).find("wildcards are not allowed") !=
              std::string_view::npos);
    }
}

TEST_CASE("subject matching allocates nothing", "[channel][subject]") {
    bulwark::test::alloc_scope scope;
    bool m = subject_matches("orders.*.>", "orders.eu.created.v1");
    CHECK(m);
    CHECK(scope.count() == 0);
}

namespace {
// A deliberately simple reference: split into tokens, then match token by token.
std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == '.')
            out.emplace_back();
        else
            out.back() += c;
    }
    return out;
}
bool reference_match(std::string_view pattern, std::string_view subject) {
    if (!bulwark::is_valid_subscribe_subject(pattern, bulwark::reserved_subjects::allow) ||
        !bulwark::is_valid_publish_subject(subject, bulwark::reserved_subjects::allow))
        return false;
    auto p = split(pattern), s = split(subject);
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == ">")
            return s.size() > i;
        if (i >= s.size() || (p[i] != "*" && p[i] != s[i]))
            return false;
    }
    return p.size() == s.size();
}
} // namespace

TEST_CASE("subject matcher agrees with a reference on random input", "[channel][subject]") {
    // Small alphabet so that matches, wildcards and malformed subjects all occur often.
    const char alphabet[] = {'a', 'b', '.', '*', '>', ' ', '$'};
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    auto random_subject = [&] {
        std::string s;
        std::size_t n = next() % 9;
        for (std::size_t i = 0; i < n; ++i) {
            std::uint64_t r = next() % 100;
            s += r < 35 ? 'a' : r < 60 ? 'b' : r < 85 ? '.' : alphabet[3 + next() % 4];
        }
        return s;
    };
    int matched = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string p = random_subject(), s = random_subject();
        bool expected = reference_match(p, s);
        matched += expected;
        if (subject_matches(p, s) != expected) {
            INFO("pattern '" << p << "' subject '" << s << "'");
            CHECK(subject_matches(p, s) == expected);
        }
    }
    CHECK(matched > 50); // the generator does produce matches
}
