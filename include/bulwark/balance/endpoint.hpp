#pragma once
/// \file
/// `endpoint`: one instance of a service (address, weight, zone, metadata) with its live,
/// lock-free statistics — outstanding requests, peak-EWMA latency, consecutive failures and the
/// outlier-ejection state.

#include <bulwark/core/context.hpp>
#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/time.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

namespace bulwark {

/// `e^(−Δt/τ)` of the peak-EWMA decay, for elapsed times in the EWMA word's ticks (2^20 ns),
/// by table lookup: what a pick pays for decaying a cost without a division or an `exp` call.
/// Below 2^16 ticks (~68 s) the weight is the product of two 256-entry tables
/// (`e^(−(hi·256 + lo)·k) = e^(−hi·256·k) · e^(−lo·k)`, each entry computed by `std::exp`, so the
/// product is within a few ulp of the direct formula); an older history calls `std::exp`.
///
/// **Allocation:** none (4 KiB inline; one per registry snapshot). **Thread safety:** immutable.
class ewma_decay_table {
public:
    /// The table for time constant `tau` (> 0).
    explicit ewma_decay_table(duration tau) noexcept
        : per_tick_(-static_cast<double>(std::uint64_t{1} << tick_shift) /
                    static_cast<double>(tau.count())) {
        for (std::size_t i = 0; i < 256; ++i) {
            lo_[i] = std::exp(per_tick_ * static_cast<double>(i));
            hi_[i] = std::exp(per_tick_ * static_cast<double>(i * 256));
        }
    }
    /// `e^(−elapsed·2^20 ns/τ)`.
    double operator()(std::uint32_t elapsed_ticks) const noexcept {
        if (elapsed_ticks < (1u << 16)) [[likely]]
            return hi_[elapsed_ticks >> 8] * lo_[elapsed_ticks & 0xffu];
        return std::exp(per_tick_ * static_cast<double>(elapsed_ticks));
    }

    /// The EWMA word's tick: 2^tick_shift ns.
    static constexpr int tick_shift = 20;

private:
    double per_tick_;
    double lo_[256];
    double hi_[256];
};

/// One endpoint of a service and its live statistics.
///
/// The description (`info()`) never changes; the statistics are atomics updated by the balance
/// policy, the outlier detector and the health checker, and read by the strategies.
///
/// **Thread safety:** every member is thread-safe (statistics are `mutable` atomics, so they can
/// be recorded through the `const endpoint*` a `context` holds). **Allocation:** none after
/// construction. Not copyable or movable: contexts and strategies refer to it by address.
class endpoint : public endpoint_identity {
public:
    /// The penalty cost of an endpoint with requests in flight but no latency history yet
    /// (Finagle's `PeakEwma`: `Long.MaxValue >> 16`, in nanoseconds).
    static constexpr double no_history_penalty =
        static_cast<double>(std::numeric_limits<std::int64_t>::max() >> 16);

    explicit endpoint(endpoint_info info)
        : endpoint_identity(std::move(info)) {}

    // ---- load -------------------------------------------------------------------------------

    /// Requests in flight on this endpoint.
    std::uint32_t outstanding() const noexcept {
        return outstanding_.load(std::memory_order_relaxed);
    }
    void begin_request() const noexcept { outstanding_.fetch_add(1, std::memory_order_relaxed); }
    /// Release: the registry frees a removed endpoint once it reads 0 here (acquire).
    void end_request() const noexcept { outstanding_.fetch_sub(1, std::memory_order_release); }

