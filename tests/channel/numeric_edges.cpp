// Regression tests for the numeric and parsing edges of channel/ (issue 9, item 1): each case
// failed (hung, threw the wrong error, or was accepted) before its fix.
#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/channel/subject.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

using bulwark::invalid_argument_error;

TEST_CASE("async_channel rejects a capacity whose ring cannot exist", "[channel][async_channel]") {
    auto make = [](std::size_t cap) {
        bulwark::async_channel<int> ch([](int) {}, {.capacity = cap});
        // Before the fix SIZE_MAX made a 1-slot ring and the 4th publish hung.
        for (int i = 0; i < 8; ++i)
            REQUIRE(!ch.publish(i));
    };
    CHECK_THROWS_AS(make(std::numeric_limits<std::size_t>::max()), invalid_argument_error);
    CHECK_THROWS_AS(make((std::size_t{1} << 62) + 1), invalid_argument_error);
    CHECK_THROWS_AS(make((std::size_t{1} << 30) + 1), invalid_argument_error);
    CHECK_THROWS_WITH(make(std::numeric_limits<std::size_t>::max()),
                      Catch::Contains("bulwark::async_channel: capacity must be in [1, 2^30]"));
    CHECK_THROWS_AS(make(0), invalid_argument_error);
    CHECK_NOTHROW(make(1));
    // capacity * consumers with per-key lanes is bounded too.
    CHECK_THROWS_AS(
        (bulwark::async_channel<int>(
            [](int) {}, {.capacity = std::size_t{1} << 30, .consumers = 8, .per_key_order = true})),
        invalid_argument_error);
    CHECK_THROWS_AS((bulwark::async_channel<int>([](int) {}, {.consumers = 0})),
                    invalid_argument_error);
    CHECK_THROWS_AS((bulwark::async_channel<int>([](int) {}, {.consumers = 4097})),
                    invalid_argument_error);
}

TEST_CASE("redelivery settings saturate or fail clearly at the extremes", "[channel][delivery]") {
    using namespace std::chrono_literals;
    bulwark::redelivery_backoff b{.delay = 1ms, .multiplier = 1e300, .max_delay = 1h};
    CHECK(b.after(1) == 1ms);
    CHECK(b.after(2) == 1h);
    CHECK(b.after(std::numeric_limits<std::uint32_t>::max()) == 1h);
    CHECK(b.after(0) == 1ms); // 0 counts as the first failure, not 2^32 - 1
    bulwark::redelivery_backoff big{.delay = bulwark::duration::max() / 2,
                                    .multiplier = 4.0,
                                    .max_delay = bulwark::duration::max()};
    CHECK(big.after(3) == bulwark::duration::max());
    CHECK_THROWS_AS(
        (bulwark::redelivery_backoff{.multiplier = std::numeric_limits<double>::infinity()}
             .validate()),
        invalid_argument_error);
    CHECK_THROWS_AS((bulwark::redelivery_backoff{.multiplier = std::nan("")}.validate()),
                    invalid_argument_error);
    CHECK_THROWS_AS((bulwark::redelivery_backoff{.delay = -1ms}.validate()),
                    invalid_argument_error);
    CHECK_THROWS_AS((bulwark::at_least_once{.max_deliveries = 0}.validate()),
                    invalid_argument_error);
    CHECK_NOTHROW(
        (bulwark::at_least_once{.max_deliveries = std::numeric_limits<std::uint32_t>::max()}
             .validate()));
}

TEST_CASE("dedupe_window bounds its capacity", "[channel][idempotent]") {
    using W = bulwark::dedupe_window<bulwark::message_id>;
    CHECK_THROWS_AS(W(0), invalid_argument_error);
    CHECK_THROWS_AS(W((std::size_t{1} << 30) + 1), invalid_argument_error);
    CHECK_THROWS_AS(W(std::numeric_limits<std::size_t>::max()), invalid_argument_error);
    CHECK_NOTHROW(W(1));
}

