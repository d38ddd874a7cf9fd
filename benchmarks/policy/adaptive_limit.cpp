// adaptive_limit's success path beside a direct call and a fixed bulkhead, one caller (the
// floors are in floors.cpp, same binary).
//
//   build/bench/benchmarks/bench_policy --benchmark_filter='adaptive|floor|policies_direct'
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/adaptive_limit.hpp>
#include <bulwark/policy/bulkhead.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

namespace {

template <class Algo>
void BM_adaptive_limit(benchmark::State& state) {
    bulwark::pipeline p{bulwark::adaptive_limit<Algo>{}};
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

} // namespace

BENCHMARK_TEMPLATE(BM_adaptive_limit, bulwark::vegas);
BENCHMARK_TEMPLATE(BM_adaptive_limit, bulwark::gradient2);
BENCHMARK_TEMPLATE(BM_adaptive_limit, bulwark::aimd);
