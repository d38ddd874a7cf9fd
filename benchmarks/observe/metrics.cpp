// The metrics listener beside prometheus-cpp 1.0 (the alternative) and a plain atomic
// counter: ns per counter increment and per histogram observation (one thread and two threads on
// one counter), and the cost of one exposition (serialization) of the same content. Then the
// cost the metrics listener adds to the standard pipeline (BM_pipeline_*, on every stage and on
// one stage at a time) and to an async channel (BM_channel_*: ns and allocations per message).
//
//   cmake --preset bench && cmake --build build/bench -j2 --target bench_observe
//   build/bench/benchmarks/bench_observe --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
#include <bulwark/channel/async_channel.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/prometheus.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/standard.hpp>

#include "bench_support.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#if BULWARK_BENCH_PROMETHEUS_CPP
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#endif

namespace {

using namespace std::chrono_literals;
using bulwark::bench::report_allocs;

// ---- counter increment -------------------------------------------------------------------------

bulwark::metrics_registry& shared_registry() {
    static bulwark::metrics_registry reg;
    return reg;
}

void BM_counter_increment_bulwark(benchmark::State& state) {
    auto l = shared_registry().listener({.policy = "counter"});
    bulwark::emit(l, bulwark::events::breaker_call{}); // take this thread's stripe
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        bulwark::emit(l, bulwark::events::breaker_call{});
        benchmark::ClobberMemory();
    }
    report_allocs(state, before);
}
BENCHMARK(BM_counter_increment_bulwark)->Threads(1)->Threads(2)->UseRealTime();

std::atomic<std::uint64_t> g_atomic{0};
void BM_counter_increment_atomic_baseline(benchmark::State& state) {
    for (auto _ : state)
        g_atomic.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_counter_increment_atomic_baseline)->Threads(1)->Threads(2)->UseRealTime();

// ---- histogram observe -------------------------------------------------------------------------

void BM_histogram_observe_bulwark(benchmark::State& state) {
    auto l = shared_registry().listener({.policy = "histogram"});
    bulwark::emit(l, bulwark::events::bulkhead_waited{.waited = 3ms});
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        bulwark::emit(l, bulwark::events::bulkhead_waited{.waited = 3ms});
        benchmark::ClobberMemory();
    }
    report_allocs(state, before);
}
BENCHMARK(BM_histogram_observe_bulwark)->Threads(1)->Threads(2)->UseRealTime();

// ---- serialization: the same families and series in both
// -----------------------------------------

constexpr int series_count = 10;

const bulwark::metrics_registry& filled_registry() {
    static bulwark::metrics_registry reg;
    static bool filled = [] {
        for (int i = 0; i < series_count; ++i) {
            auto l = reg.listener({.pipeline = "checkout", .policy = "p" + std::to_string(i)},
                                  bulwark::metric_group::retry | bulwark::metric_group::breaker |
                                      bulwark::metric_group::bulkhead);
            bulwark::emit(l, bulwark::events::retry_completed{});
            bulwark::emit(l, bulwark::events::retry_attempt{.delay = 20ms});
            bulwark::emit(l, bulwark::events::breaker_call{});
            bulwark::emit(l, bulwark::events::bulkhead_waited{.waited = 2ms});
        }
        return true;
    }();
    (void)filled;
    return reg;
}

std::size_t sample_lines(const std::string& text) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); ++i)
        if ((i == 0 || text[i - 1] == '\n') && text[i] != '#')
            ++n;
    return n;
}