TEST_CASE("traceparent: lower-case hex only; version 00 is exactly 55 characters",
          "[channel][envelope]") {
    const std::string good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    CHECK(bulwark::traceparent::parse(good).valid());
    CHECK(!bulwark::traceparent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")
               .valid());
    CHECK(!bulwark::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01")
               .valid());
    CHECK(!bulwark::traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A")
               .valid());
    CHECK(!bulwark::traceparent::parse(good + "-extra").valid());
    CHECK(!bulwark::traceparent::parse(good + "-").valid());
    // Higher versions: extra fields after a '-' are ignored; the version itself is lower hex.
    auto v1 = bulwark::traceparent::parse("01" + good.substr(2) + "-what-ever");
    CHECK(v1.valid());
    CHECK(v1.trace_id == bulwark::traceparent::parse(good).trace_id);
    CHECK(bulwark::traceparent::parse("cc" + good.substr(2)).valid());
    CHECK(!bulwark::traceparent::parse("01" + good.substr(2) + "x").valid());
    CHECK(!bulwark::traceparent::parse("ff" + good.substr(2)).valid());
    CHECK(!bulwark::traceparent::parse("FF" + good.substr(2)).valid());
    CHECK(!bulwark::traceparent::parse("0A" + good.substr(2)).valid());
}

TEST_CASE("from_headers: a garbage id or an overflowing timestamp is a decode error",
          "[channel][envelope]") {
    bulwark::message_metadata md;
    bulwark::stamp(md);
    auto with = [&](std::string_view name, std::string_view value) {
        bulwark::header_map h;
        bulwark::to_headers(md, h);
        h.set(name, value);
        return bulwark::from_headers(h);
    };
    REQUIRE(with("x-other", "1").has_value());
    CHECK(with("correlation-id", "not-an-id").code() == bulwark::errc::decode_error);
    CHECK(with("correlation-id", "").code() == bulwark::errc::decode_error);
    CHECK(with("causation-id", "zz").code() == bulwark::errc::decode_error);
    CHECK(with("timestamp", "99999999999999999999999").code() == bulwark::errc::decode_error);
    CHECK(with("timestamp", "12abc").code() == bulwark::errc::decode_error);
    CHECK(with("timestamp", "").code() == bulwark::errc::decode_error);
    auto ok = with("timestamp", "-5");
    REQUIRE(ok.has_value());
    CHECK(ok->timestamp.time_since_epoch() == std::chrono::nanoseconds{-5});
    // A bad traceparent is dropped, as W3C asks of receivers, not an error.
    auto tp = with("traceparent", "garbage");
    REQUIRE(tp.has_value());
    CHECK(!tp->trace.valid());
}

TEST_CASE("subjects must be valid UTF-8", "[channel][subject]") {
    using bulwark::subject_problem;
    using bulwark::subject_use;
    CHECK(bulwark::check_subject("orders.caf\xc3\xa9", subject_use::publish) ==
          subject_problem::ok);
    CHECK(bulwark::check_subject("orders.\xf0\x9f\x98\x80", subject_use::publish) ==
          subject_problem::ok);
    for (std::string_view bad : {"orders.\xff", "orders.\xc3", "orders.\xc0\xaf", "a.\xed\xa0\x80",
                                 "a.\xf4\x90\x80\x80", "a.\x80", "a.\xe2\x82"}) {
        INFO(bad.size());
        CHECK(bulwark::check_subject(bad, subject_use::publish) == subject_problem::invalid_utf8);
        CHECK(bulwark::check_subject(bad, subject_use::subscribe) == subject_problem::invalid_utf8);
        CHECK(!bulwark::subject_matches("a.>", bad));
    }
    CHECK_THROWS_AS(bulwark::validate_subject("a.\xff", subject_use::publish),
                    bulwark::invalid_subject_error);
}
