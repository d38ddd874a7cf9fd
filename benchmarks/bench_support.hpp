#pragma once
// Shared by the benchmark binaries: allocation reporting through the counting operator new
// (tests/support/alloc_counter.cpp, linked into every benchmark).

#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>

namespace bulwark::bench {

/// Sets the counter "allocs/iter": this thread's allocations since `before`, per iteration.
inline void report_allocs(benchmark::State& state, std::size_t before) {
    state.counters["allocs/iter"] =
        benchmark::Counter(static_cast<double>(bulwark::test::thread_allocations() - before) /
                           static_cast<double>(state.iterations()));
}

} // namespace bulwark::bench
