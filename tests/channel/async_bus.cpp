#include <bulwark/channel/async_bus.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {
// The in-process async_bus routes by type and never reads `subject` (a wire transport does), so
// clang's -Wunused-const-variable would flag these members of types with internal linkage.
struct shipment_created {
    [[maybe_unused]] static constexpr std::string_view subject = "shipments.created";
    int id = 0;
    int key = 0;
};
struct shipment_lost {
    [[maybe_unused]] static constexpr std::string_view subject = "shipments.lost";
    std::string why;
};
using ship_topics = bulwark::topics<shipment_created, shipment_lost>;
} // namespace

TEST_CASE("async_bus routes each type to its topic's consumers", "[channel][async_bus]") {
    bulwark::async_bus<ship_topics> bus;
    std::atomic<int> created{0};
    std::mutex m;
    std::vector<std::string> lost;
    std::atomic<int> nil_ids{0};
    auto sub1 = bus.subscribe<shipment_created>([&](const shipment_created& s) { created += s.id; },
                                                {.consumers = 2});
    auto sub2 = bus.subscribe<shipment_lost>([&](const bulwark::envelope<shipment_lost>& e) {
        if (e.id().is_nil()) // stamped at publish
            ++nil_ids;
        std::lock_guard lock(m);
        lost.push_back(e.message().why);
    });
    for (int i = 1; i <= 100; ++i)
        REQUIRE_FALSE(bus.publish(shipment_created{i}));
    REQUIRE_FALSE(bus.publish(shipment_lost{"storm"}));
    bus.drain();
    REQUIRE(created == 5050);
    REQUIRE(lost == std::vector<std::string>{"storm"});
    REQUIRE(nil_ids == 0);
    REQUIRE(bus.channel<shipment_created>()->acked() == 100);
}

TEST_CASE("async_bus: no consumer group means no_responders; closed means channel_closed",
          "[channel][async_bus]") {
    bulwark::async_bus<ship_topics> bus;
    REQUIRE(bus.publish(shipment_lost{"x"}) == bulwark::errc::no_responders);
    REQUIRE(bus.channel<shipment_lost>() == nullptr);
    auto sub3 = bus.subscribe<shipment_created>([](const shipment_created&) {});
    REQUIRE_THROWS_AS(bus.subscribe<shipment_created>([](const shipment_created&) {}),
                      bulwark::invalid_argument_error);
    bus.close();
    REQUIRE(bus.publish(shipment_created{1}) == bulwark::errc::channel_closed);
}

TEST_CASE("async_bus: subscribe after close() does not re-open the topic", "[channel][async_bus]") {
    bulwark::async_bus<ship_topics> bus;
    bus.close();
    std::atomic<int> handled{0};
    auto sub = bus.subscribe<shipment_created>([&](const shipment_created&) { ++handled; });
    CHECK_FALSE(sub.active());
    CHECK(bus.channel<shipment_created>() == nullptr);
    REQUIRE(bus.publish(shipment_created{1}) == bulwark::errc::channel_closed);
    // A topic subscribed before close stays closed too.
    bulwark::async_bus<ship_topics> bus2;
    auto sub2 = bus2.subscribe<shipment_lost>([](const shipment_lost&) {});
    bus2.close();
    auto sub3 = bus2.subscribe<shipment_created>([](const shipment_created&) {});
    REQUIRE(bus2.publish(shipment_created{2}) == bulwark::errc::channel_closed);
    REQUIRE(bus2.publish(shipment_lost{"y"}) == bulwark::errc::channel_closed);
    CHECK(handled.load() == 0);
}

TEST_CASE("async_bus: per-key order, redelivery, dead letters and dedupe together",
          "[channel][async_bus][delivery]") {
    bulwark::async_bus<ship_topics> bus;
    bulwark::dead_letter_box<bulwark::async_message<shipment_created>> dead;
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(256);
    std::vector<std::vector<int>> seen(4);
    auto sub4 = bus.subscribe<shipment_created>(
        [&](bulwark::bus_delivery<shipment_created>& d) {
            const auto& s = d.message().message;
            if (s.id < 0)
                return d.dead_letter("negative id");
            if (s.id == 7 && d.attempt() == 1)
                return d.nack("retry once");
            seen[static_cast<std::size_t>(s.key)].push_back(s.id);
            d.ack();
        },
        {.consumers = 4,
         .per_key_order = true,
         .delivery = bulwark::at_least_once{.max_deliveries = 3},
         .dead_letter = dead.sink()},
        window);
    bulwark::message_metadata dup;
    dup.id = bulwark::message_id::generate();
    for (int i = 0; i < 40; ++i)
        REQUIRE_FALSE(bus.publish(shipment_created{i, i % 4}, {.key = i % 4}));
    REQUIRE_FALSE(bus.publish(shipment_created{100, 0}, {.metadata = dup, .key = 0}));
    REQUIRE_FALSE(bus.publish(shipment_created{100, 0},
                              {.metadata = dup, .key = 0})); // duplicate id: dropped
    REQUIRE_FALSE(bus.publish(shipment_created{-1, 1}, {.key = 1}));
    bus.drain();
    for (int k = 0; k < 4; ++k) {
        std::vector<int> expect;
        for (int i = k; i < 40; i += 4)
            expect.push_back(i);
        if (k == 0)
            expect.push_back(100);
        REQUIRE(seen[static_cast<std::size_t>(k)] == expect); // 7 was redelivered in place
    }
    REQUIRE(window->duplicates() == 1);
    auto letters = dead.items();
    REQUIRE(letters.size() == 1);
    REQUIRE(letters[0].message.message.id == -1);
    REQUIRE(letters[0].reason == "negative id");
}

