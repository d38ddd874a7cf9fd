#pragma once
/// \file
/// Active health checks: a user probe runs against every endpoint each `interval`; an endpoint
/// turns unhealthy after `unhealthy_threshold` failed probes in a row and healthy again after
/// `healthy_threshold` good ones (Envoy `HealthCheck`, Kubernetes probes).

#include <bulwark/balance/registry.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/task.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <unordered_map>
#include <utility>

namespace bulwark {

/// Settings of active health checks.
struct health_check_options {
    duration interval = std::chrono::seconds{10}; ///< time between rounds
    duration timeout = std::chrono::seconds{1};   ///< a probe slower than this failed
    std::uint32_t healthy_threshold = 2;          ///< good probes in a row to come back
    std::uint32_t unhealthy_threshold = 3;        ///< bad probes in a row to go out

    /// Throws `invalid_argument_error` for out-of-range settings (a probe's deadline is
    /// `now + timeout`, saturating, so `duration::max()` is allowed and means "no timeout").
    void validate() const {
        detail::require(interval > duration::zero(), "health_check", "interval", "> 0", interval);
        detail::require(timeout > duration::zero(), "health_check", "timeout", "> 0", timeout);
        detail::require(healthy_threshold >= 1, "health_check", "healthy_threshold", ">= 1",
                        healthy_threshold);
        detail::require(unhealthy_threshold >= 1, "health_check", "unhealthy_threshold", ">= 1",
                        unhealthy_threshold);
    }
};

/// A probe: `probe(endpoint, ctx) -> bool` (true = healthy). `ctx` carries the deadline
/// (now + timeout) and a stop token; a probe that throws or overruns the timeout failed.
template <class P>
concept health_probe = requires(P& p, const endpoint& e, context& ctx) {
    { p(e, ctx) } -> std::convertible_to<bool>;
};

/// Runs a probe against every endpoint of a registry and marks them healthy or unhealthy.
///
/// Drive it with `run(stop)` (a coroutine that checks now, then every `interval` on the
/// registry's clock — spawn it, or co_await it on your scheduler) or call `check_now()` from
/// your own timer. Endpoints start healthy (optimistic, like gRPC) until probes say otherwise.
///
/// **Thread safety:** `check_now` is serialized by an internal mutex; the registry update it
/// triggers is thread-safe. **Allocation:** per round (cold). The checker must outlive `run`.
template <class Probe>
class health_checker {
    static_assert(health_probe<Probe>,
                  "bulwark::health_checker: the probe must be callable as "
                  "probe(const bulwark::endpoint&, bulwark::context&) -> bool");

public:
    health_checker(registry& reg, Probe probe, health_check_options o = {})
        : reg_(&reg)
        , probe_(std::move(probe))
        , opts_(o) {
        opts_.validate();
    }

    /// One round: probes every endpoint once; publishes a new snapshot if any flipped.
    /// Returns the number of endpoints that changed state.
    std::size_t check_now() {
        std::lock_guard lock(mutex_);
        const any_clock& clock = reg_->clock();
        std::size_t changed = 0;
        std::unordered_map<const endpoint*, streak> next;
        for (const auto& e : reg_->endpoints()) {
            const time_point start = clock.now();
            context ctx(saturating_add(start, opts_.timeout));
            bool ok;
            try {
                ok = static_cast<bool>(probe_(*e, ctx));
            } catch (...) {
                ok = false;
            }
            if (clock.now() - start > opts_.timeout)
                ok = false;
            streak s = streaks_[e.get()];
            if (ok) {
                s = {s.good + 1, 0};
                if (!e->active_healthy() && s.good >= opts_.healthy_threshold) {
                    e->active_healthy_.store(true, std::memory_order_relaxed);
                    ++changed;
                }
            } else {
                s = {0, s.bad + 1};
                if (e->active_healthy() && s.bad >= opts_.unhealthy_threshold) {
                    e->active_healthy_.store(false, std::memory_order_relaxed);
                    ++changed;
                }
            }
            next[e.get()] = s;
        }
        streaks_ = std::move(next); // forgets endpoints that left
        if (changed != 0)
            reg_->refresh();
        return changed;
    }

    /// Checks now, then every `interval`, until `stop` is requested.
    task<void> run(std::stop_token stop) {
        for (;;) {
            check_now();
            const bool elapsed = co_await reg_->clock().async_sleep_for(opts_.interval, stop);
            if (!elapsed)
                co_return;
        }
    }

    const health_check_options& options() const noexcept { return opts_; }

private:
    struct streak {
        std::uint32_t good = 0, bad = 0;
    };
    registry* reg_;
    Probe probe_;
    health_check_options opts_;
    std::mutex mutex_;
    std::unordered_map<const endpoint*, streak> streaks_;
};

} // namespace bulwark
