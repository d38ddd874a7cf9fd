#include <bulwark/channel/queue.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("bounded queues round capacity up and keep FIFO order", "[channel][queue]") {
    bulwark::mpmc_queue<int> q(3);
    REQUIRE(q.capacity() == 4);
    for (int i = 0; i < 4; ++i)
        REQUIRE(q.try_push(i) == bulwark::push_status::ok);
    int extra = 9;
    REQUIRE(q.try_push(extra) == bulwark::push_status::full);
    for (int i = 0; i < 4; ++i)
        REQUIRE(q.try_pop() == i);
    REQUIRE_FALSE(q.try_pop());
    REQUIRE(bulwark::mpsc_queue<int>(1).capacity() == 2);
}

TEST_CASE("a failed push leaves the value untouched", "[channel][queue]") {
    bulwark::mpsc_queue<std::unique_ptr<int>> q(2);
    REQUIRE(q.try_push(std::make_unique<int>(1)) == bulwark::push_status::ok);
    REQUIRE(q.try_push(std::make_unique<int>(2)) == bulwark::push_status::ok);
    auto v = std::make_unique<int>(3);
    REQUIRE(q.try_push(std::move(v)) == bulwark::push_status::full);
    REQUIRE(v);
    REQUIRE(*v == 3);
}

TEST_CASE("close counts exactly what was accepted and refuses later pushes", "[channel][queue]") {
    bulwark::mpmc_queue<std::string> q(8);
    REQUIRE(q.try_push(std::string("a")) == bulwark::push_status::ok);
    REQUIRE(q.try_push(std::string("b")) == bulwark::push_status::ok);
    REQUIRE(q.close() == 2);
    REQUIRE(q.closed());
    REQUIRE(q.try_push(std::string("c")) == bulwark::push_status::closed);
    REQUIRE(*q.try_pop() == "a"); // what was accepted can still be taken
    REQUIRE(*q.try_pop() == "b");
    REQUIRE(q.pushed() == 2);
    REQUIRE(q.popped() == 2);
}

TEST_CASE("the queue destroys what is left in it", "[channel][queue]") {
    auto token = std::make_shared<int>(0);
    {
        bulwark::mpmc_queue<std::shared_ptr<int>> q(4);
        REQUIRE(q.try_push(token) == bulwark::push_status::ok);
        REQUIRE(token.use_count() == 2);
    }
    REQUIRE(token.use_count() == 1);
}

TEST_CASE("push and pop allocate nothing", "[channel][queue]") {
    bulwark::mpmc_queue<int> q(64);
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(q.try_push(i) == bulwark::push_status::ok);
        REQUIRE(q.try_pop() == i);
    }
    REQUIRE(scope.count() == 0);
}

TEST_CASE("mpmc queue: 4 producers, 4 consumers, nothing lost or duplicated",
          "[channel][queue][concurrency]") {
    constexpr int per_producer = 20000;
    bulwark::mpmc_queue<int> q(256);
    std::vector<std::atomic<int>> seen(4 * per_producer);
    std::atomic<int> consumed{0};
    {
        std::vector<std::jthread> threads;
        for (int p = 0; p < 4; ++p)
            threads.emplace_back([&, p] {
                for (int i = 0; i < per_producer; ++i)
                    while (q.try_push(p * per_producer + i) != bulwark::push_status::ok)
                        std::this_thread::yield();
            });
        for (int c = 0; c < 4; ++c)
            threads.emplace_back([&] {
                while (consumed.load() < 4 * per_producer) {
                    if (auto v = q.try_pop()) {
                        seen[static_cast<std::size_t>(*v)].fetch_add(1); // values are >= 0
                        consumed.fetch_add(1);
                    } else {
                        std::this_thread::yield();
                    }
                }
            });
    }
    for (auto& s : seen)
        REQUIRE(s.load() == 1);
}

TEST_CASE("mpsc queue keeps each producer's order", "[channel][queue][concurrency]") {
    constexpr int per_producer = 20000;
    bulwark::mpsc_queue<std::pair<int, int>> q(128);
    std::vector<int> last(3, -1);
    {
        std::vector<std::jthread> producers;
        for (int p = 0; p < 3; ++p)
            producers.emplace_back([&, p] {
                for (int i = 0; i < per_producer; ++i)
                    while (q.try_push(std::pair{p, i}) != bulwark::push_status::ok)
                        std::this_thread::yield();
            });
        int got = 0;
        while (got < 3 * per_producer) {
            if (auto v = q.try_pop()) {
                const auto producer = static_cast<std::size_t>(v->first); // 0..2
                REQUIRE(v->second == last[producer] + 1);
                last[producer] = v->second;
                ++got;
            } else {
                std::this_thread::yield();
            }
        }
    }
    REQUIRE(last == std::vector<int>{per_producer - 1, per_producer - 1, per_producer - 1});
}
