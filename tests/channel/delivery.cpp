#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/delivery.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("redelivery_backoff: min(max_delay, delay * multiplier^(n-1))", "[channel][delivery]") {
    bulwark::redelivery_backoff b{.delay = 1s, .multiplier = 2.0, .max_delay = 5s};
    REQUIRE(b.after(1) == 1s);
    REQUIRE(b.after(2) == 2s);
    REQUIRE(b.after(3) == 4s);
    REQUIRE(b.after(4) == 5s);
    REQUIRE(bulwark::redelivery_backoff{}.after(3) == bulwark::duration::zero());
}

TEST_CASE("at-least-once: a handler that fails twice then succeeds sees 3 deliveries",
          "[channel][delivery]") {
    std::vector<std::uint32_t> attempts;
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch(
        [&](bulwark::delivery<int>& d) {
            attempts.push_back(d.attempt());
            if (d.attempt() < 3)
                throw std::runtime_error("flaky");
            d.ack();
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 5}, .dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(7));
    ch.drain();
    REQUIRE(attempts == std::vector<std::uint32_t>{1, 2, 3});
    REQUIRE(ch.acked() == 1);
    REQUIRE(ch.redelivered() == 2);
    REQUIRE(dead.size() == 0);
}

TEST_CASE("at-least-once: a handler that always fails ends in the dead-letter sink",
          "[channel][delivery]") {
    std::atomic<int> calls{0};
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch(
        [&](int) {
            ++calls;
            throw std::runtime_error("boom");
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 4}, .dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(42));
    ch.drain();
    REQUIRE(calls == 4);
    auto letters = dead.items();
    REQUIRE(letters.size() == 1);
    REQUIRE(letters[0].message == 42);
    REQUIRE(letters[0].deliveries == 4);
    REQUIRE(letters[0].kind == bulwark::dead_letter_kind::max_deliveries);
    REQUIRE(letters[0].reason == "handler threw: boom");
    REQUIRE(letters[0].cause.holds<std::runtime_error>());
    REQUIRE(ch.dead_lettered() == 1);
    REQUIRE(ch.acked() == 0);
}

TEST_CASE("redelivery backoff runs on the manual clock", "[channel][delivery]") {
    bulwark::manual_clock clock;
    std::atomic<int> calls{0};
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch(
        [&](bulwark::delivery<int>& d) {
            ++calls;
            d.nack("not yet");
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 3,
                                            .redelivery_backoff = {.delay = 1s, .multiplier = 2}},
         .dead_letter = dead.sink(),
         .clock = clock});
    REQUIRE_FALSE(ch.publish(1));
    ch.wait_idle();
    REQUIRE(calls == 1);
    REQUIRE(ch.pending_redeliveries() == 1);
    clock.advance(999ms);
    ch.wait_idle();
    REQUIRE(calls == 1); // not due yet
    clock.advance(1ms);
    ch.wait_idle();
    REQUIRE(calls == 2);
    clock.advance(1s);
    ch.wait_idle();
    REQUIRE(calls == 2); // the second backoff is 2 s
    clock.advance(1s);
    ch.drain();
    REQUIRE(calls == 3);
    REQUIRE(ch.pending_redeliveries() == 0);
    auto letters = dead.items();
    REQUIRE(letters.size() == 1);
    REQUIRE(letters[0].reason == "not yet");
    REQUIRE(letters[0].deliveries == 3);
    REQUIRE(letters[0].cause.code == bulwark::errc::rejected);
}

