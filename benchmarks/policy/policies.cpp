// The success path of timeout, bulkhead, rate_limiter and fallback, each beside a direct call and
// beside a "seed-style" equivalent (a virtual policy over std::function, with a mutex where the
// policy has state: the shape of a hand-rolled runtime pipeline); then the standard pipeline
// (bulkhead → total timeout → retry → breaker → attempt timeout) beside the same five stages
// built seed-style. All in one binary, one run: compare ratios, not absolute figures.
//
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DBULWARK_BUILD_BENCHMARKS=ON
//         "-DCMAKE_CXX_FLAGS=-O3 -DNDEBUG"
//   cmake --build build/bench --target bench_policy
//   build/bench/benchmarks/bench_policy --benchmark_filter='clock|policies|standard'
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/rate_limiter.hpp>
#include <bulwark/policy/standard.hpp>
#include <bulwark/policy/timeout.hpp>

#include "bench_support.hpp"
#include "floor_ops.hpp"
#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace {

using namespace std::chrono_literals;
using seed_next = std::function<int(bulwark::context&)>;

using op_t = bulwark::bench::cheap_op;

using bulwark::bench::report_allocs;

// ---- seed-style policies: virtual execute over std::function, state behind a mutex ----
struct seed_policy {
    virtual ~seed_policy() = default;
    virtual int execute(const seed_next& next, bulwark::context& ctx) = 0;
};

struct seed_timeout final : seed_policy {
    std::chrono::steady_clock::duration limit;
    explicit seed_timeout(std::chrono::steady_clock::duration l)
        : limit(l) {}
    int execute(const seed_next& next, bulwark::context& ctx) override {
        const auto start = std::chrono::steady_clock::now();
        int r = next(ctx);
        if (std::chrono::steady_clock::now() - start > limit)
            throw std::runtime_error("timeout");
        return r;
    }
};

struct seed_bulkhead final : seed_policy {
    std::mutex m;
    int active = 0, max = 1000;
    int execute(const seed_next& next, bulwark::context& ctx) override {
        {
            std::lock_guard lock(m);
            if (active >= max)
                throw std::runtime_error("bulkhead full");
            ++active;
        }
        struct release {
            seed_bulkhead* self;
            ~release() {
                std::lock_guard lock(self->m);
                --self->active;
            }
        } r{this};
        return next(ctx);
    }
};

struct seed_rate_limiter final : seed_policy {
    std::mutex m;
    double tokens = 1e6, rate_per_ns = 1.0, burst = 1e6;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    int execute(const seed_next& next, bulwark::context& ctx) override {
        {
            std::lock_guard lock(m);
            const auto now = std::chrono::steady_clock::now();
            tokens =
                std::min(burst, tokens + static_cast<double>((now - last).count()) * rate_per_ns);
            last = now;
            if (tokens < 1)
                throw std::runtime_error("rate limited");
            tokens -= 1;
        }
        return next(ctx);
    }
};

struct seed_fallback final : seed_policy {
    int value = 0;
    int execute(const seed_next& next, bulwark::context& ctx) override {
        try {
            return next(ctx);
        } catch (...) {
            return value;
        }
    }
};

struct seed_retry final : seed_policy {
    int max_attempts = 4;
    int execute(const seed_next& next, bulwark::context& ctx) override {
        for (int attempt = 1;; ++attempt) {
            try {
                ctx.set_attempt(static_cast<std::uint32_t>(attempt));
                return next(ctx);
            } catch (...) {
                if (attempt >= max_attempts)
                    throw;
            }
        }
    }
};

struct seed_breaker final : seed_policy {
    std::mutex m;
    bool open = false;
    int calls = 0, failures = 0;
    int execute(const seed_next& next, bulwark::context& ctx) override {
        {
            std::lock_guard lock(m);
            if (open)
                throw std::runtime_error("open");
        }
        try {
            int r = next(ctx);
            std::lock_guard lock(m);
            ++calls;
            return r;
        } catch (...) {
            std::lock_guard lock(m);
            ++calls;
            ++failures;
            open = calls >= 100 && failures * 10 >= calls;
            throw;
        }
    }
};

