// The floor under each policy's success path: what its unavoidable operations cost, measured in
// the same binary and run as the policies (benchmarks/policy/*.cpp), so each policy's row reads
// "policy cost / floor" (docs/benchmarks.md). A policy cannot be cheaper than the atomics and
// the clock read it must make:
//   timeout            one clock read (coarse for limits >= 1 s); stopping on expiry adds the
//                      timer entry's arm and disarm: a release store + a load each (the
//                      expiry service's asymmetric fence, runtime/detail/expiry_service.hpp)
//   rate limiter       one clock read + one CAS on the bucket word
//   bulkhead           one CAS to take a permit + one fetch_sub to give it back
//   breaker (count)    one relaxed load of the state (+ window writes when recording)
//   breaker (time)     one relaxed load + one coarse clock read + a window fetch_add
//   adaptive limit     one CAS + one fetch_sub + two clock reads + 2-4 fetch_adds on the window
//   standard pipeline  bulkhead + one clock read (shared) + two stopping timeouts' arms and
//                      disarms + the time window's fetch_add: BM_floor_standard_pipeline
//
//   build/bench/benchmarks/bench_policy --benchmark_filter='floor|policies|standard|adaptive'
#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include "floor_ops.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace {

using bulwark::bench::arm_disarm;
using bulwark::bench::lane_slot;
using bulwark::bench::padded;
using bulwark::bench::wake_word;

void BM_floor_relaxed_load(benchmark::State& state) {
    padded a;
    for (auto _ : state) {
        benchmark::DoNotOptimize(a.v.load(std::memory_order_relaxed));
        benchmark::ClobberMemory(); // a fresh load each iteration
    }
}
void BM_floor_fetch_add(benchmark::State& state) {
    padded a;
    for (auto _ : state)
        benchmark::DoNotOptimize(a.v.fetch_add(1, std::memory_order_relaxed));
}
void BM_floor_fetch_add_sub(benchmark::State& state) { // take and give back (a permit)
    padded a;
    for (auto _ : state) {
        benchmark::DoNotOptimize(a.v.fetch_add(1, std::memory_order_acq_rel));
        benchmark::DoNotOptimize(a.v.fetch_sub(1, std::memory_order_acq_rel));
    }
}
void BM_floor_cas(benchmark::State& state) {
    padded a;
    std::uint64_t cur = a.v.load(std::memory_order_relaxed);
    for (auto _ : state) {
        benchmark::DoNotOptimize(
            a.v.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel));
    }
}
void BM_floor_coarse_clock(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(bulwark::detail::coarse_clock::now());
}
void BM_floor_steady_clock(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}
void BM_floor_any_clock_coarse(benchmark::State& state) { // the erased clock's branch + coarse
    bulwark::any_clock clock;
    for (auto _ : state)
        benchmark::DoNotOptimize(bulwark::detail::coarse_now_if(clock, true));
}

// The unavoidable operations of each policy, together, as one row (policy cost / floor):

// Rate limiter: a coarse clock read and one CAS on the bucket word.
void BM_floor_rate_limiter(benchmark::State& state) {
    padded a;
    std::uint64_t cur = a.v.load(std::memory_order_relaxed);
    for (auto _ : state) {
        const auto t = bulwark::detail::coarse_clock::now();
        benchmark::DoNotOptimize(t);
        benchmark::DoNotOptimize(a.v.compare_exchange_weak(
            cur, cur + static_cast<std::uint64_t>(t.time_since_epoch().count() & 1) + 1,
            std::memory_order_acq_rel));
    }
}

// A stopping timeout: a coarse clock read + one arm and disarm.
void BM_floor_timeout_stopping(benchmark::State& state) {
    lane_slot s;
    wake_word w;
    for (auto _ : state) {
        const auto t = bulwark::detail::coarse_clock::now();
        arm_disarm(s, w, t.time_since_epoch().count() + 1'000'000'000);
    }
}

// The time-window breaker's success with the call's clock reading already taken: the state
// load and one fetch_add on the open bucket (plus the loads that find no failures).
void BM_floor_breaker_time_window(benchmark::State& state) {
    padded st, bucket, failures;
    for (auto _ : state) {
        benchmark::DoNotOptimize(st.v.load(std::memory_order_acquire));
        benchmark::DoNotOptimize(bucket.v.fetch_add(1, std::memory_order_relaxed));
        benchmark::DoNotOptimize(failures.v.load(std::memory_order_relaxed));
    }
}

// The standard pipeline's unavoidable operations (bulwark::bench::standard_floor).
void BM_floor_standard_pipeline(benchmark::State& state) {
    bulwark::bench::standard_floor floor;
    for (auto _ : state)
        floor.once();
}

} // namespace

BENCHMARK(BM_floor_rate_limiter);
BENCHMARK(BM_floor_timeout_stopping);
BENCHMARK(BM_floor_breaker_time_window);
BENCHMARK(BM_floor_standard_pipeline);
BENCHMARK(BM_floor_relaxed_load);
BENCHMARK(BM_floor_fetch_add);
BENCHMARK(BM_floor_fetch_add_sub);
BENCHMARK(BM_floor_cas);
BENCHMARK(BM_floor_coarse_clock);
BENCHMARK(BM_floor_steady_clock);
BENCHMARK(BM_floor_any_clock_coarse);