TEST_CASE("dead_letter() from the handler skips redelivery (poison message)",
          "[channel][delivery]") {
    std::atomic<int> calls{0};
    bulwark::dead_letter_box<std::string> dead;
    bulwark::async_channel<std::string> ch(
        [&](bulwark::delivery<std::string>& d) {
            ++calls;
            if (d.message().empty())
                d.dead_letter("empty payload");
            else
                d.ack();
        },
        {.delivery = bulwark::at_least_once{.max_deliveries = 5}, .dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(""));
    REQUIRE_FALSE(ch.publish("ok"));
    ch.drain();
    REQUIRE(calls == 2);
    auto letters = dead.items();
    REQUIRE(letters.size() == 1);
    REQUIRE(letters[0].kind == bulwark::dead_letter_kind::rejected);
    REQUIRE(letters[0].deliveries == 1);
    REQUIRE(letters[0].reason == "empty payload");
}

TEST_CASE("at-most-once: a failure is dead-lettered after one delivery", "[channel][delivery]") {
    std::atomic<int> calls{0};
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch(
        [&](int) {
            ++calls;
            throw 5; // not a std::exception
        },
        {.dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(1));
    ch.drain();
    REQUIRE(calls == 1);
    auto letters = dead.items();
    REQUIRE(letters.size() == 1);
    REQUIRE(letters[0].kind == bulwark::dead_letter_kind::failed);
    REQUIRE(letters[0].deliveries == 1);
    REQUIRE(letters[0].reason == "handler threw a non-standard exception");
}

TEST_CASE("auto_ack = false: returning without settling is a nack", "[channel][delivery]") {
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch([](bulwark::delivery<int>&) {},
                                   {.auto_ack = false, .dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(3));
    ch.drain();
    REQUIRE(dead.size() == 1);
    REQUIRE(dead.items()[0].reason == "handler returned without ack or nack");
}

TEST_CASE("the first settlement wins", "[channel][delivery]") {
    bulwark::dead_letter_box<int> dead;
    bulwark::async_channel<int> ch(
        [](bulwark::delivery<int>& d) {
            d.ack();
            d.dead_letter("too late");
        },
        {.dead_letter = dead.sink()});
    REQUIRE_FALSE(ch.publish(3));
    ch.drain();
    REQUIRE(ch.acked() == 1);
    REQUIRE(dead.size() == 0);
}

TEST_CASE("a throwing dead-letter sink does not stop the channel", "[channel][delivery]") {
    std::atomic<int> acked{0};
    bulwark::async_channel<int> ch(
        [&](int v) {
            if (v == 0)
                throw std::runtime_error("bad");
            ++acked;
        },
        {.dead_letter = [](bulwark::dead_letter<int>&&) { throw std::logic_error("sink down"); }});
    REQUIRE_FALSE(ch.publish(0));
    REQUIRE_FALSE(ch.publish(1));
    ch.drain();
    REQUIRE(acked == 1);
    REQUIRE(ch.dead_lettered() == 1);
}

TEST_CASE("close delivers parked redeliveries at once instead of losing them",
          "[channel][delivery]") {
    bulwark::manual_clock clock; // never advanced
    std::vector<std::uint32_t> attempts;
    {
        bulwark::async_channel<int> ch(
            [&](bulwark::delivery<int>& d) {
                attempts.push_back(d.attempt());
                if (d.attempt() == 1)
                    d.nack("later");
                else
                    d.ack();
            },
            {.delivery = bulwark::at_least_once{.redelivery_backoff = {.delay = 1h}},
             .clock = clock});
        REQUIRE_FALSE(ch.publish(1));
        ch.wait_idle();
        REQUIRE(ch.pending_redeliveries() == 1);
    }
    REQUIRE(attempts == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("immediate redelivery keeps per-key order", "[channel][delivery][ordering]") {
    std::vector<int> order;
    bulwark::async_channel<int> ch(
        [&](bulwark::delivery<int>& d) {
            order.push_back(d.message());
            if (d.message() == 1 && d.attempt() == 1)
                d.nack("once more");
            else
                d.ack();
        },
        {.consumers = 2, .per_key_order = true, .delivery = bulwark::at_least_once{}});
    for (int i = 0; i < 4; ++i)
        REQUIRE_FALSE(ch.publish(i, 0)); // one key
    ch.drain();
    REQUIRE(order == std::vector<int>{0, 1, 1, 2, 3});
}

TEST_CASE("delivery settings are validated", "[channel][delivery]") {
    auto h = [](int) {};
    using bulwark::invalid_argument_error;
    using opts = bulwark::async_channel_options<int>;
    REQUIRE_THROWS_AS(bulwark::async_channel<int>(
                          h, opts{.delivery = bulwark::at_least_once{.max_deliveries = 0}}),
                      invalid_argument_error);
    REQUIRE_THROWS_AS(
        bulwark::async_channel<int>(
            h, opts{.delivery = bulwark::at_least_once{.redelivery_backoff = {.delay = -1s}}}),
        invalid_argument_error);
    REQUIRE_THROWS_AS(
        bulwark::async_channel<int>(
            h, opts{.delivery = bulwark::at_least_once{.redelivery_backoff = {.delay = 1s,
                                                                              .multiplier = 0.5}}}),
        invalid_argument_error);
    REQUIRE_THROWS_AS(
        bulwark::async_channel<int>(
            h, opts{.delivery = bulwark::at_least_once{.redelivery_backoff = {.delay = 2s,
                                                                              .max_delay = 1s}}}),
        invalid_argument_error);
}
