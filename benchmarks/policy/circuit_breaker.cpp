// What the circuit breaker costs: the closed breaker's success path vs a direct call and vs a
// seed-style breaker (a mutex around a window, std::function, a clock read per call), admission
// with 1 and 2 threads, and an open breaker's rejection as a returned outcome vs a thrown
// exception (Polly's CircuitBreakerOpenedBenchmark: 234 ns outcome vs 5.15 us exception).
// All in one binary, one run: compare the ratios.
//
//   ./scripts/bench --benchmark_filter=breaker
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>

#include "bench_support.hpp"
#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>

using namespace std::chrono_literals;

namespace {

using op_t = bulwark::bench::plain_op;

using bulwark::bench::report_allocs;

// ---- the seed-style peer: one mutex around the state and a deque window, the operation passed
// as std::function, the clock read on every call (for the slow-call check), exceptions for
// rejection.
class mutex_breaker {
public:
    int execute(const std::function<int()>& op) {
        {
            std::lock_guard lock(mutex_);
            if (open_ && std::chrono::steady_clock::now() < open_until_)
                throw bulwark::resilience_error(bulwark::errc::circuit_open);
            open_ = false;
        }
        auto start = std::chrono::steady_clock::now();
        bool failed = false;
        int r = 0;
        try {
            r = op();
        } catch (...) {
            failed = true;
        }
        auto took = std::chrono::steady_clock::now() - start;
        std::lock_guard lock(mutex_);
        window_.push_back(failed || took > 60s);
        failures_ += window_.back();
        if (window_.size() > 100) {
            failures_ -= window_.front();
            window_.pop_front();
        }
        if (window_.size() >= 20 && failures_ * 2 >= static_cast<int>(window_.size())) {
            open_ = true;
            open_until_ = std::chrono::steady_clock::now() + 30s;
        }
        return r;
    }

private:
    std::mutex mutex_;
    std::deque<bool> window_;
    int failures_ = 0;
    bool open_ = false;
    std::chrono::steady_clock::time_point open_until_{};
};

bulwark::circuit_breaker_options design_options() {
    return {.window = bulwark::count_window{100},
            .failure_rate = 0.5,
            .minimum_calls = 20,
            .open_for = 30s,
            .half_open_calls = 3};
}

void BM_breaker_closed_direct(benchmark::State& state) {
    bulwark::bench::measure_calls<op_t>(state,
                                        [&](auto& op, bulwark::context& ctx) { return op(ctx); });
}

void BM_breaker_closed_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::circuit_breaker{design_options()}};
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

// A window with 10 % failures: every success is recorded (fetch_add + exchange), not skipped.
void BM_breaker_closed_bulwark_recording(benchmark::State& state) {
    bulwark::pipeline p{bulwark::circuit_breaker{design_options()}};
    int input = 1;
    int i = 0;
    auto op = [&]() -> bulwark::outcome<int> {
        benchmark::DoNotOptimize(input);
        if (++i % 10 == 0)
            return bulwark::errc::transport_error;
        return input;
    };
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(p.try_execute(op));
    report_allocs(state, before);
}

void BM_breaker_closed_bulwark_time_window(benchmark::State& state) {
    auto o = design_options();
    o.window = bulwark::time_window{10};
    bulwark::pipeline p{bulwark::circuit_breaker{o}};
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

void BM_breaker_closed_mutex_baseline(benchmark::State& state) {
    static mutex_breaker b; // shared across threads for the threaded runs
    int input = 1;
    std::function<int()> op = [&] {
        benchmark::DoNotOptimize(input);
        return input;
    };
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(b.execute(op));
    report_allocs(state, before);
}

// One breaker shared by all benchmark threads: admission + recording under contention.
bulwark::circuit_breaker shared_breaker{design_options()};

void BM_breaker_admission_bulwark(benchmark::State& state) {
    bulwark::pipeline p{std::ref(shared_breaker)};
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

bulwark::circuit_breaker& open_breaker() {
    static bulwark::circuit_breaker b = [] {
        bulwark::circuit_breaker cb{design_options()};
        cb.trip();
        return cb;
    }();
    return b;
}

void BM_breaker_open_outcome(benchmark::State& state) {
    bulwark::pipeline p{std::ref(open_breaker())};
    int input = 1;
    op_t op{&input};
    bulwark::context ctx;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        auto out = p.try_execute(op, ctx);
        benchmark::DoNotOptimize(out);
    }
    report_allocs(state, before);
}

void BM_breaker_open_exception(benchmark::State& state) {
    bulwark::pipeline p{std::ref(open_breaker())};
    int input = 1;
    op_t op{&input};
    bulwark::context ctx;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        try {
            benchmark::DoNotOptimize(p.execute(op, ctx));
        } catch (const bulwark::resilience_error& e) {
            benchmark::DoNotOptimize(e.retry_after());
        }
    }
    report_allocs(state, before);
}

} // namespace

BENCHMARK(BM_breaker_closed_direct);
BENCHMARK(BM_breaker_closed_bulwark);
BENCHMARK(BM_breaker_closed_bulwark_recording);
BENCHMARK(BM_breaker_closed_bulwark_time_window);
BENCHMARK(BM_breaker_closed_mutex_baseline);
BENCHMARK(BM_breaker_admission_bulwark)->Threads(1)->Threads(2);
BENCHMARK(BM_breaker_closed_mutex_baseline)
    ->Threads(2)
    ->Name("BM_breaker_admission_mutex_baseline");
BENCHMARK(BM_breaker_open_outcome);
BENCHMARK(BM_breaker_open_exception);
