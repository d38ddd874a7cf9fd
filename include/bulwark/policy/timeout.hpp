#pragma once
/// \file
/// Timeouts: `timeout{.total = 2s}` (one deadline over all attempts) and
/// `timeout{.per_attempt = 300ms}` (a deadline per attempt), plus the distinct types
/// `total_timeout{2s}` / `attempt_timeout{300ms}` whose placement `pipeline` checks at compile
/// time.
///
/// ```cpp
/// auto client = bulwark::pipeline{bulwark::timeout{.total = 2s}, bulwark::retry{...},
///                                 bulwark::timeout{.per_attempt = 300ms}};
/// ```
/// Semantics follow Envoy's route timeout (includes all retries) and per-try timeout, gRPC's
/// deadline over all attempts, and Polly v8's TimeoutStrategy for what a late result means.

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/detail/timeout_core.hpp>
#include <bulwark/runtime/any_clock.hpp>

namespace bulwark {

namespace detail {

/// Runs a timeout through `run(next')` and reports `timeout_expired` (and, when the timeout stops
/// the operation, `timeout_stop_requested`) to `l`: when the call ends with `errc::timeout` at or
/// after the deadline this timeout put in force. Without a listener that hears them, `run(next)`
/// as is: no cost.
template <class Listener, class Next, class Run>
next_result_t<Next> observe_timeout(Listener& l, events::timeout_kind k, duration limit, bool stops,
                                    const any_clock& clock, Next& next, Run run) {
    if constexpr (!hears<Listener, events::timeout_expired> &&
                  !hears<Listener, events::timeout_stop_requested>) {
        return run(next);
    } else {
        time_point seen = no_deadline; // the deadline the operation saw (ours, or an earlier one)
        auto probe = [&](context& c) -> next_result_t<Next> {
            seen = c.deadline();
            return next(c);
        };
        next_result_t<Next> o = run(probe);
        if (o.has_failure() && o.error().code == errc::timeout && clock.now() >= seen)
            [[unlikely]] {
            bulwark::emit(l, events::timeout_expired{k, limit});
            if (stops)
                bulwark::emit(l, events::timeout_stop_requested{k});
        }
        return o;
    }
}

} // namespace detail

/// A time limit on the calls inside it: total (outside a retry) or per attempt (inside it).
///
/// Set exactly one of `.total` and `.per_attempt`; the other stays zero (else
/// `invalid_argument_error` at construction). `pipeline` reads which one it is (`runtime_kind`)
/// at construction and rejects two total timeouts or a per-attempt timeout outside the retry. For
/// that check at compile time, use `total_timeout` / `attempt_timeout`.
///
/// **Failure semantics:** when the limit has passed, a failure of the inner call becomes
/// `errc::timeout` (`resilience_error` from `execute`); a value that still arrived is returned
/// (Polly v8). **Time and cancellation:** the context's deadline is tightened to now + limit,
/// never extended. Sync driver: the operation must honour `ctx.deadline()` — a blocking call
/// that ignores it runs to its end, and is then judged by the clock; with
/// `.stop_on_expiry = true` a watchdog timer also requests stop on the call when the limit
/// passes, for operations that wait on their stop token.
/// Coroutine driver: the operation runs on a child context and is raced against a timer on
/// `.clock`; when the timer wins, stop is requested on the child and the operation must return
/// (it is awaited, never abandoned). **Thread safety:** stateless; share freely.
/// **Allocation:** none on the sync path (unless `.stop_on_expiry`); the coroutine driver allocates
/// its frames, the child's stop source and one timer entry. **Complexity:** one clock read per call
/// (two on failure).
template <class Listener = null_listener>
struct basic_runtime_timeout {
    duration total{};       ///< one deadline over everything inside (zero = not this kind)
    duration per_attempt{}; ///< a deadline per attempt (zero = not this kind)
    any_clock clock{};      ///< real time by default; `.clock = manual` in tests
    /// Sync driver: also request stop on the call when the limit passes (a watchdog timer; costs
    /// allocations, so off by default). The coroutine driver always does.
    bool stop_on_expiry = false;
    /// Hears `timeout_expired` and `timeout_stop_requested` (default: nothing, no cost).
    [[no_unique_address]] mutable Listener listener{};

    /// Validates the settings at construction (throws `invalid_argument_error` unless exactly
    /// one limit is set and it is positive). Leave it out of initializers.
    [[no_unique_address]] detail::timeout_check checked_{total, per_attempt};

    /// Total or per attempt, from the settings: `pipeline` checks placement with it.
    policy_kind runtime_kind() const noexcept {
        return total != duration::zero() ? policy_kind::total_timeout
                                         : policy_kind::attempt_timeout;
    }

