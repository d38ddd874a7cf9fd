#include <bulwark/policy/retry_budget.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
int withdraw_all(const bulwark::retry_budget& b, int limit = 100'000) {
    int n = 0;
    while (n < limit && b.try_withdraw())
        ++n;
    return n;
}
} // namespace

TEST_CASE("retry_budget: the reserve allows min_per_second x ttl retries without traffic",
          "[policy][retry_budget]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0.2, .min_per_second = 10, .ttl = 10s, .clock = clock};
    CHECK(b.balance() == Approx(100));
    CHECK(withdraw_all(b) == 100); // the 101st is refused
    CHECK_FALSE(b.try_withdraw());
    clock.advance(5s); // withdrawals are still live
    CHECK_FALSE(b.try_withdraw());
    clock.advance(5s); // ... until ttl has passed
    CHECK(withdraw_all(b) == 100);
}

TEST_CASE("retry_budget: each call deposits, each retry withdraws 1/ratio",
          "[policy][retry_budget]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0.2, .min_per_second = 0, .clock = clock};
    CHECK_FALSE(b.try_withdraw());
    for (int i = 0; i < 50; ++i)
        b.deposit();
    CHECK(b.balance() == Approx(10));
    CHECK(withdraw_all(b) == 10); // 20 % of 50 calls
    // A ratio that tower's integer 1/ratio would round (0.3 -> 33 %) stays exact here.
    bulwark::retry_budget c{.ratio = 0.3, .min_per_second = 0, .clock = clock};
    for (int i = 0; i < 1000; ++i)
        c.deposit();
    CHECK(withdraw_all(c) == 300);
}

TEST_CASE("retry_budget: deposits expire after ttl", "[policy][retry_budget]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0.5, .min_per_second = 0, .ttl = 10s, .clock = clock};
    for (int i = 0; i < 10; ++i)
        b.deposit();
    clock.advance(9s);
    CHECK(b.balance() == Approx(5)); // still inside ttl
    clock.advance(1s);
    CHECK(b.balance() == Approx(0));
    CHECK_FALSE(b.try_withdraw());
    // Deposits spread over time expire slot by slot.
    for (int s = 0; s < 10; ++s) {
        b.deposit();
        b.deposit();
        clock.advance(1s);
    }
    CHECK(b.balance() == Approx(9)); // the first second's deposits have expired
}

TEST_CASE("retry_budget: expired deposits stay expired after a long idle time",
          "[policy][retry_budget]") {
    // Regression (issue 9): slot epochs were 16 bits, so after 2^16 idle windows (1 h 49 min at
    // ttl 1 s) the old deposits counted again for one ttl.
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0.1, .min_per_second = 0, .ttl = 1s, .clock = clock};
    for (int i = 0; i < 100; ++i)
        b.deposit();
    CHECK(b.balance() == Approx(10));
    clock.advance(2s);
    CHECK(b.balance() == 0);
    clock.advance(100ms * 65536 - 2s);
    CHECK(b.balance() == 0);
    clock.advance(100ms * 65536 * 3);
    CHECK(b.balance() == 0);
    // Traffic on other slots does not revive a slot written 2^16 windows ago either.
    b.deposit();
    clock.advance(300ms);
    CHECK(b.balance() == Approx(0.1));
}

TEST_CASE("retry_budget: ratio 0 retries only from the reserve", "[policy][retry_budget]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0, .min_per_second = 1, .ttl = 2s, .clock = clock};
    for (int i = 0; i < 1000; ++i)
        b.deposit();
    CHECK(withdraw_all(b) == 2);
}

TEST_CASE("retry_budget: copies share one bucket", "[policy][retry_budget]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget a{.ratio = 0.2, .min_per_second = 1, .ttl = 5s, .clock = clock};
    bulwark::retry_budget b = a;
    CHECK(withdraw_all(a) == 5);
    CHECK_FALSE(b.try_withdraw());
}

TEST_CASE("concurrency_budget: active retries <= max(min, ratio x active calls)",
          "[policy][retry_budget]") {
    bulwark::concurrency_budget cb{.ratio = 0.2, .min_concurrency = 3};
    bulwark::any_retry_budget b = cb;
    for (int i = 0; i < 10; ++i)
        b.begin_call();
    CHECK(b.try_begin_retry());
    CHECK(b.try_begin_retry());
    CHECK(b.try_begin_retry());
    CHECK_FALSE(b.try_begin_retry()); // max(3, 0.2 * 10) = 3
    b.end_retry();
    CHECK(b.try_begin_retry());
    for (int i = 0; i < 90; ++i)
        b.begin_call();
    int more = 0;
    while (b.try_begin_retry())
        ++more;
    CHECK(more == 17); // 0.2 * 100 = 20 in all
    CHECK(cb.active_retries() == 20);
    CHECK(cb.active_calls() == 100);
}

