#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/health.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/pipeline.hpp>

#include "balance/helpers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

using balance_test::endpoints;

namespace {
template <class Strategy>
void hammer(Strategy strategy) {
    bulwark::registry reg(endpoints(8),
                          {.outlier = bulwark::outlier_options{.consecutive_failures = 3}});
    auto client = bulwark::pipeline{bulwark::balance<Strategy>{reg, std::move(strategy)}};
    std::atomic<bool> stop{false};
    std::atomic<long> updates{0};
    std::atomic<long> calls{0};
    std::vector<std::thread> pickers;
    std::latch start(4); // three pickers and the updater start together
    for (int t = 0; t < 3; ++t) {
        pickers.emplace_back([&, t] {
            start.arrive_and_wait();
            // Until both enough calls and enough membership changes overlapped.
            for (int i = 0; i < 10000 || updates.load() < 20; ++i) {
                bulwark::context ctx;
                ctx.set_hash_key(static_cast<std::uint64_t>(i * 7 + t));
                (void)client.try_execute(
                    [&](bulwark::context& c) -> bulwark::outcome<int> {
                        // Endpoints whose address ends in 1 fail: outlier ejection publishes too.
                        if (c.endpoint()->address().back() == '1')
                            return bulwark::errc::transport_error;
                        return 1;
                    },
                    ctx);
                calls.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::thread updater([&] {
        start.arrive_and_wait();
        for (std::size_t round = 0; !stop.load(); ++round, ++updates) {
            reg.update(endpoints(4 + round % 8)); // membership churn
            (void)reg.healthy();
            (void)reg.in_zone("east");
        }
    });
    for (auto& t : pickers)
        t.join();
    stop = true;
    updater.join();
    CHECK(calls.load() >= 30000);
    CHECK(updates.load() >= 20);
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}
} // namespace

TEST_CASE("concurrent picks and registry updates", "[balance][concurrency]") {
    hammer(bulwark::p2c_peak_ewma{});
    hammer(bulwark::round_robin{});
    hammer(bulwark::weighted_round_robin{});
    hammer(bulwark::ring_hash{{.balance_factor = 1.5}});
    hammer(bulwark::maglev{{.table_size = 4099}});
}

TEST_CASE("concurrent picks while health checks flip endpoints", "[balance][concurrency][health]") {
    bulwark::registry reg(endpoints(6));
    std::atomic<unsigned> flips{0};
    auto probe = [&](const bulwark::endpoint& e, bulwark::context&) {
        // Odd rounds take e1 and e2 down, even rounds bring them back.
        return (flips.load() % 2 == 0) || (e.address() != "e1" && e.address() != "e2");
    };
    bulwark::health_checker checker(reg, probe, {.healthy_threshold = 1, .unhealthy_threshold = 1});
    auto client = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{reg}};
    std::atomic<bool> stop{false};
    std::latch start(3);
    std::thread checks([&] {
        start.arrive_and_wait();
        while (!stop.load()) {
            flips.fetch_add(1);
            checker.check_now();
        }
    });
    std::vector<std::thread> pickers;
    std::atomic<long> no_endpoint{0};
    for (int t = 0; t < 2; ++t)
        pickers.emplace_back([&] {
            start.arrive_and_wait();
            for (int i = 0; i < 20000 || flips.load() < 20; ++i) {
                auto o =
                    client.try_execute([](bulwark::context& c) { return c.endpoint()->weight(); });
                if (!o.has_value())
                    no_endpoint.fetch_add(1);
            }
        });
    for (auto& t : pickers)
        t.join();
    stop = true;
    checks.join();
    CHECK(no_endpoint.load() == 0); // at least 4 of 6 are always healthy
    for (const auto& e : reg.endpoints())
        CHECK(e->outstanding() == 0);
}

TEST_CASE("read sections never see a freed snapshot while updates race",
          "[balance][concurrency][registry]") {
    // Readers walk whole snapshots (every endpoint's address) in tight loops while a writer
    // replaces the set as fast as it can: under ASan/TSan a reclamation bug shows up here.
    bulwark::registry reg(endpoints(8));
    std::atomic<int> running{3};
    std::atomic<std::size_t> seen{0}; // Catch assertions are not thread-safe: check after join
    std::atomic<long> updates{0};
    std::latch start(4);
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&] {
            start.arrive_and_wait();
            std::size_t sum = 0;
            for (int i = 0; i < 20000 || updates.load() < 50; ++i) {
                auto r = reg.read();
                for (const bulwark::endpoint* e : r->ready())
                    sum += e->address().size();
            }
            seen.fetch_add(sum);
            running.fetch_sub(1);
        });
    std::thread writer([&] {
        start.arrive_and_wait();
        for (std::size_t round = 0; running.load() != 0; ++round, ++updates)
            reg.update(endpoints(1 + round % 9));
    });
    for (auto& t : readers)
        t.join();
    writer.join();
    CHECK(updates.load() >= 50);
    CHECK(seen.load() > 0);
}

TEST_CASE("read sections nest, span two registries, and survive reader threads coming and going",
          "[balance][concurrency][registry]") {
    // The read sections of every registry share one process-wide domain (read_epoch.hpp): a
    // nested section of another registry must keep the outer one open, and a thread that exits
    // must leave the writer's reader list (else the writer would wait on a dead record).
    std::printf("registry read sections: %s fence\n",
                bulwark::detail::rcu_domain::instance().current_mode() ==
                        bulwark::detail::rcu_domain::asymmetric
                    ? "asymmetric (membarrier)"
                    : "symmetric (seq_cst)");
    bulwark::registry a(endpoints(4)), b(endpoints(5));
    std::atomic<int> running{0};
    std::atomic<long> updates{0};
    std::atomic<std::size_t> seen{0};
    std::atomic<bool> go{true};
    std::thread writer([&] {
        for (std::size_t round = 0; go.load(); ++round, ++updates) {
            a.update(endpoints(1 + round % 7));
            b.update(endpoints(2 + round % 5));
        }
    });
    for (int wave = 0; wave < 20; ++wave) { // short-lived reader threads
        std::vector<std::thread> readers;
        for (int t = 0; t < 2; ++t)
            readers.emplace_back([&] {
                ++running;
                std::size_t sum = 0;
                for (int i = 0; i < 500; ++i) {
                    auto outer = a.read();
                    {
                        auto inner = b.read();
                        for (const bulwark::endpoint* e : inner->ready())
                            sum += e->address().size();
                    }
                    for (const bulwark::endpoint* e : outer->ready()) // outer still protected
                        sum += e->address().size();
                }
                seen.fetch_add(sum);
                --running;
            });
        for (auto& t : readers)
            t.join();
    }
    while (updates.load() < 40)
        std::this_thread::yield();
    go = false;
    writer.join();
    CHECK(running.load() == 0);
    CHECK(seen.load() > 0);
    CHECK(updates.load() >= 40);
}

TEST_CASE("a writer waits for every open section, however deep and in whatever order they end",
          "[balance][concurrency][registry]") {
    // 20 sections of one registry on one thread (past a reader record's 8 entries: extra
    // records), plus sections of another registry between them. A writer replaces the snapshot:
    // once it has published, every old snapshot must stay readable (ASan would see a free)
    // until the last section ends; sections end out of order, and freed entries are reused.
    bulwark::registry a(endpoints(4)), b(endpoints(3));
    const auto v0 = a.version();
    std::vector<std::unique_ptr<bulwark::registry::reader>> open;
    for (int i = 0; i < 20; ++i) {
        open.push_back(std::make_unique<bulwark::registry::reader>(a));
        if (i % 5 == 0)
            open.push_back(std::make_unique<bulwark::registry::reader>(b));
    }
    std::thread writer([&] { a.update(endpoints(6)); });
    while (a.version() == v0) // published: the writer now waits for the open sections
        std::this_thread::yield();
    std::size_t sum = 0;
    for (const auto& r : open)
        for (const bulwark::endpoint* e : (*r)->ready())
            sum += e->address().size();
    CHECK(sum == 20 * 4 * 2 + 4 * 3 * 2);            // "e0".."e3" in a's, "e0".."e2" in b's
    for (std::size_t i = 0; i < open.size(); i += 2) // every other one ends first
        open[i].reset();
    {
        auto fresh = a.read(); // takes a freed entry; sees the new snapshot
        CHECK(fresh->all().size() == 6);
    }
    for (const auto& r : open)
        if (r)
            CHECK((*r)->all().size() != 6); // still the old snapshots (4 or b's 3)
    open.clear();
    writer.join();
    CHECK(a.size() == 6);
}