    /// Records one round-trip time (Finagle/tower peak EWMA): a sample above the estimate
    /// replaces it (the peak); otherwise `est = est·w + rtt·(1 − w)` with `w = e^(−Δt/τ)`.
    /// **Complexity:** a CAS loop on one 64-bit word (lock-free).
    void observe_latency(duration rtt, time_point now, duration tau) const noexcept {
        const double sample = std::max(1.0, static_cast<double>(rtt.count()));
        const std::uint32_t stamp = to_stamp(now);
        std::uint64_t old = ewma_.load(std::memory_order_relaxed);
        for (;;) {
            double est = estimate_of(old);
            if (sample > est) {
                est = sample;
            } else {
                const double w = decay(old, stamp, tau);
                est = est * w + sample * (1.0 - w);
            }
            if (ewma_.compare_exchange_weak(old, pack(est, stamp), std::memory_order_relaxed))
                return;
        }
    }
    /// The latency estimate in nanoseconds, decayed to `now` (0 without history).
    double latency_estimate(time_point now, duration tau) const noexcept {
        const std::uint64_t cur = ewma_.load(std::memory_order_relaxed);
        return estimate_of(cur) * decay(cur, to_stamp(now), tau);
    }
    /// Peak-EWMA cost: `estimate × (outstanding + 1)`; 0 for an idle endpoint without history
    /// (so it gets traffic and a history), a huge penalty for a busy one (Finagle).
    double peak_ewma_cost(time_point now, duration tau) const noexcept {
        const double est = latency_estimate(now, tau);
        const std::uint32_t n = outstanding();
        if (est == 0.0)
            return n == 0 ? 0.0 : no_history_penalty + n;
        return est * (n + 1.0);
    }
    /// The same cost with the decay read from `decay` (a snapshot's table for the registry's τ:
    /// `endpoint_set::decay_table()`); what the P2C pick uses.
    double peak_ewma_cost(time_point now, const ewma_decay_table& decay) const noexcept {
        const std::uint64_t cur = ewma_.load(std::memory_order_relaxed);
        const std::uint32_t n = outstanding();
        const std::uint32_t elapsed = to_stamp(now) - static_cast<std::uint32_t>(cur);
        // Same tick, or a reading from the past: no decay (as `decay` below).
        const double w = elapsed == 0 || elapsed > 0x8000'0000u ? 1.0 : decay(elapsed);
        const double est = estimate_of(cur) * w;
        if (est == 0.0)
            return n == 0 ? 0.0 : no_history_penalty + n;
        return est * (n + 1.0);
    }
    bool has_latency_history() const noexcept {
        return estimate_of(ewma_.load(std::memory_order_relaxed)) != 0.0;
    }

    // ---- health -----------------------------------------------------------------------------

    /// Failures in a row since the last success (outlier detection input).
    std::uint32_t consecutive_failures() const noexcept {
        return failures_.load(std::memory_order_relaxed);
    }
    /// True unless active health checks marked it unhealthy or outlier detection ejected it.
    bool healthy() const noexcept { return active_healthy() && !ejected(); }
    bool active_healthy() const noexcept { return active_healthy_.load(std::memory_order_relaxed); }
    bool ejected() const noexcept { return ejected_until_.load(std::memory_order_relaxed) != 0; }
    /// When the current ejection ends (`time_point{}` when not ejected).
    time_point ejected_until() const noexcept {
        return time_point{duration{ejected_until_.load(std::memory_order_relaxed)}};
    }
    /// How many times it was ejected (decays while it stays in; see `outlier_options`).
    std::uint32_t times_ejected() const noexcept {
        return times_ejected_.load(std::memory_order_relaxed);
    }

private:
    friend class outlier_detector;
    friend class registry;
    template <class Probe>
    friend class health_checker;

    // The EWMA word: high 32 bits = the estimate in ns as a float, low 32 bits = the time of the
    // last update in units of 2^20 ns (~1 ms; wraps after ~52 days, far beyond τ).
    static constexpr int stamp_shift = ewma_decay_table::tick_shift;
    static std::uint32_t to_stamp(time_point t) noexcept {
        return static_cast<std::uint32_t>(
            static_cast<std::uint64_t>(t.time_since_epoch().count()) >> stamp_shift);
    }
    static std::uint64_t pack(double est, std::uint32_t stamp) noexcept {
        const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(est));
        return (static_cast<std::uint64_t>(bits) << 32) | stamp;
    }
    static double estimate_of(std::uint64_t word) noexcept {
        return std::bit_cast<float>(static_cast<std::uint32_t>(word >> 32));
    }
    static double decay(std::uint64_t word, std::uint32_t now_stamp, duration tau) noexcept {
        const std::uint32_t elapsed = now_stamp - static_cast<std::uint32_t>(word);
        if (elapsed == 0 || elapsed > 0x8000'0000u) // same tick, or a reading from the past
            return 1.0;
        const double dt = static_cast<double>(static_cast<std::uint64_t>(elapsed) << stamp_shift);
        return std::exp(-dt / static_cast<double>(tau.count()));
    }

    alignas(64) mutable std::atomic<std::uint32_t> outstanding_{0};
    mutable std::atomic<std::uint64_t> ewma_{0};
    mutable std::atomic<std::uint32_t> failures_{0};
    mutable std::atomic<bool> active_healthy_{true};
    mutable std::atomic<duration::rep> ejected_until_{0}; // 0 = in service
    mutable std::atomic<std::uint32_t> times_ejected_{0};
    mutable std::atomic<duration::rep> last_return_{0}; // when it last came back from ejection
};

/// The balance `endpoint` (with its statistics) that a `balance` policy picked into `ctx`, or
/// null when none was picked. Precondition: the context's endpoint was set by `balance`.
inline const endpoint* balanced_endpoint(const context& ctx) noexcept {
    return static_cast<const endpoint*>(ctx.endpoint());
}

} // namespace bulwark