class seed_chain {
public:
    void add(std::unique_ptr<seed_policy> p) { policies_.push_back(std::move(p)); }
    int execute(const seed_next& op, bulwark::context& ctx) { return run(0, op, ctx); }

private:
    int run(std::size_t i, const seed_next& op, bulwark::context& ctx) {
        if (i == policies_.size())
            return op(ctx);
        return policies_[i]->execute(
            [this, i, &op](bulwark::context& c) { return run(i + 1, op, c); }, ctx);
    }
    std::vector<std::unique_ptr<seed_policy>> policies_;
};

// ---- runners ----
template <class Pipeline>
void run_bulwark(benchmark::State& state, Pipeline& p) {
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

void run_seed(benchmark::State& state, seed_chain& chain) {
    int input = 1;
    seed_next op = op_t{&input};
    bulwark::context ctx;
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state)
        benchmark::DoNotOptimize(chain.execute(op, ctx));
    report_allocs(state, before);
}

template <class Seed, class... A>
void run_seed_one(benchmark::State& state, A&&... args) {
    seed_chain chain;
    chain.add(std::make_unique<Seed>(std::forward<A>(args)...));
    run_seed(state, chain);
}

// ---- what a clock read costs (the timeout and the rate limiter make one per call) ----
void BM_clock_steady_now(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}
void BM_clock_any_clock_now(benchmark::State& state) {
    bulwark::any_clock clock;
    for (auto _ : state)
        benchmark::DoNotOptimize(clock.now());
}

void BM_policies_direct(benchmark::State& state) {
    bulwark::bench::measure_calls(state, [&](auto& op, bulwark::context& ctx) { return op(ctx); });
}

void BM_policies_timeout_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::timeout{.total = 1s}};
    run_bulwark(state, p);
}
// The default timeout requests stop on expiry (a timer entry armed and disarmed per call);
// `tighten_deadline_only` is the opt-out that only tightens the deadline.
void BM_policies_timeout_deadline_only_bulwark(benchmark::State& state) {
    bulwark::pipeline p{
        bulwark::timeout{.total = 1s, .on_expiry = bulwark::timeout_expiry::tighten_deadline_only}};
    run_bulwark(state, p);
}
// A short limit (below the coarse clock's tolerance): the exact clock is read.
void BM_policies_timeout_short_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::timeout{.total = 100ms}};
    run_bulwark(state, p);
}
// An operation that takes the stop token every call (a std::stop_source per call and scope: the
// standard library's allocation).
void BM_policies_timeout_token_op_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::timeout{.total = 1s}};
    bulwark::bench::measure_calls(state, [&](auto& op, bulwark::context& ctx) {
        return p.execute(
            [&op](bulwark::context& c) {
                benchmark::DoNotOptimize(c.stop_token());
                return op(c);
            },
            ctx);
    });
}
void BM_policies_timeout_seed(benchmark::State& state) {
    run_seed_one<seed_timeout>(state, 1s);
}

void BM_policies_bulkhead_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::bulkhead{{.max_concurrent = 1000}}};
    run_bulwark(state, p);
}
void BM_policies_bulkhead_seed(benchmark::State& state) {
    run_seed_one<seed_bulkhead>(state);
}

