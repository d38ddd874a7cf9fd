#pragma once
/// \file
/// Passive outlier ejection with Envoy's semantics (`outlier_detection.proto`): an endpoint that
/// fails `consecutive_failures` times in a row leaves the balancing set for
/// `base_ejection_time × times ejected` (capped by `max_ejection_time`), and no more than
/// `max_ejection_percent` of the endpoints (but always at least one, as Envoy does) are out at
/// once.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

namespace bulwark {

/// Settings of passive outlier ejection (defaults: Envoy's).
struct outlier_options {
    /// Failures in a row that eject an endpoint (Envoy `consecutive_5xx`, default 5).
    std::uint32_t consecutive_failures = 5;
    /// First ejection time; the n-th ejection lasts n × this (Envoy default 30 s).
    duration base_ejection_time = std::chrono::seconds{30};
    /// Cap on one ejection (Envoy default 300 s).
    duration max_ejection_time = std::chrono::seconds{300};
    /// Most endpoints out at once, in percent; at least one is always allowed (Envoy: 10).
    double max_ejection_percent = 10.0;
    /// The ejection multiplier drops by one per `interval` an endpoint stays in (Envoy: 10 s).
    duration interval = std::chrono::seconds{10};

    /// Throws `invalid_argument_error` for out-of-range settings. (`base × times ejected`
    /// saturates at `max_ejection_time`, so no setting overflows the ejection time.)
    void validate() const {
        detail::require(consecutive_failures >= 1, "outlier", "consecutive_failures", ">= 1",
                        consecutive_failures);
        detail::require(base_ejection_time > duration::zero(), "outlier", "base_ejection_time",
                        "> 0", base_ejection_time);
        detail::require(max_ejection_time >= base_ejection_time, "outlier", "max_ejection_time",
                        ">= base_ejection_time", max_ejection_time);
        detail::require(max_ejection_percent >= 0.0 && max_ejection_percent <= 100.0, "outlier",
                        "max_ejection_percent", "in [0, 100]", max_ejection_percent);
        detail::require(interval > duration::zero(), "outlier", "interval", "> 0", interval);
    }
};

/// The decisions of outlier ejection, applied to endpoints' atomics. The registry owns one and
/// calls it; ejecting and returning happen under the registry's update lock (cold path).
///
/// **Thread safety:** `record_success`/`record_failure` are lock-free; `eject`/`sweep` need the
/// caller's lock. **Allocation:** none.
class outlier_detector {
public:
    explicit outlier_detector(outlier_options o)
        : opts_(o) {
        opts_.validate();
    }

    const outlier_options& options() const noexcept { return opts_; }

    /// A success resets the failure streak (a load first, so the common case writes nothing).
    static void record_success(const endpoint& e) noexcept {
        if (e.failures_.load(std::memory_order_relaxed) != 0)
            e.failures_.store(0, std::memory_order_relaxed);
    }
    /// Counts a failure; returns the streak length.
    static std::uint32_t record_failure(const endpoint& e) noexcept {
        return e.failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    /// True when a streak of `streak` failures should eject `e` (the caller then tries
    /// `eject` under its lock).
    bool should_eject(const endpoint& e, std::uint32_t streak) const noexcept {
        return streak >= opts_.consecutive_failures && !e.ejected();
    }

    /// How many of `total` endpoints may be ejected at once (at least one, as Envoy).
    std::size_t max_ejected(std::size_t total) const noexcept {
        const auto pct = static_cast<std::size_t>(static_cast<double>(total) *
                                                  opts_.max_ejection_percent / 100.0);
        return std::max<std::size_t>(1, pct);
    }

    /// Ejects `e` at `now` if fewer than `max_ejected(total)` are out; returns whether it did.
    /// Ejection time = base × times ejected, capped (Envoy); the count first decays by one per
    /// `interval` spent in service since the last return.
    bool eject(const endpoint& e, time_point now, std::size_t total, std::size_t ejected_now) {
        if (e.ejected() || ejected_now >= max_ejected(total))
            return false;
        std::uint32_t times = e.times_ejected_.load(std::memory_order_relaxed);
        const time_point back{duration{e.last_return_.load(std::memory_order_relaxed)}};
        if (times > 0 && now > back) {
            const auto decays = static_cast<std::uint64_t>((now - back) / opts_.interval);
            times = decays >= times ? 0 : times - static_cast<std::uint32_t>(decays);
        }
        ++times;
        const duration length = ejection_length(times);
        const time_point until = saturating_add(now, length);
        e.times_ejected_.store(times, std::memory_order_relaxed);
        e.ejected_until_.store(until.time_since_epoch().count(), std::memory_order_relaxed);
        note_return(until);
        return true;
    }

    /// How long the `times`-th ejection lasts: `base × times`, capped by `max_ejection_time`
    /// (checked before multiplying: a long base times many ejections does not overflow).
    duration ejection_length(std::uint32_t times) const noexcept {
        if (times == 0)
            return duration::zero();
        if (opts_.max_ejection_time.count() / times < opts_.base_ejection_time.count())
            return opts_.max_ejection_time;
        return std::min(opts_.base_ejection_time * times, opts_.max_ejection_time);
    }

    /// Returns to service every endpoint whose ejection ended by `now`; true if any did.
    /// `on_return(const endpoint&)` is called for each endpoint that comes back.
    template <class F = void (*)(const endpoint&)>
    bool sweep(
        std::span<const endpoint* const> all, time_point now,
        F&& on_return = [](const endpoint&) {}) {
        bool any = false;
        time_point next = time_point::max();
        for (const endpoint* e : all) {
            if (!e->ejected())
                continue;
            if (e->ejected_until() <= now) {
                e->ejected_until_.store(0, std::memory_order_relaxed);
                e->failures_.store(0, std::memory_order_relaxed);
                e->last_return_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
                on_return(*e);
                any = true;
            } else {
                next = std::min(next, e->ejected_until());
            }
        }
        next_return_.store(next.time_since_epoch().count(), std::memory_order_relaxed);
        return any;
    }

    /// The earliest time an ejected endpoint comes back (`time_point::max()` when none is out):
    /// the balance policy compares it with the time it already read, so returns cost one load.
    time_point next_return() const noexcept {
        return time_point{duration{next_return_.load(std::memory_order_relaxed)}};
    }

private:
    void note_return(time_point t) noexcept {
        auto cur = next_return_.load(std::memory_order_relaxed);
        const auto v = t.time_since_epoch().count();
        while (v < cur && !next_return_.compare_exchange_weak(cur, v, std::memory_order_relaxed))
            ;
    }

    outlier_options opts_;
    std::atomic<duration::rep> next_return_{time_point::max().time_since_epoch().count()};
};

} // namespace bulwark
