#pragma once
/// \file
/// Sliding windows of call outcomes for the circuit breaker: `count_window{n}` (the last n calls)
/// and `time_window{s}` (the calls of the last s seconds), after resilience4j's COUNT_BASED and
/// TIME_BASED windows (`FixedSizeSlidingWindowMetrics`, `SlidingTimeWindowMetrics`): every
/// record adds to running totals and subtracts what it evicts, so a snapshot is O(1).
///
/// Unlike resilience4j's default (a synchronized window), these record lock-free: each slot or
/// bucket is changed with one atomic operation and the totals by the same delta, so the totals
/// always equal the sum of the slots once every in-flight record has landed. (The time window
/// keeps the newest second's calls in its bucket only, and moves them to the totals when time
/// moves on: one atomic add per success. A record racing the reuse of its own bucket may leave
/// with the bucket's old counts: the window stays consistent, not exact, at second boundaries.)

#include <chrono>
#include <cstdint>

namespace bulwark {

/// A window over the last `size` calls (resilience4j COUNT_BASED; default 100).
struct count_window {
    std::int64_t size = 100;
};

/// A window over the calls of the last `seconds` whole seconds, one bucket per second
/// (resilience4j TIME_BASED). `time_window{10}` or `time_window{10s}`.
struct time_window {
    std::int64_t seconds = 60;
    constexpr time_window() noexcept = default;
    constexpr time_window(std::int64_t s) noexcept
        : seconds(s) {}
    constexpr time_window(std::chrono::seconds s) noexcept
        : seconds(s.count()) {}
};

/// Totals of a window at one moment: calls recorded, of which failures and slow calls.
struct window_snapshot {
    std::int64_t calls = 0;
    std::int64_t failures = 0;
    std::int64_t slow = 0;

    /// failures / calls, 0 for an empty window.
    double failure_rate() const noexcept {
        return calls > 0 ? static_cast<double>(failures) / static_cast<double>(calls) : 0.0;
    }
    /// slow / calls, 0 for an empty window.
    double slow_rate() const noexcept {
        return calls > 0 ? static_cast<double>(slow) / static_cast<double>(calls) : 0.0;
    }
};

} // namespace bulwark
