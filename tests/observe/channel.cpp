// Channel events: first through the observing wrappers of <bulwark/observe/channel.hpp> (kept
// for users' code), then from inside async_channel / async_bus given a listener, at the exact
// point each happens (manual clock for the redelivery backoff).

#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/observe/channel.hpp>
#include <bulwark/observe/metrics.hpp>

#include "observe/recorder.hpp"

#include <bulwark/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace bulwark;

TEST_CASE("channel events: published, delivered, nacked, dead-lettered, in order",
          "[observe][events][channel][async]") {
    test::event_log log;
    test::recorder rec{&log};
    int handled = 0;
    {
        async_channel<int> ch(observe_handler<int>(
                                  [&](int& v) {
                                      ++handled;
                                      if (v < 0)
                                          throw std::runtime_error("negative");
                                  },
                                  rec, "numbers"),
                              {.delivery = at_least_once{.max_deliveries = 1},
                               .dead_letter = observe_dead_letters<int>({}, rec, "numbers")});
        REQUIRE(!observe_publish(ch, 1, rec, "numbers"));
        REQUIRE(!observe_publish(ch, -1, rec, "numbers"));
        ch.drain();
    }
    CHECK(handled == 2);
    CHECK(log.count("channel_published") == 2);
    CHECK(log.count("channel_delivered") == 2);
    CHECK(log.count("channel_nacked") == 1);
    CHECK(log.count("channel_dead_lettered") == 1);
    CHECK(log.count("channel_redelivered") == 0);
}

TEST_CASE("channel events: a drop reported through on_drop counts in the metrics",
          "[observe][events][channel]") {
    metrics_registry reg;
    auto l = reg.listener({.topic = "numbers"});
    auto hook = observe_drops<int>(l, "numbers");
    hook(1);
    hook(2);
    CHECK(l.snapshot().channel.dropped == 2);
}

// ---- events from inside the channels --------------------------------------------------------

namespace {

using namespace std::chrono_literals;

/// One heard channel event: its name and the fields the tests check.
struct heard {
    std::string name;
    std::string subject;
    std::uint32_t delivery = 0;
    duration delay{};
    std::string reason;
    friend bool operator==(const heard&, const heard&) = default;
};

struct channel_log {
    std::mutex mu;
    std::vector<heard> seen;
    std::vector<heard> all() {
        std::lock_guard lock(mu);
        return seen;
    }
    /// The events of the consumer thread, in order: `channel_published` is heard on the
    /// publishing thread after the push, so a consumer may deliver before it is recorded.
    std::vector<heard> consumer_side() {
        std::lock_guard lock(mu);
        std::vector<heard> out;
        for (const auto& h : seen)
            if (h.name != "channel_published")
                out.push_back(h);
        return out;
    }
    std::size_t count(std::string_view name) {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (const auto& h : seen)
            n += h.name == name ? 1u : 0u;
        return n;
    }
};

/// Hears every channel event (a generic `on`) into a log.
struct channel_recorder {
    channel_log* log;
    template <class E>
    void on(const E& e) {
        heard h{std::string(E::event_name), std::string(e.subject), 0, {}, {}};
        if constexpr (requires { e.delivery; })
            h.delivery = e.delivery;
        if constexpr (requires { e.delay; })
            h.delay = e.delay;
        if constexpr (requires { e.reason; })
            h.reason = std::string(e.reason);
        std::lock_guard lock(log->mu);
        log->seen.push_back(std::move(h));
    }
};

heard ev(std::string name, std::uint32_t delivery = 0, duration delay = {},
         std::string reason = {}) {
    return {std::move(name), "orders", delivery, delay, std::move(reason)};
}

} // namespace

