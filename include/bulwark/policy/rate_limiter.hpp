#pragma once
/// \file
/// `rate_limiter`: a lock-free token bucket — `rate` permits per `per`, bursts up to `burst`,
/// and an optional wait of at most `max_wait` for the next permit.
///
/// ```cpp
/// bulwark::rate_limiter limit{{.rate = 100, .per = 1s, .burst = 20, .max_wait = 50ms}};
/// ```
/// The bucket is kept as one "theoretical arrival time" (the GCRA form of a token bucket, as in
/// nginx's limit_req and Envoy's local rate limit): one atomic word, updated with one CAS.

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/call_time.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

namespace bulwark {

/// Settings of a `rate_limiter`.
struct rate_limiter_options {
    double rate = 0;                        ///< permits per `per` (> 0; required)
    duration per = std::chrono::seconds{1}; ///< the period of `rate`
    std::size_t burst = 0; ///< bucket size: permits at once (0 = one period's worth)
    duration max_wait{};   ///< longest wait for a permit (0 = reject at once)
    any_clock clock{};     ///< real time by default; `.clock = manual` in tests
};

namespace detail {

/// The bucket: `tat` is when the bucket would be full again. Taking a permit moves it one
/// interval on; the call may proceed when that is within `burst` intervals of now.
class token_bucket {
public:
    /// The deepest bucket kept, in nanoseconds (2^60 ns, about 36 years): a deeper one (a huge
    /// `burst`, e.g. `SIZE_MAX` for "no burst limit") is clamped to it, so `interval * burst`
    /// never overflows and the arithmetic on `tat` keeps headroom in 64 bits.
    static constexpr duration::rep max_depth = duration::rep{1} << 60;

    token_bucket(duration interval, std::size_t burst) noexcept
        : interval_(interval.count())
        , limit_(depth(interval.count(), burst)) {}

    /// Takes a permit at `now`, reserving a future one when the wait is at most `max_wait`.
    /// Returns the wait (zero = go now), or a negative `-needed` when refused.
    duration acquire(time_point now, duration max_wait) noexcept {
        const rep t = now.time_since_epoch().count();
        rep tat = tat_.load(std::memory_order_relaxed);
        for (;;) {
            const rep next = (tat > t ? tat : t) + interval_;
            const rep wait = next - t - limit_;
            if (wait > max_wait.count())
                return -duration{wait};
            if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed))
                return wait > 0 ? duration{wait} : duration::zero();
        }
    }

    /// Permits that could be taken at `now` without waiting.
    std::size_t available(time_point now) const noexcept {
        const rep t = now.time_since_epoch().count();
        const rep tat = tat_.load(std::memory_order_relaxed);
        const rep used = tat > t ? tat - t : 0;
        return used >= limit_ ? 0 : static_cast<std::size_t>((limit_ - used) / interval_);
    }

private:
    using rep = duration::rep;
    static constexpr rep depth(rep interval, std::size_t burst) noexcept {
        // interval is in [1, max_depth] (checked by the limiter), so the division is safe
        const auto most = static_cast<std::size_t>(max_depth / interval);
        return burst >= most ? max_depth : interval * static_cast<rep>(burst);
    }
    const rep interval_;
    const rep limit_;
    std::atomic<rep> tat_{std::numeric_limits<rep>::min() / 2}; // full at start
};

} // namespace detail

/// A token-bucket rate limit on the calls through it.
///
/// **Failure semantics:** a call that finds no permit, and would wait longer than `max_wait` (or
/// past the context's deadline), returns `errc::rate_limited` with `retry_after` = the wait it
/// would need. Outcomes of calls that ran pass through. **Time and cancellation:** permits
/// refill on `.clock` (one per `per / rate`); a waiting call reserves its permit, then sleeps
/// (sync) or awaits a timer (coroutine); a stop request ends the wait with `errc::cancelled`
/// (the reserved permit is spent, as in resilience4j's AtomicRateLimiter). **Thread safety:**
/// lock-free; share one limiter with `std::ref`. **Allocation:** the state at construction;
/// none on the success path (one clock read, one CAS). With real time and a bucket at least
/// one second deep (burst x per / rate), the read is of the coarse clock (~3 ns, about a kernel
/// tick behind: permits come back up to a tick late, never early). **Complexity:** O(1).
/// **Events:** `rate_limiter_rejected`, `rate_limiter_queued` (a permit was reserved: the call
/// waits), `rate_limiter_waited` (the wait ended and the call runs) to `Listener` (default:
/// none, no cost).
template <class Listener = null_listener>
class basic_rate_limiter {
public:
    static constexpr policy_kind kind = policy_kind::rate_limiter;

