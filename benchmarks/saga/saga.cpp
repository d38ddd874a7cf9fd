// Saga overhead per step over a direct call: a 4-step saga (in-memory store: one record saved
// after each step, a listener-free run) against the same 4 calls made directly, in the same run.
// The per-step cost is (saga - direct) / 4.
#include "bench_support.hpp"

#include <bulwark/saga/saga.hpp>

#include <string>

namespace {

struct work {
    int* counter;
    void operator()(bulwark::saga_context&) const { benchmark::DoNotOptimize(++*counter); }
};

void BM_saga_4_steps(benchmark::State& state) {
    int counter = 0;
    work w{&counter};
    bulwark::saga s{bulwark::saga_options{.name = "bench"}, bulwark::step{"a", w, w},
                    bulwark::step{"b", w, w}, bulwark::step{"c", w, w}, bulwark::step{"d", w, w}};
    bulwark::memory_saga_store store;
    std::uint64_t i = 0;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        auto r = s.run(store, std::to_string(i++));
        benchmark::DoNotOptimize(r);
    }
    bulwark::bench::report_allocs(state, before);
    state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 4),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_saga_4_steps)->Name("BM_4_steps/saga_memory_store");

void BM_direct_4_calls(benchmark::State& state) {
    int counter = 0;
    for (auto _ : state) {
        for (int k = 0; k < 4; ++k)
            benchmark::DoNotOptimize(++counter);
    }
    state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 4),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_direct_4_calls)->Name("BM_4_steps/direct_calls");

} // namespace
