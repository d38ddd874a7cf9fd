#include <bulwark/channel/async_channel.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

/// A one-shot gate: `wait()` blocks until `open()`. No sleeps.
struct gate {
    std::atomic<bool> is_open{false};
    void open() {
        is_open.store(true);
        is_open.notify_all();
    }
    void wait() { is_open.wait(false); }
};

/// Handler that parks on the gate for message 0, then records the order of what it handled.
struct blocking_recorder {
    gate& g;
    gate& started;
    std::vector<int>& got;
    void operator()(int v) const {
        if (v == 0) {
            started.open();
            g.wait();
        }
        got.push_back(v);
    }
};

template <class Overflow>
struct overflow_fixture {
    gate g, started;
    std::vector<int> got;
    std::vector<int> drops;
    bulwark::async_channel<int, bulwark::mpmc, Overflow> ch{
        blocking_recorder{g, started, got},
        {.capacity = 2, .on_drop = [this](const int& v) { drops.push_back(v); }}};
    /// Message 0 is in the handler (blocked) and 1, 2 fill the queue.
    void fill() {
        REQUIRE_FALSE(ch.publish(0));
        started.wait();
        REQUIRE_FALSE(ch.publish(1));
        REQUIRE_FALSE(ch.publish(2));
    }
};

} // namespace

TEST_CASE("overflow::reject refuses with queue_full and counts", "[channel][async][overflow]") {
    overflow_fixture<bulwark::overflow::reject> f;
    f.fill();
    REQUIRE(f.ch.publish(3) == bulwark::errc::queue_full);
    REQUIRE(f.ch.rejected() == 1);
    f.g.open();
    f.ch.drain();
    REQUIRE(f.got == std::vector<int>{0, 1, 2});
    REQUIRE(f.drops.empty());
}

TEST_CASE("overflow::drop_newest discards the new message and reports it",
          "[channel][async][overflow]") {
    overflow_fixture<bulwark::overflow::drop_newest> f;
    f.fill();
    REQUIRE_FALSE(f.ch.publish(3));
    REQUIRE(f.ch.dropped() == 1);
    REQUIRE(f.drops == std::vector<int>{3});
    f.g.open();
    f.ch.drain();
    REQUIRE(f.got == std::vector<int>{0, 1, 2});
}

TEST_CASE("overflow::drop_oldest evicts the oldest queued message and reports it",
          "[channel][async][overflow]") {
    overflow_fixture<bulwark::overflow::drop_oldest> f;
    f.fill();
    REQUIRE_FALSE(f.ch.publish(3));
    REQUIRE(f.ch.dropped() == 1);
    REQUIRE(f.drops == std::vector<int>{1});
    f.g.open();
    f.ch.drain(); // the evicted message counts as settled: drain does not wait for it
    REQUIRE(f.got == std::vector<int>{0, 2, 3});
    REQUIRE(f.ch.accepted() == 4);
}

TEST_CASE("overflow::block waits for space; try_publish does not", "[channel][async][overflow]") {
    overflow_fixture<bulwark::overflow::block> f;
    f.fill();
    REQUIRE(f.ch.try_publish(3) == bulwark::errc::queue_full);
    std::error_code blocked_result = bulwark::errc::timeout;
    std::thread producer([&] { blocked_result = f.ch.publish(3); });
    f.g.open();
    producer.join();
    REQUIRE_FALSE(blocked_result);
    f.ch.drain();
    REQUIRE(f.got == std::vector<int>{0, 1, 2, 3});
    REQUIRE(f.ch.dropped() == 0);
}

TEST_CASE("publish after close reports channel_closed", "[channel][async]") {
    std::atomic<int> n{0};
    bulwark::async_channel<int> ch([&](int) { ++n; });
    REQUIRE_FALSE(ch.publish(1));
    ch.close();
    REQUIRE(ch.closed());
    REQUIRE(ch.publish(2) == bulwark::errc::channel_closed);
    REQUIRE(n == 1);
    ch.close(); // idempotent
}

TEST_CASE("close and the destructor handle everything accepted", "[channel][async]") {
    std::atomic<int> handled{0};
    {
        bulwark::async_channel<int> ch([&](int) { handled.fetch_add(1); },
                                       {.capacity = 4096, .consumers = 3});
        for (int i = 0; i < 3000; ++i)
            REQUIRE_FALSE(ch.publish(i));
    } // no drain: the destructor must not lose any
    REQUIRE(handled == 3000);
}

TEST_CASE("per-key order with 4 consumers over 100 000 messages",
          "[channel][async][ordering][concurrency]") {
    constexpr std::size_t keys = 64;
    constexpr int total = 100000;
    struct msg {
        std::size_t key;
        int seq;
    };
    std::vector<int> last(keys, -1);
    std::vector<std::thread::id> owner(keys);
    std::atomic<int> violations{0};
    std::mutex m;
    std::set<std::thread::id> threads;
    bulwark::async_channel<msg, bulwark::mpsc> ch(
        [&](const msg& x) {
            if (x.seq != last[x.key] + 1)
                violations.fetch_add(1);
            last[x.key] = x.seq;
            if (owner[x.key] == std::thread::id{}) {
                owner[x.key] = std::this_thread::get_id();
                std::lock_guard lock(m);
                threads.insert(owner[x.key]);
            } else if (owner[x.key] != std::this_thread::get_id()) {
                violations.fetch_add(1);
            }
        },
        {.capacity = 1024, .consumers = 4, .per_key_order = true});
    REQUIRE(ch.lanes() == 4);
    std::vector<int> next(keys, 0);
    for (int i = 0; i < total; ++i) {
        std::size_t k = (static_cast<std::size_t>(i) * 7919) % keys;
        REQUIRE_FALSE(ch.publish(msg{k, next[k]++}, k));
    }
    ch.drain();
    REQUIRE(violations == 0);
    REQUIRE(ch.acked() == total);
    for (std::size_t k = 0; k < keys; ++k)
        REQUIRE(last[k] == next[k] - 1);
    std::lock_guard lock(m);
    REQUIRE(threads.size() == 4); // different keys really ran on different consumers
}