void BM_policies_rate_limiter_bulwark(benchmark::State& state) {
    // One permit per nanosecond, a bucket one second deep: never runs dry in the loop.
    bulwark::pipeline p{bulwark::rate_limiter{{.rate = 1e9, .per = 1s, .burst = 1'000'000'000}}};
    run_bulwark(state, p);
}
void BM_policies_rate_limiter_seed(benchmark::State& state) {
    run_seed_one<seed_rate_limiter>(state);
}

void BM_policies_fallback_bulwark(benchmark::State& state) {
    bulwark::pipeline p{bulwark::fallback{0}};
    run_bulwark(state, p);
}
void BM_policies_fallback_seed(benchmark::State& state) {
    run_seed_one<seed_fallback>(state);
}

void BM_standard_bulwark(benchmark::State& state) {
    auto p = bulwark::standard_pipeline();
    run_bulwark(state, p);
}
/// The standard pipeline's five stages, seed-style, into `chain`.
void add_standard_seed(seed_chain& chain) {
    chain.add(std::make_unique<seed_bulkhead>());
    chain.add(std::make_unique<seed_timeout>(30s));
    chain.add(std::make_unique<seed_retry>());
    chain.add(std::make_unique<seed_breaker>());
    chain.add(std::make_unique<seed_timeout>(10s));
}
void BM_standard_seed(benchmark::State& state) {
    seed_chain chain;
    add_standard_seed(chain);
    run_seed(state, chain);
}
/// The standard pipeline, the seed-style chain and the pipeline's floor
/// (`bench::standard_floor`), paired (see `run_paired`): the chain's time moves by a quarter
/// from run to run on the shared VM (210-278 ns), and with it the separate benchmarks' ratio;
/// taken in alternating batches, the ratio and the floor's ratio hold still. Counters: ns per
/// call of each (`bulwark_ns`, `seed_ns`, `floor_ns`), `ratio` = bulwark / seed,
/// `floor_ratio` = floor / seed, `speedup` = seed / bulwark. Allocations per call are those of
/// BM_standard_bulwark and BM_standard_seed.
void BM_standard_paired(benchmark::State& state) {
    auto p = bulwark::standard_pipeline();
    seed_chain chain;
    add_standard_seed(chain);
    int input = 1;
    op_t op{&input};
    seed_next seed_op = op;
    bulwark::context ctx_bulwark, ctx_seed;
    bulwark::bench::standard_floor floor;
    auto ours = [&] { benchmark::DoNotOptimize(p.execute(op, ctx_bulwark)); };
    auto seed = [&] { benchmark::DoNotOptimize(chain.execute(seed_op, ctx_seed)); };
    auto bare = [&] { floor.once(); };
    const auto ns = bulwark::bench::run_paired(state, ours, seed, bare);
    state.counters["bulwark_ns"] = ns[0];
    state.counters["seed_ns"] = ns[1];
    state.counters["floor_ns"] = ns[2];
    state.counters["ratio"] = ns[0] / ns[1];
    state.counters["floor_ratio"] = ns[2] / ns[1];
    state.counters["speedup"] = ns[1] / ns[0];
}
// The standard pipeline with a count-based breaker window instead of MEHR's 30 s time window.
void BM_standard_bulwark_count_window(benchmark::State& state) {
    auto p = bulwark::standard_pipeline({.breaker = {.window = bulwark::count_window{100},
                                                     .failure_rate = 0.1,
                                                     .minimum_calls = 100,
                                                     .open_for = 5s,
                                                     .half_open_calls = 1}});
    run_bulwark(state, p);
}
// Each stage of the standard pipeline alone, to see where its time goes.
void BM_standard_stage_retry(benchmark::State& state) {
    bulwark::pipeline p{bulwark::retry{.max_attempts = 4}};
    run_bulwark(state, p);
}
void BM_standard_stage_breaker(benchmark::State& state) {
    bulwark::pipeline p{bulwark::circuit_breaker{bulwark::standard_options{}.breaker}};
    run_bulwark(state, p);
}
// The same pipeline with a fresh context per call, as `pipeline.execute(op)` makes.
void BM_standard_bulwark_fresh_context(benchmark::State& state) {
    auto p = bulwark::standard_pipeline();
    bulwark::bench::measure_fresh_calls(state, [&](auto& op) { return p.execute(op); });
}

} // namespace

BENCHMARK(BM_clock_steady_now);
BENCHMARK(BM_clock_any_clock_now);
BENCHMARK(BM_policies_direct);
BENCHMARK(BM_policies_timeout_bulwark);
BENCHMARK(BM_policies_timeout_deadline_only_bulwark);
BENCHMARK(BM_policies_timeout_short_bulwark);
BENCHMARK(BM_policies_timeout_token_op_bulwark);
BENCHMARK(BM_policies_timeout_seed);
BENCHMARK(BM_policies_bulkhead_bulwark);
BENCHMARK(BM_policies_bulkhead_seed);
BENCHMARK(BM_policies_rate_limiter_bulwark);
BENCHMARK(BM_policies_rate_limiter_seed);
BENCHMARK(BM_policies_fallback_bulwark);
BENCHMARK(BM_policies_fallback_seed);
BENCHMARK(BM_standard_stage_retry);
BENCHMARK(BM_standard_stage_breaker);
BENCHMARK(BM_standard_bulwark);
BENCHMARK(BM_standard_bulwark_fresh_context);
BENCHMARK(BM_standard_bulwark_count_window);
BENCHMARK(BM_standard_seed);
BENCHMARK(BM_standard_paired);
