// Pick cost of each balancing strategy at 4, 16, 256 and 4096 endpoints, beside a naive
// "seed-style" balancer (a mutex and a copy of the healthy instances per pick, as a first
// hand-written client-side balancer often does).
//
//   BM_pick/<strategy>/<n>        the strategy's pick over a held snapshot
//   BM_read_pick/<strategy>/<n>   plus opening the registry's read section (what balance pays)
//   BM_call/<strategy>/<n>        the whole balance policy around a no-op operation
//   BM_pick_breakers/<strategy>/<n>       the same call with per-endpoint breakers (all closed)
//   BM_pick_breakers_open/<strategy>/<n>  ... with one endpoint's breaker open (re-picks)
//   BM_naive_pick/<n>             the baseline
//   BM_maglev_floor[_read]/<n>    a Maglev pick's unavoidable steps alone (and with the read
//                                 section): the floor of BM_pick/maglev and BM_read_pick/maglev

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/least_outstanding.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>

#include "bench_support.hpp"
#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <atomic>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

const bulwark::time_point now{100s};

std::vector<bulwark::endpoint_info> make_endpoints(std::size_t n) {
    std::vector<bulwark::endpoint_info> v;
    for (std::size_t i = 0; i < n; ++i)
        v.push_back(
            {.address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":8080",
             .weight = static_cast<std::uint32_t>(1 + i % 3)});
    return v;
}

/// A registry whose endpoints have latency histories and a few requests in flight.
std::unique_ptr<bulwark::registry> make_registry(std::size_t n) {
    auto reg = std::make_unique<bulwark::registry>(make_endpoints(n));
    std::size_t i = 0;
    for (const auto& e : reg->endpoints()) {
        e->observe_latency(std::chrono::microseconds{200 + 37 * (i % 50)}, now - 1s, 10s);
        for (std::size_t k = 0; k < i % 4; ++k)
            e->begin_request();
        ++i;
    }
    return reg;
}

using bulwark::bench::report_allocs;

template <class Strategy>
void BM_pick(benchmark::State& state) {
    auto reg = make_registry(static_cast<std::size_t>(state.range(0)));
    Strategy s{};
    bulwark::context ctx;
    auto r = reg->read();
    (void)s.pick(r.set(), ctx, now); // builds tables
    std::uint64_t key = 0;
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        ctx.set_hash_key(key++);
        benchmark::DoNotOptimize(s.pick(r.set(), ctx, now));
    }
    report_allocs(state, before);
}

template <class Strategy>
void BM_read_pick(benchmark::State& state) {
    auto reg = make_registry(static_cast<std::size_t>(state.range(0)));
    Strategy s{};
    bulwark::context ctx;
    {
        auto r = reg->read();
        (void)s.pick(r.set(), ctx, now);
    }
    std::uint64_t key = 0;
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        ctx.set_hash_key(key++);
        auto r = reg->read();
        benchmark::DoNotOptimize(s.pick(r.set(), ctx, now));
    }
    report_allocs(state, before);
}

template <class Strategy>
void BM_call(benchmark::State& state) {
    auto reg = make_registry(static_cast<std::size_t>(state.range(0)));
    auto client = bulwark::pipeline{bulwark::balance<Strategy>{*reg}};
    auto op = [](bulwark::context& ctx) { return ctx.endpoint()->weight(); };
    (void)client.execute(op);
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(client.execute(op));
    report_allocs(state, before);
}

/// The whole call with a breaker per endpoint (`balance_with_breakers`); with `open`, the first
/// endpoint's breaker is open, so every pick that lands on it is rejected and re-picked.
template <class Strategy, bool open>
void BM_call_breakers(benchmark::State& state) {
    auto reg = make_registry(static_cast<std::size_t>(state.range(0)));
    bulwark::breaker_set<std::string> breakers{bulwark::circuit_breaker_options{
        .open_for = std::chrono::hours{1}, .max_open_for = std::chrono::hours{1}}};
    auto client = bulwark::pipeline{bulwark::balance_with_breakers<Strategy>{*reg, breakers}};
    auto op = [](bulwark::context& ctx) { return ctx.endpoint()->weight(); };
    (void)client.execute(op); // builds the breakers and the snapshot's breaker table
    if (open)
        breakers[reg->endpoints().front()->address()].trip();
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(client.execute(op));
    report_allocs(state, before);
}
template <class Strategy>
void BM_pick_breakers(benchmark::State& state) {
    BM_call_breakers<Strategy, false>(state);
}
template <class Strategy>
void BM_pick_breakers_open(benchmark::State& state) {
    BM_call_breakers<Strategy, true>(state);
}

/// The baseline: healthy instances copied out under a mutex on every pick, then round robin.
struct naive_balancer {
    struct instance {
        std::string address;
        bool healthy = true;
    };
    std::mutex mutex;
    std::vector<std::shared_ptr<instance>> instances;
    std::size_t next = 0;

    std::shared_ptr<instance> pick() {
        std::vector<std::shared_ptr<instance>> healthy;
        {
            std::lock_guard lock(mutex);
            for (const auto& i : instances)
                if (i->healthy)
                    healthy.push_back(i);
        }
        if (healthy.empty())
            return nullptr;
        std::lock_guard lock(mutex);
        return healthy[next++ % healthy.size()];
    }
};

void BM_naive_pick(benchmark::State& state) {
    naive_balancer lb;
    for (const auto& e : make_endpoints(static_cast<std::size_t>(state.range(0))))
        lb.instances.push_back(
            std::make_shared<naive_balancer::instance>(naive_balancer::instance{e.address}));
    const auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(lb.pick());
    report_allocs(state, before);
}

