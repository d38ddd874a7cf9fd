#pragma once
/// \file
/// The unavoidable operations of the policies, as plain atomics: what `floors.cpp` measures
/// alone and `policies.cpp` measures paired with the standard pipeline (see floors.cpp's head
/// for what each policy must do).

#include <bulwark/detail/coarse_clock.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <limits>

namespace bulwark::bench {

// Each atomic is alone on its cache line and touched by one thread: uncontended, as on a
// policy's success path with one caller.
struct alignas(64) padded {
    std::atomic<std::uint64_t> v{1};
};

// One timer entry's arm and disarm on the owner's lane: a release store then a load, twice
// (the asymmetric fence's frequent side; the timer thread pays the membarrier).
struct alignas(64) lane_slot {
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::int64_t> due{0};
    std::atomic<std::uint64_t> claim{0};
};
struct alignas(64) wake_word {
    std::atomic<std::int64_t> next{std::numeric_limits<std::int64_t>::max()};
};
inline void arm_disarm(lane_slot& s, const wake_word& w, std::int64_t due) {
    const std::uint64_t g = s.generation.load(std::memory_order_relaxed) + 1;
    s.due.store(due, std::memory_order_relaxed);
    s.generation.store(g, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    benchmark::DoNotOptimize(w.next.load(std::memory_order_relaxed) < due);
    s.generation.store(g + 1, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    benchmark::DoNotOptimize(s.claim.load(std::memory_order_relaxed) == g);
}

/// The standard pipeline (bulkhead → total timeout → retry → time-window breaker → attempt
/// timeout): a permit taken and given back (CAS + fetch_sub), one coarse clock read shared by
/// the timeouts and the breaker, two arms and disarms, the breaker's state load and window
/// fetch_add. `once()` is one call's worth.
struct standard_floor {
    padded permits, st, bucket;
    lane_slot outer, inner;
    wake_word w;

    void once() {
        std::uint64_t p = permits.v.load(std::memory_order_relaxed);
        benchmark::DoNotOptimize(
            permits.v.compare_exchange_weak(p, p + 1, std::memory_order_acq_rel));
        const std::int64_t t = bulwark::detail::coarse_clock::now().time_since_epoch().count();
        arm_disarm(outer, w, t + 30'000'000'000);
        benchmark::DoNotOptimize(st.v.load(std::memory_order_acquire));
        arm_disarm(inner, w, t + 10'000'000'000);
        benchmark::DoNotOptimize(bucket.v.fetch_add(1, std::memory_order_relaxed));
        benchmark::DoNotOptimize(permits.v.fetch_sub(1, std::memory_order_acq_rel));
    }
};

} // namespace bulwark::bench