TEST_CASE("channel events from inside async_channel: each fires exactly when it happens",
          "[observe][channel][async]") {
    manual_clock clock;
    channel_log log;
    using listener = listeners<channel_recorder, metrics_listener>;
    metrics_registry reg;
    auto ml = reg.listener({.topic = "orders"});
    dead_letter_box<int> dead;
    async_channel<int, mpmc, overflow::block, listener> ch(
        [](delivery<int>& d) {
            if (d.message() == 2)
                d.nack("not yet");
            else if (d.message() == 3)
                d.dead_letter("poison");
            else
                d.ack();
        },
        {.delivery = at_least_once{.max_deliveries = 3,
                                   .redelivery_backoff = {.delay = 1s, .multiplier = 2}},
         .dead_letter = dead.sink(),
         .clock = clock},
        listener{channel_recorder{&log}, ml}, "orders");

    REQUIRE_FALSE(ch.publish(1));
    ch.wait_idle();
    CHECK(log.count("channel_published") == 1);
    CHECK(log.consumer_side() == std::vector<heard>{ev("channel_delivered", 1)});

    REQUIRE_FALSE(ch.publish(3));
    ch.wait_idle();
    CHECK(log.all().size() == 5);
    CHECK(log.count("channel_published") == 2);
    CHECK(log.consumer_side().back() ==
          ev("channel_dead_lettered", 0, {}, "poison")); // rejected: no nack
    CHECK(log.count("channel_nacked") == 0);

    REQUIRE_FALSE(ch.publish(2));
    ch.wait_idle(); // delivery 1 nacked, redelivery 2 scheduled in 1 s
    REQUIRE(ch.pending_redeliveries() == 1);
    auto tail = [&](std::size_t n) {
        auto all = log.all();
        return std::vector<heard>(all.end() - static_cast<std::ptrdiff_t>(n), all.end());
    };
    CHECK(log.count("channel_published") == 3);
    const auto consumed = log.consumer_side();
    CHECK(std::vector<heard>(consumed.end() - 3, consumed.end()) ==
          std::vector<heard>{ev("channel_delivered", 1), ev("channel_nacked", 1),
                             ev("channel_redelivery_scheduled", 2, 1s)});
    const std::size_t before = log.all().size();
    clock.advance(999ms);
    ch.wait_idle();
    CHECK(log.all().size() == before); // nothing happens before the backoff elapsed
    clock.advance(1ms);
    ch.wait_idle();
    REQUIRE(ch.pending_redeliveries() == 1);
    CHECK(tail(4) == std::vector<heard>{ev("channel_delivered", 2),
                                        ev("channel_redelivered", 2, 1s), ev("channel_nacked", 2),
                                        ev("channel_redelivery_scheduled", 3, 2s)});
    clock.advance(2s);
    ch.drain();
    CHECK(tail(4) == std::vector<heard>{ev("channel_delivered", 3),
                                        ev("channel_redelivered", 3, 2s), ev("channel_nacked", 3),
                                        ev("channel_dead_lettered", 0, {}, "not yet")});
    CHECK(dead.items().size() == 2);

    // The metrics listener, fed the same events, holds the known counts of this script.
    const auto s = ml.snapshot().channel;
    CHECK(s.published == 3);
    CHECK(s.delivered == 5); // 1, 3, and 2 three times
    CHECK(s.redelivered == 2);
    CHECK(s.redeliveries_scheduled == 2);
    CHECK(s.nacked == 3);
    CHECK(s.dead_lettered[static_cast<std::size_t>(dead_letter_kind::max_deliveries)] == 1);
    CHECK(s.dead_lettered[static_cast<std::size_t>(dead_letter_kind::rejected)] == 1);
    CHECK(s.dropped == 0);
    CHECK(s.published == ch.accepted());
    CHECK(s.redeliveries_scheduled == ch.redelivered());
}

TEST_CASE("channel events: at-most-once failures are nacked then dead-lettered as failed",
          "[observe][channel][async]") {
    channel_log log;
    async_channel<int, mpmc, overflow::block, channel_recorder> ch(
        [](int) { throw std::runtime_error("boom"); }, {}, channel_recorder{&log}, "orders");
    REQUIRE_FALSE(ch.publish(7));
    ch.drain();
    CHECK(log.count("channel_published") == 1);
    CHECK(log.consumer_side() ==
          std::vector<heard>{ev("channel_delivered", 1), ev("channel_nacked", 1),
                             ev("channel_dead_lettered", 0, {}, "handler threw: boom")});
}

