#pragma once
// Shared by the benchmark binaries: allocation reporting through the counting operator new
// (tests/support/alloc_counter.cpp, linked into every benchmark).

#include "support/alloc_counter.hpp"

#include <bulwark/core/context.hpp>

#include <benchmark/benchmark.h>

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

} // namespace bulwark::bench