/// Context for BM_call: one read of the registry's (real) clock; the policy reads it twice.
void BM_clock_now(benchmark::State& state) {
    bulwark::any_clock clock;
    for (auto _ : state)
        benchmark::DoNotOptimize(clock.now());
}
BENCHMARK(BM_clock_now);

// The read section alone: today's (a plain store + compiler barrier; the writer's membarrier is
// the hardware half) beside the previous striped counter (a seq_cst fetch_add in, a release
// fetch_sub out), each around the load of the published pointer.
void BM_read_section(benchmark::State& state) {
    auto reg = make_registry(16);
    { auto r = reg->read(); } // registers this thread (once per thread)
    for (auto _ : state) {
        auto r = reg->read();
        benchmark::DoNotOptimize(&r.set());
    }
}
void BM_read_section_striped_fence(benchmark::State& state) {
    struct alignas(64) counter {
        std::atomic<std::uint32_t> value{0};
    };
    static counter counters[32];
    static std::atomic<std::size_t> epoch{0};
    static std::atomic<const int*> published{nullptr};
    for (auto _ : state) {
        const std::size_t slot = (epoch.load(std::memory_order_acquire) & 1u) * 16;
        counters[slot].value.fetch_add(1, std::memory_order_seq_cst);
        benchmark::DoNotOptimize(published.load(std::memory_order_seq_cst));
        counters[slot].value.fetch_sub(1, std::memory_order_release);
    }
}
BENCHMARK(BM_read_section);
BENCHMARK(BM_read_section_striped_fence);

// The floor of a Maglev pick: only the steps no implementation avoids — the key's hash (the
// same mix64), its slot (multiply-shift), one table entry (the same table, the same 1-byte
// entries at 16 endpoints) and one endpoint pointer — over a table and a ready list held in
// locals. `BM_maglev_floor_read` adds the registry's read section around it. The gap between
// `BM_read_pick/maglev` and `BM_maglev_floor_read` is what the pick adds: the snapshot's table
// lookup, the key and retry tests.
template <bool read>
void BM_maglev_floor_impl(benchmark::State& state) {
    auto reg = make_registry(static_cast<std::size_t>(state.range(0)));
    bulwark::maglev s{};
    std::vector<unsigned char> entries;
    std::vector<const bulwark::endpoint*> ready;
    {
        // Not held open: a held section would send the loop's sections down the nested path.
        const auto r0 = reg->read(); // no update runs, so the endpoints outlive the section
        const auto t = s.build(r0.set());
        for (std::uint32_t k = 0; k < t.size(); ++k)
            entries.push_back(static_cast<unsigned char>(t.index(k))); // n <= 256: one byte
        ready.assign(r0->ready().begin(), r0->ready().end());
    }
    const unsigned char* table = entries.data();
    const bulwark::endpoint* const* eps = ready.data();
    const auto m = static_cast<std::uint32_t>(entries.size());
    bulwark::context ctx;
    std::uint64_t key = 0;
    for (auto _ : state) {
        ctx.set_hash_key(key++);
        const std::uint64_t h = bulwark::detail::mix64(*ctx.hash_key());
        const std::uint32_t slot = bulwark::detail::reduce(static_cast<std::uint32_t>(h >> 32), m);
        if constexpr (read) {
            auto r = reg->read();
            benchmark::DoNotOptimize(&r.set());
            benchmark::DoNotOptimize(eps[table[slot]]);
        } else {
            benchmark::DoNotOptimize(eps[table[slot]]);
        }
    }
}
void BM_maglev_floor(benchmark::State& state) {
    BM_maglev_floor_impl<false>(state);
}
void BM_maglev_floor_read(benchmark::State& state) {
    BM_maglev_floor_impl<true>(state);
}
// Only up to 256 endpoints: the floor's table has one-byte entries.
BENCHMARK(BM_maglev_floor)->Arg(16)->Arg(256);
BENCHMARK(BM_maglev_floor_read)->Arg(16)->Arg(256);

#define BULWARK_PICK_BENCH(fn, strategy)                                                           \
    BENCHMARK_TEMPLATE(fn, bulwark::strategy)                                                      \
        ->Name(#fn "/" #strategy)                                                                  \
        ->Arg(4)                                                                                   \
        ->Arg(16)                                                                                  \
        ->Arg(256)                                                                                 \
        ->Arg(4096)

BULWARK_PICK_BENCH(BM_pick, round_robin);
BULWARK_PICK_BENCH(BM_pick, weighted_round_robin);
BULWARK_PICK_BENCH(BM_pick, random);
BULWARK_PICK_BENCH(BM_pick, least_outstanding);
BULWARK_PICK_BENCH(BM_pick, p2c_peak_ewma);
BULWARK_PICK_BENCH(BM_pick, ring_hash);
BULWARK_PICK_BENCH(BM_pick, maglev);
BENCHMARK(BM_naive_pick)->Name("BM_naive_pick")->Arg(4)->Arg(16)->Arg(256)->Arg(4096);
BULWARK_PICK_BENCH(BM_read_pick, round_robin);
BULWARK_PICK_BENCH(BM_read_pick, p2c_peak_ewma);
BULWARK_PICK_BENCH(BM_read_pick, maglev);
BULWARK_PICK_BENCH(BM_call, round_robin);
BULWARK_PICK_BENCH(BM_call, p2c_peak_ewma);
BULWARK_PICK_BENCH(BM_pick_breakers, round_robin);
BULWARK_PICK_BENCH(BM_pick_breakers, p2c_peak_ewma);
BULWARK_PICK_BENCH(BM_pick_breakers_open, round_robin);
BULWARK_PICK_BENCH(BM_pick_breakers_open, p2c_peak_ewma);

} // namespace
