#pragma once
/// \file
/// `adaptive_limiter<Algorithm>`: the lock-free core of `adaptive_limit` — permits against a
/// limit that an algorithm moves once per window — usable on its own (acquire a permit, release
/// it with how the call ended) where a call is not a pipeline call (a simulation, a server's
/// admission loop).
///
/// **Windowing** follows concurrency-limits' `WindowedLimit`: a window closes at the first
/// release after `next_update`, once it holds `min_samples` samples (an under-filled window is
/// discarded, so a trickle of calls does not steer the limit); the algorithm gets the window's
/// mean RTT, its largest in-flight count and whether any call dropped; the next window lasts
/// `clamp(2 * smallest RTT of the window, min_window, max_window)`. Samples with an RTT below
/// `min_rtt` are ignored (health checks, cache hits). Defaults as there: windows of 1 s, at least
/// 10 samples, `min_rtt` 100 us.

#include <bulwark/core/time_types.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/adaptive_limit/sample.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

namespace bulwark {

/// Settings of the window that turns calls into samples.
struct limit_window_options {
    duration min_window = std::chrono::seconds{1};     ///< shortest window (> 0)
    duration max_window = std::chrono::seconds{1};     ///< longest window (>= min_window)
    std::size_t min_samples = 10;                      ///< fewer samples: the window is discarded
    duration min_rtt = std::chrono::microseconds{100}; ///< faster calls are not sampled
};

/// How a call that held a permit ended, for the limit.
enum class limit_outcome {
    success, ///< a latency sample (also an error that was a normal answer)
    dropped, ///< a loss signal: the call timed out or the server shed it
    ignored, ///< no sample: cancelled by the caller, or an exception that says nothing of load
};

/// The enumerator's name ("success", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(limit_outcome v) noexcept {
    switch (v) {
    case limit_outcome::success:
        return "success";
    case limit_outcome::dropped:
        return "dropped";
    case limit_outcome::ignored:
        return "ignored";
    }
    return "unknown";
}

/// A permit of an `adaptive_limiter`: when the call started and how many were in flight then.
struct limit_permit {
    time_point start{};
    std::size_t inflight = 0;
};

/// The core of `adaptive_limit` (see the file comment).
///
/// **Thread safety:** all members may be called concurrently. `try_acquire` is one CAS on the
/// in-flight count; `release` is one decrement plus, for a sample, a few relaxed atomic adds on
/// the window; the thread whose release closes a window runs the algorithm, after winning a
/// try-only flag (nobody ever waits for it). A sample that races with a window's close may be
/// counted in the next window. **Allocation:** none.
template <limit_algorithm Algorithm>
class adaptive_limiter {
public:
    adaptive_limiter(typename Algorithm::options algorithm, limit_window_options window)
        : algo_(algorithm)
        , window_(window)
        , limit_(algo_.limit()) {
        detail::require(window.min_window > duration::zero(), "adaptive_limit", "min_window", "> 0",
                        window.min_window);
        detail::require(window.max_window >= window.min_window, "adaptive_limit", "max_window",
                        ">= min_window", window.max_window);
        detail::require(window.min_samples >= 1, "adaptive_limit", "min_samples", ">= 1",
                        window.min_samples);
        detail::require(window.min_rtt >= duration::zero(), "adaptive_limit", "min_rtt", ">= 0",
                        window.min_rtt);
    }

