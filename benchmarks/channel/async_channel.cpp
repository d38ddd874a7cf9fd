// Async channel throughput: bulwark::async_channel (bounded lock-free ring + consumer threads)
// beside moodycamel::ConcurrentQueue, boost::lockfree::queue and boost::lockfree::spsc_queue,
// for 1P1C, 2P1C and 2P2C. Each iteration moves `messages` 64-bit values from P producer
// threads to C consumer threads; the peers' consumers busy-poll (as in moodycamel's own
// benchmarks), bulwark's consumers spin briefly and then sleep. bulwark runs bounded at 4096
// slots (as the boost peers) and "roomy" (2^18 slots: producers never wait, as moodycamel's
// growing queue).
//
//   build/bench/benchmarks/bench_channel --benchmark_filter=throughput
#include <bulwark/channel/async_channel.hpp>

#include "support/alloc_counter.hpp"

#include <benchmark/benchmark.h>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr std::uint64_t messages = 1 << 18;
constexpr std::uint64_t stop_value = ~std::uint64_t{0};
constexpr std::size_t capacity = 4096;

/// Runs `producers` threads that each call `push(v)` for their share, returns their allocations.
template <class Push>
std::size_t run_producers(int producers, Push push) {
    std::atomic<std::size_t> allocs{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&, p] {
            auto before = bulwark::test::thread_allocations();
            for (std::uint64_t i = p; i < messages; i += producers)
                push(i);
            allocs += bulwark::test::thread_allocations() - before;
        });
    for (auto& t : threads)
        t.join();
    return allocs.load();
}

void report(benchmark::State& state, std::size_t allocs) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages));
    state.counters["producer_allocs/msg"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations() * messages);
}

/// bulwark: a long-lived channel (as in a service); `capacity` slots of back-pressure.
void run_bulwark(benchmark::State& state, std::size_t slots) {
    int producers = static_cast<int>(state.range(0)), consumers = static_cast<int>(state.range(1));
    std::size_t allocs = 0;
    bulwark::async_channel<std::uint64_t> ch(
        [](std::uint64_t v) { benchmark::DoNotOptimize(v); },
        {.capacity = slots, .consumers = static_cast<std::size_t>(consumers)});
    for (auto _ : state) {
        allocs += run_producers(producers, [&](std::uint64_t v) { (void)ch.publish(v); });
        ch.drain();
    }
    report(state, allocs);
}

/// Bounded at 4096 slots, like the boost peers.
void BM_throughput_bulwark(benchmark::State& state) {
    run_bulwark(state, capacity);
}
/// Room for a whole iteration: producers never wait, like moodycamel's growing queue.
void BM_throughput_bulwark_roomy(benchmark::State& state) {
    run_bulwark(state, messages);
}

/// Peer harness: consumers poll `pop` until they see a stop value (one per consumer, pushed
/// after every producer finished).
template <class Queue, class Push, class Pop>
void run_peer(benchmark::State& state, Push push, Pop pop) {
    int producers = static_cast<int>(state.range(0)), consumers = static_cast<int>(state.range(1));
    std::size_t allocs = 0;
    for (auto _ : state) {
        Queue q(capacity);
        std::vector<std::thread> cs;
        for (int c = 0; c < consumers; ++c)
            cs.emplace_back([&] {
                std::uint64_t v;
                for (;;) {
                    if (pop(q, v)) {
                        if (v == stop_value)
                            return;
                        benchmark::DoNotOptimize(v);
                    }
                }
            });
        allocs += run_producers(producers, [&](std::uint64_t v) { push(q, v); });
        for (int c = 0; c < consumers; ++c)
            push(q, stop_value);
        for (auto& t : cs)
            t.join();
    }
    report(state, allocs);
}

void BM_throughput_moodycamel(benchmark::State& state) {
    using queue = moodycamel::ConcurrentQueue<std::uint64_t>;
    run_peer<queue>(
        state, [](queue& q, std::uint64_t v) { q.enqueue(v); },
        [](queue& q, std::uint64_t& v) { return q.try_dequeue(v); });
}

void BM_throughput_boost_lockfree_queue(benchmark::State& state) {
    using queue = boost::lockfree::queue<std::uint64_t>;
    run_peer<queue>(
        state,
        [](queue& q, std::uint64_t v) {
            while (!q.bounded_push(v))
                std::this_thread::yield();
        },
        [](queue& q, std::uint64_t& v) { return q.pop(v); });
}

void BM_throughput_boost_spsc_queue(benchmark::State& state) {
    using queue = boost::lockfree::spsc_queue<std::uint64_t>;
    run_peer<queue>(
        state,
        [](queue& q, std::uint64_t v) {
            while (!q.push(v))
                std::this_thread::yield();
        },
        [](queue& q, std::uint64_t& v) { return q.pop(v); });
}

// Five repetitions whatever --benchmark_repetitions says: the throughput target (2P/2C against
// moodycamel) is stated as the median of 5 runs.
void configs(benchmark::internal::Benchmark* b) {
    b->ArgNames({"P", "C"})->Args({1, 1})->Args({2, 1})->Args({2, 2});
    b->UseRealTime()->Unit(benchmark::kMillisecond)->Repetitions(5);
}

} // namespace

BENCHMARK(BM_throughput_bulwark)->Apply(configs);
BENCHMARK(BM_throughput_bulwark_roomy)->Apply(configs);
BENCHMARK(BM_throughput_moodycamel)->Apply(configs);
BENCHMARK(BM_throughput_boost_lockfree_queue)->Apply(configs);
BENCHMARK(BM_throughput_boost_spsc_queue)
    ->Args({1, 1})
    ->ArgNames({"P", "C"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