TEST_CASE("grpc_throttle: retries stop while tokens <= max_tokens / 2", "[policy][retry_budget]") {
    bulwark::grpc_throttle g{.max_tokens = 10, .token_ratio = 0.1};
    bulwark::any_retry_budget b = g;
    CHECK(g.tokens() == Approx(10));
    for (int i = 0; i < 4; ++i)
        b.record_attempt(true);
    CHECK(b.try_begin_retry()); // 6 > 5
    b.record_attempt(true);
    CHECK(g.tokens() == Approx(5));
    CHECK_FALSE(b.try_begin_retry()); // 5 <= 5
    b.record_attempt(false);
    CHECK(g.tokens() == Approx(5.1));
    CHECK(b.try_begin_retry());
    for (int i = 0; i < 100; ++i)
        b.record_attempt(false);
    CHECK(g.tokens() == Approx(10)); // capped at max
    for (int i = 0; i < 100; ++i)
        b.record_attempt(true);
    CHECK(g.tokens() == Approx(0)); // floored at 0
}

TEST_CASE("no budget allows every retry", "[policy][retry_budget]") {
    bulwark::any_retry_budget b;
    CHECK(b.empty());
    b.begin_call();
    for (int i = 0; i < 1000; ++i)
        CHECK(b.try_begin_retry());
}

TEST_CASE("bad budget settings are rejected at construction", "[policy][retry_budget]") {
    using Catch::Contains;
    CHECK_THROWS_AS((bulwark::retry_budget{.ratio = 1.5}), bulwark::invalid_argument_error);
    CHECK_THROWS_WITH((bulwark::retry_budget{.ratio = 1.5}),
                      Contains("retry_budget: ratio must be 0 or in [1e-6, 1] (got 1.5)"));
    CHECK_THROWS_WITH((bulwark::retry_budget{.ratio = -0.1}),
                      Contains("ratio must be 0 or in [1e-6, 1] (got -0.1)"));
    CHECK_THROWS_WITH((bulwark::retry_budget{.min_per_second = -1}),
                      Contains("min_per_second must be in [0, 1e6] (got -1)"));
    CHECK_THROWS_WITH((bulwark::retry_budget{.ttl = 500ms}),
                      Contains("ttl must be in [1s, 60s] (got 500000000ns)"));
    CHECK_THROWS_WITH((bulwark::retry_budget{.ttl = -1s}), Contains("ttl must be in [1s, 60s]"));
    CHECK_THROWS_WITH((bulwark::concurrency_budget{.ratio = 2}),
                      Contains("bulwark::concurrency_budget: ratio must be in [0, 1] (got 2)"));
    CHECK_THROWS_WITH((bulwark::grpc_throttle{.max_tokens = 0}), Contains("max_tokens"));
    CHECK_THROWS_WITH((bulwark::grpc_throttle{.max_tokens = 1001}), Contains("max_tokens"));
    CHECK_THROWS_WITH((bulwark::grpc_throttle{.token_ratio = 0}), Contains("token_ratio"));
}

TEST_CASE("retry_budget stays within its bounds under concurrent use",
          "[policy][retry_budget][concurrency]") {
    bulwark::manual_clock clock;
    bulwark::retry_budget b{.ratio = 0.1, .min_per_second = 1, .ttl = 10s, .clock = clock};
    constexpr int threads = 4, calls = 5000;
    std::atomic<int> withdrawn{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < calls; ++i) {
                b.deposit();
                if (b.try_withdraw())
                    withdrawn.fetch_add(1, std::memory_order_relaxed);
            }
        });
    for (auto& th : pool)
        th.join();
    // reserve 10 + 10 % of 20 000 deposits = 2010; racing withdrawers may overdraw by one each.
    CHECK(withdrawn.load() <= 2010 + threads);
    CHECK(withdrawn.load() >= 2010 - threads - 1); // what the last deposits left unspent
}

TEST_CASE("concurrency_budget never lets active retries pass its limit",
          "[policy][retry_budget][concurrency]") {
    bulwark::concurrency_budget cb{.ratio = 0.0, .min_concurrency = 2};
    bulwark::any_retry_budget b = cb;
    std::atomic<int> inside{0}, worst{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                b.begin_call();
                if (b.try_begin_retry()) {
                    int now = inside.fetch_add(1) + 1;
                    int w = worst.load();
                    while (now > w && !worst.compare_exchange_weak(w, now))
                        ;
                    inside.fetch_sub(1);
                    b.end_retry();
                }
                b.end_call();
            }
        });
    for (auto& th : pool)
        th.join();
    CHECK(worst.load() <= 2);
    CHECK(cb.active_calls() == 0);
    CHECK(cb.active_retries() == 0);
}