namespace {
/// A handler that holds the consumer until released, so the queue fills deterministically.
struct gate {
    std::promise<void> entered_p, release_p;
    std::shared_future<void> release = release_p.get_future().share();
    std::atomic<bool> first{true};
    void operator()(int) {
        if (first.exchange(false)) {
            entered_p.set_value();
            release.wait();
        }
    }
};
} // namespace

TEST_CASE("channel events: overflow drops and refusals are heard where they happen",
          "[observe][channel][async]") {
    metrics_registry reg;
    SECTION("reject") {
        auto ml = reg.listener({.topic = "reject"});
        gate g;
        auto entered = g.entered_p.get_future();
        async_channel<int, mpmc, overflow::reject, metrics_listener> ch(
            [&g](int v) { g(v); }, {.capacity = 2}, ml, "reject");
        REQUIRE_FALSE(ch.publish(0));
        entered.wait(); // the consumer holds message 0: the ring (2 slots) is empty
        REQUIRE_FALSE(ch.publish(1));
        REQUIRE_FALSE(ch.publish(2));
        CHECK(ch.publish(3) == make_error_code(errc::queue_full));
        CHECK(ch.publish(4) == make_error_code(errc::queue_full));
        g.release_p.set_value();
        ch.drain();
        const auto s = ml.snapshot().channel;
        CHECK(s.published == 3);
        CHECK(s.dropped == 2);
        CHECK(s.dropped == ch.rejected());
        CHECK(s.delivered == 3);
    }
    SECTION("drop_oldest and drop_newest") {
        auto oldest = reg.listener({.topic = "oldest"});
        auto newest = reg.listener({.topic = "newest"});
        gate g1, g2;
        auto e1 = g1.entered_p.get_future();
        auto e2 = g2.entered_p.get_future();
        async_channel<int, mpmc, overflow::drop_oldest, metrics_listener> a(
            [&g1](int v) { g1(v); }, {.capacity = 2}, oldest, "oldest");
        async_channel<int, mpmc, overflow::drop_newest, metrics_listener> b(
            [&g2](int v) { g2(v); }, {.capacity = 2}, newest, "newest");
        REQUIRE_FALSE(a.publish(0));
        REQUIRE_FALSE(b.publish(0));
        e1.wait();
        e2.wait();
        for (int i = 1; i <= 5; ++i) {
            REQUIRE_FALSE(a.publish(i));
            REQUIRE_FALSE(b.publish(i));
        }
        g1.release_p.set_value();
        g2.release_p.set_value();
        a.drain();
        b.drain();
        CHECK(oldest.snapshot().channel.dropped == 3);
        CHECK(oldest.snapshot().channel.dropped == a.dropped());
        CHECK(oldest.snapshot().channel.published == 6); // every publish was accepted
        CHECK(oldest.snapshot().channel.delivered == 3);
        CHECK(newest.snapshot().channel.dropped == 3);
        CHECK(newest.snapshot().channel.dropped == b.dropped());
        CHECK(newest.snapshot().channel.published == 3); // the dropped new ones were not
        CHECK(newest.snapshot().channel.delivered == 3);
    }
    SECTION("try_publish on a full blocking channel") {
        auto ml = reg.listener({.topic = "block"});
        gate g;
        auto entered = g.entered_p.get_future();
        async_channel<int, mpmc, overflow::block, metrics_listener> ch(
            [&g](int v) { g(v); }, {.capacity = 2}, ml, "block");
        REQUIRE_FALSE(ch.publish(0));
        entered.wait();
        REQUIRE_FALSE(ch.try_publish(1));
        REQUIRE_FALSE(ch.try_publish(2));
        CHECK(ch.try_publish(3) == make_error_code(errc::queue_full));
        g.release_p.set_value();
        ch.drain();
        CHECK(ml.snapshot().channel.dropped == 1);
        CHECK(ml.snapshot().channel.published == 3);
    }
}

