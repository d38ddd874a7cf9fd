// The success path of retry: a direct call, bulwark::retry (with each budget kind), and a
// "seed-style" retry loop built on std::function (what a first implementation usually is).
//
//   cmake --build <build> --target bench_policy && <build>/benchmarks/bench_policy \
//       --benchmark_filter=retry_success

#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>

#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <exception>
#include <functional>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// The operation: cheap, but not foldable away.
struct op {
    int* counter;
    int operator()() const noexcept {
        benchmark::DoNotOptimize(counter);
        return ++*counter;
    }
};

template <class F>
void measure(benchmark::State& state, F&& once) {
    const std::size_t before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(once());
    state.counters["allocs/iter"] =
        benchmark::Counter(static_cast<double>(bulwark::test::thread_allocations() - before),
                           benchmark::Counter::kAvgIterations);
}

/// A seed-style retry: std::function for the operation, the predicate and the backoff.
template <class T>
T seed_retry(int max_attempts, const std::function<T()>& f,
             const std::function<bool(std::exception_ptr)>& retry_on,
             const std::function<std::chrono::milliseconds(int)>& backoff) {
    for (int attempt = 1;; ++attempt) {
        try {
            return f();
        } catch (...) {
            if (attempt >= max_attempts || !retry_on(std::current_exception()))
                throw;
            std::this_thread::sleep_for(backoff(attempt));
        }
    }
}

void BM_retry_success_direct(benchmark::State& state) {
    int counter = 0;
    op o{&counter};
    measure(state, [&] { return o(); });
}
BENCHMARK(BM_retry_success_direct)->Name("BM_retry_success/direct");

void BM_retry_success_bulwark(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{bulwark::retry{
        .max_attempts = 3,
        .backoff =
            bulwark::exponential_backoff{.base = 10ms, .cap = 1s, .jitter = bulwark::full_jitter}}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_bulwark)->Name("BM_retry_success/bulwark");

/// The pipeline alone (context, outcome, capture) with a policy that does nothing: subtract it
/// from the rows above to get what retry itself costs.
void BM_retry_success_pass_through(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{bulwark::pass_through{}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_pass_through)->Name("BM_retry_success/pipeline_pass_through");

/// The policy alone, called as a pipeline calls it, with one context for all calls.
void BM_retry_success_policy_only(benchmark::State& state) {
    int counter = 0;
    bulwark::retry r{.max_attempts = 3};
    bulwark::context ctx;
    auto next = [&](bulwark::context&) -> bulwark::outcome<int> { return op{&counter}(); };
    measure(state, [&] { return *r.execute(next, ctx); });
}
BENCHMARK(BM_retry_success_policy_only)->Name("BM_retry_success/bulwark_policy_only");

void BM_retry_success_policy_only_baseline(benchmark::State& state) {
    int counter = 0;
    bulwark::context ctx;
    auto next = [&](bulwark::context&) -> bulwark::outcome<int> { return op{&counter}(); };
    measure(state, [&] { return *bulwark::pass_through{}.execute(next, ctx); });
}
BENCHMARK(BM_retry_success_policy_only_baseline)->Name("BM_retry_success/pass_through_policy_only");

void BM_retry_success_seed(benchmark::State& state) {
    int counter = 0;
    const std::function<bool(std::exception_ptr)> retry_on = [](std::exception_ptr) {
        return true;
    };
    const std::function<std::chrono::milliseconds(int)> backoff = [](int n) {
        return std::chrono::milliseconds{10 << n};
    };
    measure(state, [&] { return seed_retry<int>(3, op{&counter}, retry_on, backoff); });
}
BENCHMARK(BM_retry_success_seed)->Name("BM_retry_success/seed_std_function");

void BM_retry_success_token_bucket(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{
        bulwark::retry{.budget = bulwark::retry_budget{.ratio = 0.2, .min_per_second = 10}}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_token_bucket)->Name("BM_retry_success/bulwark_retry_budget");

// Behind a total timeout, which takes the call's clock reading first: the budget's deposit
// reuses it (runtime/call_time.hpp), so it costs its CAS only. Compare with the same pipeline
// without a budget.
void BM_retry_success_budget_behind_timeout(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{
        bulwark::timeout{.total = 30s},
        bulwark::retry{.budget = bulwark::retry_budget{.ratio = 0.2, .min_per_second = 10}}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_budget_behind_timeout)
    ->Name("BM_retry_success/timeout_then_retry_budget");
void BM_retry_success_no_budget_behind_timeout(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{bulwark::timeout{.total = 30s}, bulwark::retry{}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_no_budget_behind_timeout)->Name("BM_retry_success/timeout_then_retry");

void BM_retry_success_concurrency(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{bulwark::retry{.budget = bulwark::concurrency_budget{}}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_concurrency)->Name("BM_retry_success/bulwark_concurrency_budget");

void BM_retry_success_grpc(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{bulwark::retry{.budget = bulwark::grpc_throttle{}}};
    measure(state, [&] { return p.execute(op{&counter}); });
}
BENCHMARK(BM_retry_success_grpc)->Name("BM_retry_success/bulwark_grpc_throttle");

/// The failure path, for scale: two failed attempts and a success, zero backoff.
void BM_retry_two_failures_bulwark(benchmark::State& state) {
    int counter = 0;
    bulwark::pipeline p{
        bulwark::retry{.max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 0ms}}};
    measure(state, [&] {
        int calls = 0;
        return p
            .try_execute([&]() -> bulwark::outcome<int> {
                if (++calls < 3)
                    return bulwark::errc::transport_error;
                return ++counter;
            })
            .has_value();
    });
}
BENCHMARK(BM_retry_two_failures_bulwark)->Name("BM_retry_two_failures/bulwark_error_values");

} // namespace
