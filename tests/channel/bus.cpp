#include <bulwark/channel/bus.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Named (not anonymous): clang 14 flags static members of internal types as unused.
namespace bus_test {
struct order_created {
    static constexpr std::string_view subject = "orders.created";
    std::string id;
    double total = 0;
};
struct payment_processed {
    static constexpr std::string_view subject = "payments.processed";
    std::string order;
};
using shop = bulwark::topics<order_created, payment_processed>;

int g_static_calls = 0;
struct audit {
    void operator()(const order_created&) const { ++g_static_calls; }
};
struct audit_envelope {
    void operator()(const bulwark::envelope<payment_processed>& e) const {
        g_static_calls += e.id() ? 10 : 0;
    }
};
} // namespace bus_test
using namespace bus_test;

TEST_CASE("bus delivers to subscribers in order; RAII unsubscribes", "[channel][bus]") {
    bulwark::bus<shop> bus;
    std::vector<std::string> seen;
    {
        auto a = bus.subscribe<order_created>(
            [&](const order_created& e) { seen.push_back("a" + e.id); });
        auto b = bus.subscribe<order_created>(
            [&](const order_created& e) { seen.push_back("b" + e.id); });
        CHECK(bus.subscriber_count<order_created>() == 2);
        CHECK(bus.publish(order_created{"1", 9.9}) == 2);
        CHECK(bus.publish(payment_processed{"1"}) == 0);
        CHECK(a.active());
        CHECK(a.unsubscribe());
        CHECK(!a.unsubscribe());
        CHECK(!a.active());
        order_created o{"2", 1};
        CHECK(bus.publish(o) == 1);
    }
    CHECK(bus.subscriber_count<order_created>() == 0);
    CHECK(bus.publish<order_created>({"3", 1}) == 0); // braced message, topic named
    CHECK(seen == std::vector<std::string>{"a1", "b1", "b2"});
}

TEST_CASE("handlers may ask for the envelope", "[channel][bus][envelope]") {
    bulwark::bus<shop> bus;
    bulwark::message_id seen_id, seen_corr;
    std::string tenant;
    auto s = bus.subscribe<order_created>([&](const bulwark::envelope<order_created>& e) {
        seen_id = e.id();
        seen_corr = e.correlation_id();
        tenant = std::string(e.headers().get("tenant").value_or(""));
        CHECK(e.message().id == "o-1");
    });
    bus.publish(order_created{"o-1", 1});
    CHECK(!seen_id.is_nil());
    CHECK(seen_corr == seen_id);

    bulwark::message_metadata md;
    md.headers.set("tenant", "acme");
    bus.publish(order_created{"o-1", 1}, std::move(md));
    CHECK(tenant == "acme");

    // causation: a handler publishing a follow-up message
    bulwark::message_metadata parent;
    bulwark::stamp(parent);
    bus.publish(order_created{"o-1", 1}, bulwark::caused_by(parent));
    CHECK(seen_corr == parent.correlation_id);
}

TEST_CASE("static subscribers are called inline, before dynamic ones", "[channel][bus]") {
    g_static_calls = 0;
    bulwark::bus<shop, bulwark::multi_threaded, bulwark::static_subscribers<audit, audit_envelope>>
        bus;
    CHECK(bus.publish(order_created{"1", 1}) == 1);
    CHECK(g_static_calls == 1);
    CHECK(bus.publish(payment_processed{"1"}) == 1);
    CHECK(g_static_calls == 11);
}

TEST_CASE("publishing allocates nothing", "[channel][bus]") {
    bulwark::bus<shop> bus;
    int n = 0;
    auto a = bus.subscribe<order_created>([&](const order_created&) { ++n; });
    auto b = bus.subscribe<order_created>([&](const bulwark::envelope<order_created>&) { ++n; });
    order_created o{"a-rather-long-order-id-that-does-not-fit-sso", 1};
    bus.publish(o); // warms this thread's hazard record and id prefix
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        bus.publish(o);
    CHECK(scope.count() == 0);
    CHECK(n == 202);
}

TEST_CASE("single_threaded bus publishes without allocating", "[channel][bus]") {
    bulwark::bus<shop, bulwark::single_threaded> bus;
    int n = 0;
    auto a = bus.subscribe<order_created>([&](const order_created&) { ++n; });
    order_created o{"1", 1};
    bulwark::test::alloc_scope scope;
    bus.publish(o);
    CHECK(scope.count() == 0);
    CHECK(n == 1);
}

template <class Policy>
void reentrancy_checks() {
    bulwark::bus<shop, Policy> bus;
    std::vector<int> calls;
    bulwark::subscription self;
    bulwark::subscription added;
    self = bus.template subscribe<order_created>([&](const order_created&) {
        calls.push_back(1);
        self.unsubscribe(); // unsubscribing itself from inside the handler
        added = bus.template subscribe<order_created>(
            [&](const order_created&) { calls.push_back(3); });
        bus.publish(payment_processed{"x"}); // nested publish
    });
    auto other =
        bus.template subscribe<order_created>([&](const order_created&) { calls.push_back(2); });
    auto pay = bus.template subscribe<payment_processed>(
        [&](const payment_processed&) { calls.push_back(9); });
    bus.publish(order_created{"1", 1});
    // the snapshot taken at publish time runs: 1 (then 9 nested), 2; the new handler next time
    CHECK(calls == std::vector<int>{1, 9, 2});
    calls.clear();
    bus.publish(order_created{"2", 1});
    CHECK(calls == std::vector<int>{2, 3});
}

