#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/idempotent.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace {
struct order {
    bulwark::message_id id;
    int amount = 0;
};
constexpr auto order_id = [](const order& o) { return o.id; };
} // namespace

TEST_CASE("dedupe_window remembers the last N ids", "[channel][idempotent]") {
    bulwark::dedupe_window<int> w(3);
    REQUIRE(w.first_seen(1));
    REQUIRE(w.first_seen(2));
    REQUIRE_FALSE(w.first_seen(1));
    REQUIRE(w.first_seen(3));
    REQUIRE(w.first_seen(4)); // evicts 1
    REQUIRE_FALSE(w.contains(1));
    REQUIRE(w.first_seen(1)); // evicts 2
    REQUIRE_FALSE(w.first_seen(3));
    REQUIRE(w.size() == 3);
    REQUIRE(w.duplicates() == 2);
    REQUIRE_THROWS_AS(bulwark::dedupe_window<int>(0), bulwark::invalid_argument_error);
}

TEST_CASE("dedupe_window agrees with a reference model", "[channel][idempotent]") {
    for (std::size_t cap : {1u, 2u, 7u, 64u}) {
        bulwark::dedupe_window<std::uint64_t> w(cap);
        std::deque<std::uint64_t> fifo;
        std::set<std::uint64_t> in;
        std::mt19937_64 rng(cap);
        for (int i = 0; i < 20000; ++i) {
            std::uint64_t id = rng() % (cap * 3 + 1);
            bool expect_first = !in.count(id);
            if (expect_first) {
                if (fifo.size() == cap) {
                    in.erase(fifo.front());
                    fifo.pop_front();
                }
                fifo.push_back(id);
                in.insert(id);
            }
            REQUIRE(w.first_seen(id) == expect_first);
        }
    }
}

TEST_CASE("idempotent consumer drops duplicates by message id", "[channel][idempotent]") {
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1024);
    std::atomic<int> total{0};
    bulwark::async_channel<order> ch(
        bulwark::idempotent<order>([&](const order& o) { total += o.amount; }, window, order_id));
    auto a = bulwark::message_id::generate(), b = bulwark::message_id::generate();
    REQUIRE_FALSE(ch.publish(order{a, 10}));
    REQUIRE_FALSE(ch.publish(order{a, 10})); // duplicate
    REQUIRE_FALSE(ch.publish(order{b, 5}));
    REQUIRE_FALSE(ch.publish(order{a, 10})); // duplicate
    ch.drain();
    REQUIRE(total == 15);
    REQUIRE(window->duplicates() == 2);
    REQUIRE(ch.acked() == 4); // duplicates are acked, not dead-lettered
}

TEST_CASE("a redelivered message is not dropped as a duplicate (MassTransit #4688)",
          "[channel][idempotent][delivery]") {
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(16);
    std::vector<std::uint32_t> attempts;
    bulwark::dead_letter_box<order> dead;
    bulwark::async_channel<order> ch(
        bulwark::idempotent<order>(
            [&](bulwark::delivery<order>& d) {
                attempts.push_back(d.attempt());
                if (d.attempt() < 3)
                    throw std::runtime_error("transient");
                d.ack();
            },
            window, order_id),
        {.delivery = bulwark::at_least_once{.max_deliveries = 5}, .dead_letter = dead.sink()});
    auto id = bulwark::message_id::generate();
    REQUIRE_FALSE(ch.publish(order{id, 1}));
    ch.drain();
    REQUIRE(attempts == std::vector<std::uint32_t>{1, 2, 3});
    REQUIRE(window->duplicates() == 0);
    REQUIRE_FALSE(ch.publish(order{id, 1})); // a real duplicate afterwards is dropped
    ch.drain();
    REQUIRE(attempts.size() == 3);
    REQUIRE(window->duplicates() == 1);
    REQUIRE(dead.size() == 0);
}

TEST_CASE("idempotent consumer under concurrent consumers", "[channel][idempotent][concurrency]") {
    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(4096);
    std::atomic<int> handled{0};
    bulwark::async_channel<order> ch(
        bulwark::idempotent<order>([&](const order&) { ++handled; }, window, order_id),
        {.capacity = 256, .consumers = 3});
    std::vector<bulwark::message_id> ids(1000);
    for (auto& id : ids)
        id = bulwark::message_id::generate();
    for (int copy = 0; copy < 3; ++copy)
        for (auto& id : ids)
            REQUIRE_FALSE(ch.publish(order{id, 1}));
    ch.drain();
    REQUIRE(handled == 1000);
    REQUIRE(window->duplicates() == 2000);
}