void BM_serialize_bulwark(benchmark::State& state) {
    const auto& reg = filled_registry();
    std::string out;
    for (auto _ : state) {
        out.clear();
        bulwark::write_prometheus(reg.snapshot(), out);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["bytes"] = static_cast<double>(out.size());
    state.counters["samples"] = static_cast<double>(sample_lines(out));
}
BENCHMARK(BM_serialize_bulwark);

// ---- the standard pipeline with and without the metrics listener
// ---------------------------------

/// The stages of `bulwark::standard_pipeline()` with its defaults, every one with listener `l`.
template <class L>
auto standard_with(L l) {
    const bulwark::standard_options o;
    return bulwark::pipeline{
        bulwark::basic_bulkhead{bulwark::bulkhead_options{o.concurrency}, l},
        bulwark::basic_timeout<bulwark::policy_kind::total_timeout, L>{.limit = o.total_timeout,
                                                                       .listener = l},
        bulwark::retry{.max_attempts = o.max_attempts, .backoff = o.backoff}.with_listener(l),
        bulwark::basic_circuit_breaker{o.breaker, bulwark::default_classifier{}, l},
        bulwark::basic_timeout<bulwark::policy_kind::attempt_timeout, L>{.limit = o.attempt_timeout,
                                                                         .listener = l},
    };
}

/// The same stages, with listener `l` only on the stages whose bit is set in `Mask` (1 bulkhead,
/// 2 total timeout, 4 retry, 8 breaker, 16 attempt timeout) and `null_listener` elsewhere: where
/// the listener's cost per call comes from.
template <unsigned Mask, class L>
auto standard_with_some(L l) {
    const bulwark::standard_options o;
    using N = bulwark::null_listener;
    using LB = std::conditional_t<(Mask & 1u) != 0, L, N>;
    using LT = std::conditional_t<(Mask & 2u) != 0, L, N>;
    using LR = std::conditional_t<(Mask & 4u) != 0, L, N>;
    using LC = std::conditional_t<(Mask & 8u) != 0, L, N>;
    using LA = std::conditional_t<(Mask & 16u) != 0, L, N>;
    auto pick = [&]<class X>(std::type_identity<X>) {
        if constexpr (std::is_same_v<X, L>)
            return l;
        else
            return N{};
    };
    return bulwark::pipeline{
        bulwark::basic_bulkhead{bulwark::bulkhead_options{o.concurrency},
                                pick(std::type_identity<LB>{})},
        bulwark::basic_timeout<bulwark::policy_kind::total_timeout, LT>{
            .limit = o.total_timeout, .listener = pick(std::type_identity<LT>{})},
        bulwark::retry{.max_attempts = o.max_attempts, .backoff = o.backoff}.with_listener(
            pick(std::type_identity<LR>{})),
        bulwark::basic_circuit_breaker{o.breaker, bulwark::default_classifier{},
                                       pick(std::type_identity<LC>{})},
        bulwark::basic_timeout<bulwark::policy_kind::attempt_timeout, LA>{
            .limit = o.attempt_timeout, .listener = pick(std::type_identity<LA>{})},
    };
}

template <class Pipeline>
void run_pipeline(benchmark::State& state, Pipeline& p) {
    bulwark::bench::measure_calls(
        state, [&](auto& op, bulwark::context& ctx) { return p.execute(op, ctx); });
}

void BM_pipeline_standard_preset(benchmark::State& state) {
    auto p = bulwark::standard_pipeline();
    run_pipeline(state, p);
}
BENCHMARK(BM_pipeline_standard_preset);

void BM_pipeline_standard_null_listener(benchmark::State& state) {
    auto p = standard_with(bulwark::null_listener{});
    run_pipeline(state, p);
}
BENCHMARK(BM_pipeline_standard_null_listener);

void BM_pipeline_standard_metrics_listener(benchmark::State& state) {
    static bulwark::metrics_registry reg;
    auto p = standard_with(reg.listener({.pipeline = "standard", .policy = "all"}));
    run_pipeline(state, p);
    const auto s = reg.listener({.pipeline = "standard", .policy = "all"}).snapshot();
    state.counters["calls_counted"] = static_cast<double>(s.retry.successful_without_retry);
}
BENCHMARK(BM_pipeline_standard_metrics_listener);

/// The two above, paired (see `run_paired`): a difference of a few nanoseconds between two
/// ~60 ns figures taken in separate benchmarks is within their run-to-run spread; taken in
/// alternating batches it holds still. Counters: ns per call of each (`null_ns`, `metrics_ns`),
/// `over_ns` = metrics - null and `ratio` = metrics / null.
void BM_pipeline_standard_listener_paired(benchmark::State& state) {
    static bulwark::metrics_registry reg;
    auto none = standard_with(bulwark::null_listener{});
    auto metrics = standard_with(reg.listener({.pipeline = "standard", .policy = "paired"}));
    int input = 1;
    bulwark::bench::cheap_op op{&input};
    bulwark::context ctx_none, ctx_metrics;
    auto call_none = [&] { benchmark::DoNotOptimize(none.execute(op, ctx_none)); };
    auto call_metrics = [&] { benchmark::DoNotOptimize(metrics.execute(op, ctx_metrics)); };
    const auto before = bulwark::test::thread_allocations();
    const auto ns = bulwark::bench::run_paired(state, call_none, call_metrics);
    bulwark::bench::report_allocs(state, before);
    state.counters["null_ns"] = ns[0];
    state.counters["metrics_ns"] = ns[1];
    state.counters["over_ns"] = ns[1] - ns[0];
    state.counters["ratio"] = ns[1] / ns[0];
}
BENCHMARK(BM_pipeline_standard_listener_paired);

template <unsigned Mask>
void BM_pipeline_standard_metrics_on(benchmark::State& state) {
    static bulwark::metrics_registry reg;
    auto p = standard_with_some<Mask>(reg.listener({.pipeline = "standard", .policy = "some"}));
    run_pipeline(state, p);
}
BENCHMARK_TEMPLATE(BM_pipeline_standard_metrics_on, 1u);
BENCHMARK_TEMPLATE(BM_pipeline_standard_metrics_on, 2u);
BENCHMARK_TEMPLATE(BM_pipeline_standard_metrics_on, 4u);
BENCHMARK_TEMPLATE(BM_pipeline_standard_metrics_on, 8u);
BENCHMARK_TEMPLATE(BM_pipeline_standard_metrics_on, 16u);

// ---- an async channel with and without a listener --------------------------------------------

/// Publishes `channel_messages` into a channel with room for all of them, then drains: ns per
/// message (publish + delivery on the consumer thread), and allocations per message on the
/// producer and on the consumer (read by the handler). The channel's events on this path:
/// `channel_published` and `channel_delivered`.
constexpr std::uint64_t channel_messages = 1 << 16;
std::atomic<std::size_t> g_consumer_allocs{0};

template <class Channel>
void run_channel(benchmark::State& state, Channel& ch) {
    std::size_t producer = 0, consumer = 0;
    for (auto _ : state) {
        const std::size_t c0 = g_consumer_allocs.load();
        const auto before = bulwark::test::thread_allocations();
        for (std::uint64_t i = 0; i < channel_messages; ++i)
            (void)ch.publish(i);
        producer += bulwark::test::thread_allocations() - before;
        ch.drain();
        consumer += g_consumer_allocs.load() - c0;
    }
    const auto n = static_cast<double>(state.iterations() * channel_messages);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * channel_messages));
    state.counters["producer_allocs/msg"] = static_cast<double>(producer) / n;
    state.counters["consumer_allocs/msg"] = static_cast<double>(consumer) / n;
}

