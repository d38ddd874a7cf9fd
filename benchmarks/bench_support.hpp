#pragma once
// Shared by the benchmark binaries: allocation reporting through the counting operator new
// (tests/support/alloc_counter.cpp, linked into every benchmark).

#include "support/alloc_counter.hpp"

#include <bulwark/core/context.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstddef>

namespace bulwark::bench {

/// Sets the counter "allocs/iter": this thread's allocations since `before`, per iteration.
inline void report_allocs(benchmark::State& state, std::size_t before) {
    state.counters["allocs/iter"] =
        benchmark::Counter(static_cast<double>(bulwark::test::thread_allocations() - before) /
                           static_cast<double>(state.iterations()));
}

/// The measured operation: cheap, and opaque to the optimizer through DoNotOptimize.
struct cheap_op {
    int* input;
    int operator()(bulwark::context& ctx) const {
        benchmark::DoNotOptimize(*input);
        return *input + static_cast<int>(ctx.attempt());
    }
};

/// Like `cheap_op`, but ignores the context (the breaker benchmarks' operation).
struct plain_op {
    int* input;
    int operator()(bulwark::context&) const {
        benchmark::DoNotOptimize(*input);
        return *input;
    }
};

/// Runs `call(op, ctx)` per iteration with one context reused across calls; reports allocations.
template <class Op = cheap_op, class Call>
void measure_calls(benchmark::State& state, Call call) {
    int input = 1;
    Op op{&input};
    bulwark::context ctx;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(call(op, ctx));
    report_allocs(state, before);
}

/// Runs `call(op)` per iteration (the callee makes its own context); reports allocations.
template <class Op = cheap_op, class Call>
void measure_fresh_calls(benchmark::State& state, Call call) {
    int input = 1;
    Op op{&input};
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(call(op));
    report_allocs(state, before);
}

/// Calls per timed batch of a paired benchmark (`run_paired`).
inline constexpr int paired_batch = 1024;

/// One batch of `once()` calls, timed in ns; out of line, so that each contender's loop is
/// compiled alone, as in its own benchmark.
template <class F>
[[gnu::noinline]] double time_batch(F& once) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    for (int i = 0; i < paired_batch; ++i)
        once();
    return std::chrono::duration<double, std::nano>(clock::now() - start).count();
}

/// Measures contenders *paired*: each iteration times one batch of each, in an order that
/// rotates from iteration to iteration, so that a slow spell of the shared machine (another
/// process, a frequency change) falls on all of them alike. Figures of a few nanoseconds taken
/// in separate benchmarks move by tens of percent from run to run; their ratio taken here holds
/// still. Returns ns per call of each contender, in the order given.
template <class... F>
std::array<double, sizeof...(F)> run_paired(benchmark::State& state, F&... contenders) {
    constexpr std::size_t n = sizeof...(F);
    std::array<double, n> ns{};
    std::size_t turn = 0;
    for (auto _ : state) {
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t which = (turn + k) % n;
            std::size_t i = 0;
            ((i++ == which ? (void)(ns[which] += time_batch(contenders)) : (void)0), ...);
        }
        ++turn;
    }
    const double calls = static_cast<double>(state.iterations()) * paired_batch;
    for (double& x : ns)
        x /= calls;
    return ns;
}

} // namespace bulwark::bench
