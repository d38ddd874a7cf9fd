#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using bulwark::breaker_state;

TEST_CASE("breaker_set makes one breaker per key on first use, with stable references",
          "[policy][breaker_set]") {
    bulwark::manual_clock clock;
    bulwark::breaker_set<std::string> set{
        {.consecutive_failures = 2, .open_for = 5s, .clock = clock}};
    CHECK(set.size() == 0);
    CHECK(set.find("a") == nullptr);
    bulwark::circuit_breaker& a = set["a"];
    bulwark::circuit_breaker& b = set.get("b");
    CHECK(&a != &b);
    for (int i = 0; i < 100; ++i) // many keys: rehashing must not move the breakers
        (void)set[std::to_string(i)];
    CHECK(&set["a"] == &a);
    CHECK(set.find("a") == &a);
    CHECK(set.size() == 102);

    auto pa = bulwark::pipeline{std::ref(a)};
    auto fail = []() -> bulwark::outcome<int> { return bulwark::errc::transport_error; };
    (void)pa.try_execute(fail);
    (void)pa.try_execute(fail);
    CHECK(a.state() == breaker_state::open);
    CHECK(b.state() == breaker_state::closed); // keys do not share state

    int open = 0;
    set.for_each([&](const std::string&, bulwark::circuit_breaker& br) {
        open += br.state() == breaker_state::open;
    });
    CHECK(open == 1);
    set.reset_all();
    CHECK(a.state() == breaker_state::closed);
}

TEST_CASE("breaker_set with a factory: per-key settings and listeners", "[policy][breaker_set]") {
    struct counting_listener {
        std::atomic<int>* opened;
        void on_state_change(breaker_state, breaker_state to) {
            *opened += to == breaker_state::open;
        }
    };
    using breaker = bulwark::basic_circuit_breaker<bulwark::default_classifier, counting_listener>;
    std::atomic<int> opened{0};
    bulwark::breaker_set<int, breaker> set{[&](const int& key) {
        return breaker{{.consecutive_failures = key}, {}, counting_listener{&opened}};
    }};
    auto p = bulwark::pipeline{std::ref(set[1])};
    (void)p.try_execute([]() -> bulwark::outcome<int> { return bulwark::errc::transport_error; });
    CHECK(set[1].state() == breaker_state::open);
    CHECK(opened == 1);
}

TEST_CASE("breaker_set rejects bad options at construction", "[policy][breaker_set]") {
    CHECK_THROWS_AS(bulwark::breaker_set<int>({.failure_rate = 3.0}),
                    bulwark::invalid_argument_error);
}

TEST_CASE("breaker_set: concurrent first lookups agree on one breaker",
          "[policy][breaker_set][concurrency]") {
    bulwark::breaker_set<int> set{{.window = bulwark::count_window{4}}};
    std::vector<std::thread> threads;
    std::vector<bulwark::circuit_breaker*> seen(8);
    for (std::size_t t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int k = 0; k < 50; ++k)
                (void)set[k];
            seen[t] = &set[7];
        });
    for (auto& t : threads)
        t.join();
    for (auto* p : seen)
        CHECK(p == seen[0]);
    CHECK(set.size() == 50);
}
