// The floor under each policy's success path: what its unavoidable operations cost, measured in
// the same binary and run as the policies (benchmarks/policy/*.cpp), so each policy's row reads
// "policy cost / floor" (docs/benchmarks.md). A policy cannot be cheaper than the atomics and
// the clock read it must make:
//   timeout            one clock read (coarse for limits >= 1 s)
//   rate limiter       one clock read + one CAS on the bucket word
//   bulkhead           one CAS to take a permit + one fetch_sub to give it back
//   breaker (count)    one relaxed load of the state (+ window writes when recording)
//   breaker (time)     one relaxed load + one coarse clock read + a window fetch_add
//   adaptive limit     one CAS + one fetch_sub + two clock reads + 2-4 fetch_adds on the window
//
//   build/bench/benchmarks/bench_policy --benchmark_filter='floor|policies|standard|adaptive'
#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace {

// Each atomic is alone on its cache line and touched by one thread: uncontended, as on a
// policy's success path with one caller.
struct alignas(64) padded {
    std::atomic<std::uint64_t> v{1};
};

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

} // namespace

BENCHMARK(BM_floor_relaxed_load);
BENCHMARK(BM_floor_fetch_add);
BENCHMARK(BM_floor_fetch_add_sub);
BENCHMARK(BM_floor_cas);
BENCHMARK(BM_floor_coarse_clock);
BENCHMARK(BM_floor_steady_clock);
BENCHMARK(BM_floor_any_clock_coarse);