void consume(std::uint64_t v) {
    benchmark::DoNotOptimize(v);
    g_consumer_allocs.store(bulwark::test::thread_allocations(), std::memory_order_relaxed);
}

void BM_channel_plain(benchmark::State& state) {
    bulwark::async_channel<std::uint64_t> ch(consume, {.capacity = channel_messages});
    run_channel(state, ch);
}
BENCHMARK(BM_channel_plain)->UseRealTime();

void BM_channel_null_listener(benchmark::State& state) {
    bulwark::async_channel<std::uint64_t, bulwark::mpmc, bulwark::overflow::block,
                           bulwark::null_listener>
        ch(consume, {.capacity = channel_messages}, {}, "numbers");
    run_channel(state, ch);
}
BENCHMARK(BM_channel_null_listener)->UseRealTime();

void BM_channel_metrics_listener(benchmark::State& state) {
    static bulwark::metrics_registry reg;
    bulwark::async_channel<std::uint64_t, bulwark::mpmc, bulwark::overflow::block,
                           bulwark::metrics_listener>
        ch(consume, {.capacity = channel_messages}, reg.listener({.topic = "numbers"}), "numbers");
    run_channel(state, ch);
}
BENCHMARK(BM_channel_metrics_listener)->UseRealTime();

#if BULWARK_BENCH_PROMETHEUS_CPP

prometheus::Registry& pcpp_registry() {
    static auto reg = std::make_shared<prometheus::Registry>();
    return *reg;
}

void BM_counter_increment_prometheus_cpp(benchmark::State& state) {
    static auto& c = prometheus::BuildCounter()
                         .Name("bulwark_breaker_calls_total")
                         .Help("h")
                         .Register(pcpp_registry())
                         .Add({{"name", "counter"}, {"kind", "successful"}});
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        c.Increment();
        benchmark::ClobberMemory();
    }
    report_allocs(state, before);
}
BENCHMARK(BM_counter_increment_prometheus_cpp)->Threads(1)->Threads(2)->UseRealTime();

const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