TEST_CASE("many producers, many consumers: each message handled exactly once",
          "[channel][async][concurrency]") {
    constexpr int per_producer = 20000, producers = 3;
    std::vector<std::atomic<int>> seen(per_producer * producers);
    std::atomic<int> errors{0}; // Catch2 assertions are not thread-safe: count, check on main
    bulwark::async_channel<int> ch([&](int v) { seen[static_cast<std::size_t>(v)].fetch_add(1); },
                                   {.capacity = 128, .consumers = 3});
    {
        std::vector<std::jthread> threads;
        for (int p = 0; p < producers; ++p)
            threads.emplace_back([&, p] {
                for (int i = 0; i < per_producer; ++i)
                    if (ch.publish(p * per_producer + i))
                        ++errors;
            });
    }
    ch.drain();
    REQUIRE(errors == 0);
    for (auto& s : seen)
        REQUIRE(s.load() == 1);
}

TEST_CASE("close racing with producers loses nothing that was accepted",
          "[channel][async][concurrency]") {
    std::atomic<int> handled{0}, accepted{0}, unexpected{0};
    auto ch =
        std::make_unique<bulwark::async_channel<int, bulwark::mpmc, bulwark::overflow::block>>(
            [&](int) { handled.fetch_add(1); },
            bulwark::async_channel_options<int>{.capacity = 64, .consumers = 2});
    {
        std::vector<std::jthread> producers;
        for (int p = 0; p < 2; ++p)
            producers.emplace_back([&] {
                for (int i = 0; i < 50000; ++i) {
                    auto ec = ch->publish(i);
                    if (ec) {
                        if (ec != bulwark::errc::channel_closed)
                            ++unexpected;
                        return;
                    }
                    accepted.fetch_add(1);
                }
            });
        while (accepted.load() < 1000)
            std::this_thread::yield();
        ch->close();
    }
    REQUIRE(unexpected == 0);
    REQUIRE(handled.load() == accepted.load());
    REQUIRE(ch->accepted() == static_cast<std::uint64_t>(accepted.load()));
}

TEST_CASE("drain waits for everything accepted before it", "[channel][async][concurrency]") {
    std::atomic<int> handled{0};
    bulwark::async_channel<int> ch([&](int) { handled.fetch_add(1); },
                                   {.capacity = 16, .consumers = 2});
    for (int round = 1; round <= 50; ++round) {
        for (int i = 0; i < 40; ++i)
            REQUIRE_FALSE(ch.publish(i));
        ch.drain();
        REQUIRE(handled.load() == round * 40);
    }
}

TEST_CASE("publishing allocates nothing on the producer side", "[channel][async][alloc]") {
    std::atomic<long> sum{0};
    bulwark::async_channel<int> ch([&](int v) { sum.fetch_add(v); }, {.capacity = 4096});
    REQUIRE_FALSE(ch.publish(0)); // warm up
    ch.drain();
    bulwark::test::alloc_scope scope;
    for (int i = 1; i <= 2000; ++i)
        REQUIRE_FALSE(ch.publish(i));
    REQUIRE(scope.count() == 0);
    ch.drain();
    REQUIRE(sum == 2000L * 2001 / 2);
}

TEST_CASE("async_channel rejects bad settings", "[channel][async]") {
    auto h = [](int) {};
    using bulwark::invalid_argument_error;
    REQUIRE_THROWS_AS(bulwark::async_channel<int>(h, {.capacity = 0}), invalid_argument_error);
    REQUIRE_THROWS_AS(bulwark::async_channel<int>(h, {.consumers = 0}), invalid_argument_error);
    REQUIRE_THROWS_AS((bulwark::async_channel<int, bulwark::mpsc>(h, {.consumers = 2})),
                      invalid_argument_error);
    REQUIRE_NOTHROW(
        bulwark::async_channel<int, bulwark::mpsc>(h, {.consumers = 2, .per_key_order = true}));
}

TEMPLATE_TEST_CASE("overflow policies under contention account for every message",
                   "[channel][async][overflow][concurrency]", bulwark::overflow::drop_oldest,
                   bulwark::overflow::drop_newest, bulwark::overflow::reject) {
    constexpr int producers = 3, per_producer = 20000;
    std::atomic<int> handled{0}, refused{0}, reported{0};
    bulwark::async_channel<int, bulwark::mpmc, TestType> ch(
        [&](int) { handled.fetch_add(1); },
        {.capacity = 8, .consumers = 2, .on_drop = [&](const int&) { reported.fetch_add(1); }});
    {
        std::vector<std::jthread> threads;
        for (int p = 0; p < producers; ++p)
            threads.emplace_back([&] {
                for (int i = 0; i < per_producer; ++i)
                    if (ch.publish(i) == bulwark::errc::queue_full)
                        refused.fetch_add(1);
            });
    }
    ch.drain();
    const int total = producers * per_producer;
    REQUIRE(static_cast<std::uint64_t>(reported.load()) == ch.dropped());
    if constexpr (std::is_same_v<TestType, bulwark::overflow::reject>) {
        REQUIRE(handled + refused == total);
        REQUIRE(ch.rejected() == static_cast<std::uint64_t>(refused.load()));
    } else {
        REQUIRE(refused == 0);
        REQUIRE(handled + static_cast<int>(ch.dropped()) == total);
    }
    REQUIRE(ch.acked() == static_cast<std::uint64_t>(handled.load()));
}