    /// Takes a permit at `now` if fewer than `limit()` calls are in flight.
    std::optional<limit_permit> try_acquire(time_point now) noexcept {
        std::size_t cur = inflight_.load(std::memory_order_relaxed);
        for (;;) {
            if (cur >= limit_.load(std::memory_order_relaxed))
                return std::nullopt;
            if (inflight_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed))
                return limit_permit{now, cur + 1};
        }
    }

    /// Enters a call that another limit admitted (a bulkhead this limiter drives): counted and
    /// sampled, never refused.
    limit_permit enter(time_point now) noexcept {
        return limit_permit{now, inflight_.fetch_add(1, std::memory_order_relaxed) + 1};
    }

    /// Gives a permit back at `now`, sampling the call unless `how` is `ignored`.
    void release(const limit_permit& p, time_point now, limit_outcome how) noexcept {
        inflight_.fetch_sub(1, std::memory_order_relaxed);
        if (how == limit_outcome::ignored)
            return;
        const duration rtt = now - p.start;
        if (rtt < window_.min_rtt)
            return;
        const auto ns = static_cast<std::uint64_t>(rtt.count());
        sum_rtt_.fetch_add(ns, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
        store_max(max_inflight_, p.inflight);
        store_min(min_rtt_, ns);
        if (how == limit_outcome::dropped)
            dropped_.store(true, std::memory_order_relaxed);
        if (now.time_since_epoch().count() >= next_update_.load(std::memory_order_relaxed))
            close_window(now);
    }

    /// The current limit.
    std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
    /// Calls holding a permit now.
    std::size_t inflight() const noexcept { return inflight_.load(std::memory_order_relaxed); }

private:
    void close_window(time_point now) noexcept {
        if (updating_.exchange(true, std::memory_order_acquire))
            return; // another release is closing it
        const duration::rep due = next_update_.load(std::memory_order_relaxed);
        if (due == not_started) {
            // The first window starts with the first sample (the limiter cannot know when
            // traffic begins).
            next_update_.store(saturating_add(now, window_.min_window).time_since_epoch().count(),
                               std::memory_order_relaxed);
        } else if (now.time_since_epoch().count() >= due) {
            const std::uint64_t n = count_.exchange(0, std::memory_order_relaxed);
            const std::uint64_t sum = sum_rtt_.exchange(0, std::memory_order_relaxed);
            const std::size_t peak = max_inflight_.exchange(0, std::memory_order_relaxed);
            const std::uint64_t fastest = min_rtt_.exchange(no_rtt, std::memory_order_relaxed);
            const bool drop = dropped_.exchange(false, std::memory_order_relaxed);
            if (n >= window_.min_samples && n > 0) {
                algo_.on_sample({duration{static_cast<duration::rep>(sum / n)}, peak, drop});
                limit_.store(algo_.limit(), std::memory_order_relaxed);
            }
            // The next window: twice the fastest call, within [min_window, max_window].
            duration len = window_.min_window;
            if (fastest != no_rtt &&
                fastest <= static_cast<std::uint64_t>(window_.max_window.count() / 2))
                len = std::max(len, duration{static_cast<duration::rep>(2 * fastest)});
            else if (fastest != no_rtt)
                len = window_.max_window;
            next_update_.store(saturating_add(now, len).time_since_epoch().count(),
                               std::memory_order_relaxed);
        }
        updating_.store(false, std::memory_order_release);
    }

    template <class T>
    static void store_max(std::atomic<T>& a, T v) noexcept {
        T cur = a.load(std::memory_order_relaxed);
        while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed))
            ;
    }
    template <class T>
    static void store_min(std::atomic<T>& a, T v) noexcept {
        T cur = a.load(std::memory_order_relaxed);
        while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed))
            ;
    }

    static constexpr duration::rep not_started = std::numeric_limits<duration::rep>::min();
    static constexpr std::uint64_t no_rtt = std::numeric_limits<std::uint64_t>::max();

    Algorithm algo_; // touched only by the holder of updating_
    const limit_window_options window_;
    alignas(64) std::atomic<std::size_t> inflight_{0};
    std::atomic<std::size_t> limit_;
    alignas(64) std::atomic<std::uint64_t> sum_rtt_{0};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::size_t> max_inflight_{0};
    std::atomic<std::uint64_t> min_rtt_{no_rtt};
    std::atomic<bool> dropped_{false};
    std::atomic<duration::rep> next_update_{not_started};
    std::atomic<bool> updating_{false};
};

} // namespace bulwark