void BM_histogram_observe_prometheus_cpp(benchmark::State& state) {
    static auto& h = prometheus::BuildHistogram()
                         .Name("bulwark_bulkhead_wait_seconds")
                         .Help("h")
                         .Register(pcpp_registry())
                         .Add({{"name", "histogram"}}, bounds);
    auto before = bulwark::test::thread_allocations();
    for (auto _ : state) {
        // the seconds as a double, as a caller holding a duration would compute it
        h.Observe(std::chrono::duration<double>(3ms).count());
        benchmark::ClobberMemory();
    }
    report_allocs(state, before);
}
BENCHMARK(BM_histogram_observe_prometheus_cpp)->Threads(1)->Threads(2)->UseRealTime();

/// The same families, series and values as filled_registry(), in prometheus-cpp.
std::shared_ptr<prometheus::Registry> pcpp_filled() {
    auto reg = std::make_shared<prometheus::Registry>();
    auto& calls =
        prometheus::BuildCounter().Name("bulwark_retry_calls_total").Help("h").Register(*reg);
    auto& retries =
        prometheus::BuildCounter().Name("bulwark_retry_retries_total").Help("h").Register(*reg);
    auto& refused = prometheus::BuildCounter()
                        .Name("bulwark_retry_budget_refused_total")
                        .Help("h")
                        .Register(*reg);
    auto& give_ups =
        prometheus::BuildCounter().Name("bulwark_retry_give_ups_total").Help("h").Register(*reg);
    auto& delay =
        prometheus::BuildHistogram().Name("bulwark_retry_delay_seconds").Help("h").Register(*reg);
    auto& state = prometheus::BuildGauge().Name("bulwark_breaker_state").Help("h").Register(*reg);
    auto& bcalls =
        prometheus::BuildCounter().Name("bulwark_breaker_calls_total").Help("h").Register(*reg);
    auto& np = prometheus::BuildCounter()
                   .Name("bulwark_breaker_not_permitted_calls_total")
                   .Help("h")
                   .Register(*reg);
    auto& tr = prometheus::BuildCounter()
                   .Name("bulwark_breaker_transitions_total")
                   .Help("h")
                   .Register(*reg);
    auto& fr =
        prometheus::BuildGauge().Name("bulwark_breaker_failure_ratio").Help("h").Register(*reg);
    auto& sr =
        prometheus::BuildGauge().Name("bulwark_breaker_slow_call_ratio").Help("h").Register(*reg);
    auto& rej =
        prometheus::BuildCounter().Name("bulwark_bulkhead_rejected_total").Help("h").Register(*reg);
    auto& q =
        prometheus::BuildCounter().Name("bulwark_bulkhead_queued_total").Help("h").Register(*reg);
    auto& wait =
        prometheus::BuildHistogram().Name("bulwark_bulkhead_wait_seconds").Help("h").Register(*reg);
    for (int i = 0; i < series_count; ++i) {
        const prometheus::Labels l{{"pipeline", "checkout"}, {"name", "p" + std::to_string(i)}};
        auto with = [&](const char* k, const char* v) {
            auto x = l;
            x[k] = v;
            return x;
        };
        for (const char* k : {"successful_without_retry", "successful_with_retry",
                              "failed_without_retry", "failed_with_retry"})
            calls.Add(with("kind", k)).Increment(k[0] == 's' && k[11] == 'w' && k[15] == 'o');
        retries.Add(l).Increment();
        refused.Add(l);
        for (const char* r : {"not_retryable", "attempts_exhausted", "deadline", "max_duration",
                              "stopped", "budget_exhausted"})
            give_ups.Add(with("reason", r));
        delay.Add(l, bounds).Observe(0.02);
        for (const char* s :
             {"closed", "open", "half_open", "forced_open", "disabled", "metrics_only"})
            state.Add(with("state", s)).Set(s[0] == 'c' ? 1 : 0);
        for (const char* k : {"successful", "failed", "ignored"})
            bcalls.Add(with("kind", k)).Increment(k[0] == 's' ? 1 : 0);
        np.Add(l);
        tr.Add(l);
        fr.Add(l);
        sr.Add(l);
        rej.Add(l);
        q.Add(l);
        wait.Add(l, bounds).Observe(0.002);
    }
    return reg;
}

void BM_serialize_prometheus_cpp(benchmark::State& state) {
    auto reg = pcpp_filled();
    prometheus::TextSerializer ser;
    std::string out;
    for (auto _ : state) {
        std::ostringstream os;
        ser.Serialize(os, reg->Collect());
        out = os.str();
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["bytes"] = static_cast<double>(out.size());
    state.counters["samples"] = static_cast<double>(sample_lines(out));
}
BENCHMARK(BM_serialize_prometheus_cpp);

#endif

} // namespace