    /// The limit in force.
    duration limit() const noexcept { return total != duration::zero() ? total : per_attempt; }

    /// Sync driver: runs `next(ctx)` under the deadline.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) const {
        return detail::observe_timeout(
            listener, event_kind(), limit(), stop_on_expiry, clock, next, [&](auto& n) {
                if (stop_on_expiry)
                    return detail::timeout_core::run_stopping(n, ctx, limit(), clock);
                return detail::timeout_core::run(n, ctx, limit(), clock);
            });
    }
    /// Coroutine driver: races `next` against a timer on `.clock`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) const {
        if constexpr (hears<Listener, events::timeout_expired> ||
                      hears<Listener, events::timeout_stop_requested>)
            return observed_async(next, ctx);
        else
            return detail::timeout_core::run_async(next, ctx, limit(), clock);
    }

private:
    events::timeout_kind event_kind() const noexcept {
        return total != duration::zero() ? events::timeout_kind::total
                                         : events::timeout_kind::per_attempt;
    }
    template <class Next>
    next_result_t<Next> observed_async(Next& next, context& ctx) const {
        auto o = co_await detail::timeout_core::run_async(next, ctx, limit(), clock);
        if (o.has_failure() && o.error().code == errc::timeout) {
            bulwark::emit(listener, events::timeout_expired{event_kind(), limit()});
            bulwark::emit(listener, events::timeout_stop_requested{event_kind()}); // the race
        }
        co_return o;
    }
};

/// The timeout whose kind is chosen by the field set: `bulwark::timeout{.total = 2s}`.
using timeout = basic_runtime_timeout<>;

/// A timeout whose kind is part of its type, so `pipeline` checks its placement at compile time:
/// use it as `total_timeout` or `attempt_timeout`. Same semantics as `timeout`.
template <policy_kind K, class Listener = null_listener>
struct basic_timeout {
    static_assert(K == policy_kind::total_timeout || K == policy_kind::attempt_timeout,
                  "bulwark::basic_timeout: the kind is total_timeout or attempt_timeout");
    static constexpr policy_kind kind = K;

    duration limit{};            ///< the time limit (must be positive)
    any_clock clock{};           ///< real time by default; `.clock = manual` in tests
    bool stop_on_expiry = false; ///< as `timeout::stop_on_expiry`
    /// Hears `timeout_expired` and `timeout_stop_requested` (default: nothing, no cost).
    [[no_unique_address]] mutable Listener listener{};

    /// Validates the limit at construction (throws `invalid_argument_error` unless positive).
    [[no_unique_address]] detail::timeout_check checked_{limit, K == policy_kind::total_timeout
                                                                    ? "bulwark::total_timeout"
                                                                    : "bulwark::attempt_timeout"};

    /// Sync driver: runs `next(ctx)` under the deadline.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) const {
        return detail::observe_timeout(
            listener, event_kind, limit, stop_on_expiry, clock, next, [&](auto& n) {
                if (stop_on_expiry)
                    return detail::timeout_core::run_stopping(n, ctx, limit, clock);
                return detail::timeout_core::run(n, ctx, limit, clock);
            });
    }
    /// Coroutine driver: races `next` against a timer on `.clock`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) const {
        if constexpr (hears<Listener, events::timeout_expired> ||
                      hears<Listener, events::timeout_stop_requested>)
            return observed_async(next, ctx);
        else
            return detail::timeout_core::run_async(next, ctx, limit, clock);
    }

private:
    static constexpr events::timeout_kind event_kind = K == policy_kind::total_timeout
                                                           ? events::timeout_kind::total
                                                           : events::timeout_kind::per_attempt;
    template <class Next>
    next_result_t<Next> observed_async(Next& next, context& ctx) const {
        auto o = co_await detail::timeout_core::run_async(next, ctx, limit, clock);
        if (o.has_failure() && o.error().code == errc::timeout) {
            bulwark::emit(listener, events::timeout_expired{event_kind, limit});
            bulwark::emit(listener, events::timeout_stop_requested{event_kind});
        }
        co_return o;
    }
};

/// `timeout{.total = d}` as its own type: `total_timeout{2s}`. Two of them in one pipeline, or one
/// inside a retry or hedge, fail to compile with a message that says what to do.
using total_timeout = basic_timeout<policy_kind::total_timeout>;

/// `timeout{.per_attempt = d}` as its own type: `attempt_timeout{300ms}`. Placed outside a retry
/// or hedge, it fails to compile.
using attempt_timeout = basic_timeout<policy_kind::attempt_timeout>;

static_assert(async_policy<timeout> && async_policy<total_timeout> &&
              async_policy<attempt_timeout>);

} // namespace bulwark
