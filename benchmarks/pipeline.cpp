// What composition costs: a direct call vs pipeline<P...> of 1, 3 and 5 pass-through policies vs
// the same chain built at run time from std::function + virtual calls (the shape of a Polly-style
// runtime pipeline, and of the seed code). All in one binary, one run: compare the ratios.
//
//   ./scripts/bench --benchmark_filter=pipeline
#include <bulwark/pipeline.hpp>

#include "bench_support.hpp"
#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <vector>

namespace {

using op_t = bulwark::bench::cheap_op;

// ---- five distinct pass-through policies (distinct types, like a real pipeline) ----
template <int N>
struct pass {
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        return next(ctx);
    }
};

// ---- the runtime-pipeline peer: virtual policies over std::function ----
struct runtime_policy {
    virtual ~runtime_policy() = default;
    virtual int execute(const std::function<int(bulwark::context&)>& next,
                        bulwark::context& ctx) = 0;
};
struct runtime_pass final : runtime_policy {
    int execute(const std::function<int(bulwark::context&)>& next, bulwark::context& ctx) override {
        return next(ctx);
    }
};
class runtime_pipeline {
public:
    explicit runtime_pipeline(int n) {
        for (int i = 0; i < n; ++i)
            policies_.push_back(std::make_unique<runtime_pass>());
    }
    int execute(const std::function<int(bulwark::context&)>& op, bulwark::context& ctx) {
        return run(0, op, ctx);
    }

private:
    int run(std::size_t i, const std::function<int(bulwark::context&)>& op, bulwark::context& ctx) {
        if (i == policies_.size())
            return op(ctx);
        return policies_[i]->execute(
            [this, i, &op](bulwark::context& c) { return run(i + 1, op, c); }, ctx);
    }
    std::vector<std::unique_ptr<runtime_policy>> policies_;
};

using bulwark::bench::report_allocs;

void BM_pipeline_direct(benchmark::State& state) {
    bulwark::bench::measure_calls(state, [&](auto& op, bulwark::context& ctx) { return op(ctx); });
}

template <class Pipeline>
void run_pipeline(benchmark::State& state, Pipeline& p) {
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

void BM_pipeline_bulwark_1(benchmark::State& state) {
    bulwark::pipeline p{pass<1>{}};
    run_pipeline(state, p);
}
void BM_pipeline_bulwark_3(benchmark::State& state) {
    bulwark::pipeline p{pass<1>{}, pass<2>{}, pass<3>{}};
    run_pipeline(state, p);
}
void BM_pipeline_bulwark_5(benchmark::State& state) {
    bulwark::pipeline p{pass<1>{}, pass<2>{}, pass<3>{}, pass<4>{}, pass<5>{}};
    run_pipeline(state, p);
}

void BM_pipeline_std_function(benchmark::State& state) {
    runtime_pipeline p{static_cast<int>(state.range(0))};
    int input = 1;
    std::function<int(bulwark::context&)> op = op_t{&input};
    bulwark::context ctx;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(p.execute(op, ctx));
    report_allocs(state, before);
}

// A context per logical call, as `pipeline.execute(op)` does.
void BM_pipeline_direct_fresh_context(benchmark::State& state) {
    int input = 1;
    op_t op{&input};
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        bulwark::context ctx;
        benchmark::DoNotOptimize(op(ctx));
    }
    report_allocs(state, before);
}
void BM_pipeline_bulwark_5_fresh_context(benchmark::State& state) {
    bulwark::pipeline p{pass<1>{}, pass<2>{}, pass<3>{}, pass<4>{}, pass<5>{}};
    bulwark::bench::measure_fresh_calls(state, [&](auto& op) { return p.execute(op); });
}

} // namespace

BENCHMARK(BM_pipeline_direct);
BENCHMARK(BM_pipeline_bulwark_1);
BENCHMARK(BM_pipeline_bulwark_3);
BENCHMARK(BM_pipeline_bulwark_5);
BENCHMARK(BM_pipeline_std_function)->Arg(1)->Arg(3)->Arg(5);
BENCHMARK(BM_pipeline_direct_fresh_context);
BENCHMARK(BM_pipeline_bulwark_5_fresh_context);