TEST_CASE("async_bus publish allocates nothing on the producer side",
          "[channel][async_bus][alloc]") {
    bulwark::async_bus<ship_topics> bus;
    std::atomic<long> sum{0};
    auto sub5 = bus.subscribe<shipment_created>([&](const shipment_created& s) { sum += s.id; },
                                                {.capacity = 1024});
    REQUIRE_FALSE(bus.publish(shipment_created{0}));
    bus.drain();
    bulwark::test::alloc_scope scope;
    for (int i = 1; i <= 500; ++i)
        REQUIRE_FALSE(bus.publish(shipment_created{i}));
    REQUIRE(scope.count() == 0);
    bus.drain();
    REQUIRE(sum == 500L * 501 / 2);
}

TEST_CASE("async_bus under concurrent publishers", "[channel][async_bus][concurrency]") {
    std::atomic<int> n{0}, errors{0};
    {
        bulwark::async_bus<ship_topics> bus;
        auto sub6 = bus.subscribe<shipment_created>([&](const shipment_created&) { ++n; },
                                                    {.capacity = 64, .consumers = 2});
        std::vector<std::jthread> producers;
        for (int p = 0; p < 3; ++p)
            producers.emplace_back([&] {
                for (int i = 0; i < 5000; ++i)
                    if (bus.publish(shipment_created{i}))
                        ++errors;
            });
        producers.clear();
    } // the destructor drains
    REQUIRE(errors == 0);
    REQUIRE(n == 15000);
}

TEST_CASE("async_bus: drain and wait_idle are barriers across topics (a later topic publishes "
          "to an earlier one)",
          "[channel][async_bus][concurrency]") {
    // Topics in list order: shipment_created, shipment_lost. The handler of the later topic
    // publishes to the earlier one, so a single pass in list order returns too early.
    for (int run = 0; run < 40; ++run) {
        bulwark::async_bus<ship_topics> bus;
        std::atomic<int> created{0};
        std::atomic<int> failed_publishes{0};
        auto a = bus.subscribe<shipment_created>([&](const shipment_created&) {
            for (int i = 0; i < 200; ++i) // a little work, so the race window is real
                std::this_thread::yield();
            created.fetch_add(1);
        });
        auto b = bus.subscribe<shipment_lost>([&](const shipment_lost&) {
            failed_publishes += bus.publish(shipment_created{1}) ? 1 : 0;
        });
        constexpr int n = 8;
        for (int i = 0; i < n; ++i)
            REQUIRE_FALSE(bus.publish(shipment_lost{"x"}));
        if (run % 2 == 0)
            bus.drain();
        else
            bus.wait_idle();
        INFO("run " << run);
        REQUIRE(failed_publishes.load() == 0);
        REQUIRE(created.load() == n);
    }
}

TEST_CASE("async_bus: subscribe returns the RAII subscription, as bus does",
          "[channel][async_bus]") {
    bulwark::async_bus<ship_topics> bus;
    std::atomic<int> n{0};
    {
        auto sub = bus.subscribe<shipment_created>([&](const shipment_created&) { ++n; });
        REQUIRE(sub.active());
        REQUIRE_FALSE(bus.publish(shipment_created{1}));
        REQUIRE_FALSE(bus.publish(shipment_created{2}, {.key = "customer-7"}));
    } // unsubscribes: the group handles what it accepted, then closes
    CHECK(n.load() == 2);
    CHECK(bus.publish(shipment_created{3}) == bulwark::errc::no_responders);
    auto again = bus.subscribe<shipment_created>([&](const shipment_created&) { n += 10; });
    REQUIRE_FALSE(bus.publish(shipment_created{4}));
    bus.drain();
    CHECK(n.load() == 12);
    CHECK(again.unsubscribe());
    CHECK_FALSE(again.unsubscribe());
}