    /// Throws `invalid_argument_error` for a rate that is not a positive finite number, a period
    /// that is not positive, a negative max_wait, or an interval `per / rate` below one
    /// nanosecond or above 2^60 ns (about 36 years). A `burst` whose bucket would be deeper than
    /// 2^60 ns (e.g. `SIZE_MAX`) is clamped to that depth (over a billion permits at once even
    /// at one permit a second).
    explicit basic_rate_limiter(rate_limiter_options o, Listener listener = {})
        : max_wait_(o.max_wait)
        , clock_(std::move(o.clock))
        , listener_(std::move(listener)) {
        detail::require(o.rate > 0 && std::isfinite(o.rate), "rate_limiter", "rate",
                        "a positive finite number of permits per period", o.rate);
        detail::require(o.per > duration::zero(), "rate_limiter", "per", "> 0", o.per);
        detail::require(o.max_wait >= duration::zero(), "rate_limiter", "max_wait", ">= 0",
                        o.max_wait);
        const double interval = static_cast<double>(o.per.count()) / o.rate;
        detail::require(interval >= 1.0, "rate_limiter", "per / rate",
                        ">= 1ns (at most one permit per nanosecond)", interval);
        // checked in double before the conversion: a larger value does not fit duration::rep
        detail::require(interval <= static_cast<double>(detail::token_bucket::max_depth),
                        "rate_limiter", "per / rate", "<= 2^60 ns (about 36 years between permits)",
                        interval);
        // rate < per.count() here (interval >= 1), so ceil(rate) fits a size_t
        const std::size_t burst =
            o.burst != 0 ? o.burst : static_cast<std::size_t>(std::ceil(o.rate));
        const duration step{static_cast<duration::rep>(interval)};
        state_ = std::make_unique<detail::token_bucket>(step, burst);
        // A bucket at least 250 coarse ticks deep (1 s at HZ=250) refills through a lagging
        // clock without losing permits: read the cheap coarse clock (never ahead, so never
        // over-admitting); shallower buckets read the exact one.
        coarse_ = static_cast<double>(step.count()) * static_cast<double>(burst) >=
                  static_cast<double>(detail::coarse_clock::tolerant_of().count());
    }

    /// Runs `next(ctx)` with a permit, sleeping first if one was reserved.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        const duration wait = admit(ctx);
        if (wait != duration::zero()) [[unlikely]] {
            if (wait < duration::zero()) {
                bulwark::emit(listener_, events::rate_limiter_rejected{-wait});
                return {errc::rate_limited, -wait};
            }
            bulwark::emit(listener_, events::rate_limiter_queued{});
            if (!clock_.sleep_for(wait, ctx.stop_token()))
                return {errc::cancelled};
            ctx.clear_call_time(); // time moved on while waiting
            bulwark::emit(listener_, events::rate_limiter_waited{wait});
        }
        return next(ctx);
    }

    /// The coroutine driver: the same bucket; a reserved permit is awaited on a timer.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        const duration wait = admit(ctx);
        if (wait != duration::zero()) [[unlikely]] {
            if (wait < duration::zero()) {
                bulwark::emit(listener_, events::rate_limiter_rejected{-wait});
                co_return outcome_of<Next>(errc::rate_limited, -wait);
            }
            bulwark::emit(listener_, events::rate_limiter_queued{});
            // (not `if (co_await ...)`: g++ 12 destroys the awaiter too early in a condition)
            const bool elapsed = co_await clock_.async_sleep_for(wait, ctx.stop_token());
            if (!elapsed)
                co_return outcome_of<Next>(errc::cancelled);
            ctx.clear_call_time(); // time moved on while waiting
            bulwark::emit(listener_, events::rate_limiter_waited{wait});
        }
        co_return co_await next(ctx);
    }

    /// Permits that a call could take now without waiting.
    std::size_t available() const noexcept { return state_->available(clock_.now()); }

private:
    template <class Next>
    static auto outcome_of(errc e, duration retry_after = {}) {
        return typename next_result_t<Next>::value_type{e, retry_after};
    }

    /// Zero: go. Positive: wait that long (permit reserved). Negative: refused (-needed wait).
    duration admit(context& ctx) noexcept {
        // The call's shared reading (runtime/call_time.hpp): one clock read per call between
        // the pipeline's time-based policies.
        const time_point now = detail::call_now(ctx, clock_, coarse_);
        duration limit = max_wait_;
        if (limit > duration::zero() && ctx.has_deadline() && ctx.remaining(now) < limit)
            limit = ctx.remaining(now) < duration::zero() ? duration::zero() : ctx.remaining(now);
        return state_->acquire(now, limit);
    }

    std::unique_ptr<detail::token_bucket> state_;
    duration max_wait_;
    any_clock clock_;
    bool coarse_ = false;
    [[no_unique_address]] Listener listener_;
};

template <class Listener>
basic_rate_limiter(rate_limiter_options, Listener) -> basic_rate_limiter<Listener>;

/// The rate limiter without a listener: `bulwark::rate_limiter{{.rate = 100, .per = 1s}}`.
using rate_limiter = basic_rate_limiter<>;

static_assert(async_policy<rate_limiter>);

} // namespace bulwark