TEST_CASE("handlers may unsubscribe themselves, subscribe and publish re-entrantly",
          "[channel][bus]") {
    reentrancy_checks<bulwark::multi_threaded>();
    reentrancy_checks<bulwark::single_threaded>();
}

TEST_CASE("a handler unsubscribed during a publish is not called afterwards", "[channel][bus]") {
    bulwark::bus<shop> bus;
    bulwark::subscription second;
    int second_calls = 0;
    auto first = bus.subscribe<order_created>([&](const order_created&) { second.unsubscribe(); });
    second = bus.subscribe<order_created>([&](const order_created&) { ++second_calls; });
    bus.publish(order_created{"1", 1});
    CHECK(second_calls == 0);
}

TEST_CASE("handler exceptions propagate to the publisher", "[channel][bus]") {
    bulwark::bus<shop> bus;
    int after = 0;
    auto a = bus.subscribe<order_created>(
        [](const order_created&) { throw std::runtime_error("boom"); });
    auto b = bus.subscribe<order_created>([&](const order_created&) { ++after; });
    CHECK_THROWS_AS(bus.publish(order_created{"1", 1}), std::runtime_error);
    CHECK(after == 0);
    a.unsubscribe();
    CHECK(bus.publish(order_created{"1", 1}) == 1); // the hazard slot was released
}

TEST_CASE("nested publishes take and give back their hazard slots, also through exceptions",
          "[channel][bus]") {
    bulwark::bus<shop> bus;
    int depth = 0;
    int deepest = 0;
    int throw_at = 0;
    auto s = bus.subscribe<order_created>([&](const order_created& o) {
        ++depth;
        deepest = std::max(deepest, depth);
        struct leave {
            int& d;
            ~leave() { --d; }
        } guard{depth};
        if (depth == throw_at)
            throw std::runtime_error("deep");
        if (depth < static_cast<int>(o.total))
            bus.publish(o);
    });
    // 64 nested publishes fit (one hazard slot each); the 65th is refused with a clear error.
    CHECK(bus.publish(order_created{"1", 64}) == 1);
    CHECK(deepest == 64);
    deepest = 0;
    CHECK_THROWS_AS(bus.publish(order_created{"1", 65}), std::length_error);
    CHECK(deepest == 64);
    // A throw 10 levels down unwinds every level and frees its slot: 64 levels fit again.
    throw_at = 10;
    CHECK_THROWS_AS(bus.publish(order_created{"1", 64}), std::runtime_error);
    CHECK(depth == 0);
    throw_at = 0;
    deepest = 0;
    CHECK(bus.publish(order_created{"1", 64}) == 1);
    CHECK(deepest == 64);
    // A slot is freed by whichever level ends: publishing to an empty topic inside a handler
    // (which protects nothing) does not disturb the level that holds a snapshot.
    bulwark::bus<shop> other;
    int inner = 0;
    auto t = other.subscribe<order_created>([&](const order_created&) {
        ++inner;
        other.publish(payment_processed{"none"}); // no handlers: nothing to protect
        other.publish(payment_processed{"none"});
    });
    auto u = other.subscribe<order_created>([&](const order_created&) { ++inner; });
    CHECK(other.publish(order_created{"1", 1}) == 2);
    CHECK(inner == 2);
}

TEST_CASE("a subscription may outlive its bus; release keeps a handler", "[channel][bus]") {
    bulwark::subscription s;
    {
        bulwark::bus<shop> bus;
        s = bus.subscribe<order_created>([](const order_created&) {});
        auto kept = bus.subscribe<order_created>([](const order_created&) {});
        kept.release();
        CHECK(bus.subscriber_count<order_created>() == 2);
    }
    CHECK(!s.active());
    CHECK(!s.unsubscribe());
}

TEST_CASE("concurrent publish, subscribe and unsubscribe", "[channel][bus][concurrency]") {
    bulwark::bus<shop> bus;
    std::atomic<long> delivered{0};
    std::atomic<bool> stop{false};
    std::atomic<int> still_active{0};
    auto base = bus.subscribe<order_created>(
        [&](const order_created&) { delivered.fetch_add(1, std::memory_order_relaxed); });
    std::vector<std::thread> threads;
    for (int p = 0; p < 8; ++p)
        threads.emplace_back([&] {
            order_created o{"x", 1};
            for (int i = 0; i < 20000; ++i)
                bus.publish(o);
        });
    for (int c = 0; c < 3; ++c)
        threads.emplace_back([&] {
            while (!stop.load()) {
                auto s = bus.subscribe<order_created>([&](const order_created&) {});
                // A handler that unsubscribes itself when its own thread publishes (a subscription
                // object, like a unique_ptr, belongs to one thread).
                bulwark::subscription self;
                auto owner = std::this_thread::get_id();
                self = bus.subscribe<order_created>([&self, owner](const order_created&) {
                    if (std::this_thread::get_id() == owner)
                        self.unsubscribe();
                });
                bus.publish(order_created{"y", 2});
                if (self.active())
                    still_active.fetch_add(1); // Catch2 assertions are not thread-safe
                std::this_thread::yield();
            }
        });
    for (int p = 0; p < 8; ++p)
        threads[static_cast<std::size_t>(p)].join();
    stop = true;
    for (std::size_t c = 8; c < threads.size(); ++c)
        threads[c].join();
    CHECK(delivered.load() >= 8 * 20000);
    CHECK(bus.subscriber_count<order_created>() == 1);
    CHECK(still_active.load() == 0);
}