namespace {
struct order_created {
    static constexpr std::string_view subject = "orders.created";
    int n = 0;
};
struct order_paid { // no subject: its events carry the one given to subscribe, or none
    int n = 0;
};
} // namespace

TEST_CASE("channel events: async_bus topics report, and a dedupe window hit is "
          "duplicate_dropped",
          "[observe][channel][async]") {
    metrics_registry reg;
    auto ml = reg.listener({.topic = "orders.created"});
    channel_log log;
    using listener = listeners<channel_recorder, metrics_listener>;
    std::atomic<int> handled{0};
    {
        async_bus<topics<order_created>, mpmc, overflow::block, listener> bus(
            listener{channel_recorder{&log}, ml});
        auto window = std::make_shared<dedupe_window<message_id>>(16);
        auto sub =
            bus.subscribe<order_created>([&](const order_created&) { ++handled; }, {}, window,
                                         listener{channel_recorder{&log}, ml}, "orders.created");
        message_metadata md;
        stamp(md);
        REQUIRE_FALSE(bus.publish(order_created{1}, md));
        REQUIRE_FALSE(bus.publish(order_created{1}, md)); // the same id: a duplicate
        REQUIRE_FALSE(bus.publish(order_created{2}));
        bus.drain();
    }
    CHECK(handled == 2);
    CHECK(log.count("channel_duplicate_dropped") == 1);
    for (const auto& h : log.all())
        CHECK(h.subject == "orders.created");
    const auto s = ml.snapshot().channel;
    CHECK(s.published == 3);
    CHECK(s.delivered == 3);
    CHECK(s.duplicates_dropped == 1);
    CHECK(s.nacked == 0);
}

TEST_CASE("channel events: async_bus gives each topic's events the topic's subject",
          "[observe][channel][async]") {
    channel_log log;
    {
        async_bus<topics<order_created, order_paid>, mpmc, overflow::block, channel_recorder> bus(
            channel_recorder{&log});
        auto a = bus.subscribe<order_created>([](const order_created&) {});
        auto b = bus.subscribe<order_paid>([](const order_paid&) {});
        REQUIRE_FALSE(bus.publish(order_created{1}));
        bus.drain();
        REQUIRE_FALSE(bus.publish(order_paid{2}));
        bus.drain();
    }
    const auto all = log.all();
    REQUIRE(all.size() == 4);
    CHECK(all[0].subject == "orders.created");
    CHECK(all[1].subject == "orders.created");
    CHECK(all[2].subject.empty());
    CHECK(all[3].subject.empty());
}

TEST_CASE("channel events: without a listener the channel and bus are unchanged",
          "[observe][channel]") {
    STATIC_REQUIRE(std::is_same_v<async_channel<int>::listener_type, null_listener>);
    STATIC_REQUIRE(std::is_same_v<async_channel<int>,
                                  async_channel<int, mpmc, overflow::block, null_listener>>);
    STATIC_REQUIRE(std::is_empty_v<detail::null_subject>);
    using plain = detail::channel_state<int, mpmc, true, false>;
    using heard_state = detail::channel_state<int, mpmc, true, false, metrics_listener>;
    // null_listener and its subject are empty members ([[no_unique_address]]); a listener adds
    // its pointer and the subject string.
    STATIC_REQUIRE(std::is_same_v<decltype(plain::listener), null_listener>);
    STATIC_REQUIRE(std::is_same_v<decltype(plain::subject), detail::null_subject>);
    STATIC_REQUIRE(std::is_same_v<decltype(heard_state::subject), std::string>);
    STATIC_REQUIRE(sizeof(plain) <= sizeof(heard_state));
    STATIC_REQUIRE(sizeof(async_bus<topics<order_created>>) ==
                   sizeof(async_bus<topics<order_created>, mpmc, overflow::block, null_listener>));
}
