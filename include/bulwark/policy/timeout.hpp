#pragma once
/// \file
/// Timeouts, one type: `timeout{.total = 2s}` (one deadline over all attempts) and
/// `timeout{.per_attempt = 300ms}` (a deadline per attempt); the same type with its kind fixed
/// at compile time is spelt `total_timeout{2s}` / `attempt_timeout{300ms}`, so `pipeline`
/// checks its placement at compile time. Parts: `policy/timeout/core.hpp` (the drivers),
/// `policy/timeout/watchdog.hpp` (the sync driver's stop on expiry), `policy/timeout/race.hpp`
/// (the race).
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
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/timeout/core.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <string>

namespace bulwark {

/// What the synchronous driver of a timeout does when its limit passes while the call runs.
enum class timeout_expiry : unsigned char {
    /// The default: request stop on the call's token (`ctx.stop_token()`), as the coroutine
    /// driver and Polly's timeout do, so a blocking wait on it returns early. No allocation and
    /// no lock (a timer entry in the caller's frame, a shared timer thread).
    request_stop,
    /// Only tighten `ctx.deadline()`: the operation must honour the deadline itself, and is
    /// judged by the clock when it returns. Saves the timer entry's arming (two atomic
    /// operations per call); the coroutine driver stops regardless (its race needs it).
    tighten_deadline_only,
};

namespace detail {

/// Runs a timeout through `run(next')` and reports `timeout_expired` (and, when the timeout stops
/// the operation, `timeout_stop_requested`) to `l`: when the call ends with `errc::timeout` at or
/// after the deadline this timeout put in force. Without a listener that hears them, `run(next)`
/// as is: no cost.
template <class Listener, class Next, class Run>
[[gnu::always_inline]] inline next_result_t<Next>
observe_timeout(Listener& l, events::timeout_kind k, duration limit, bool stops,
                const any_clock& clock, Next& next, Run run) {
    if constexpr (!hears<Listener, events::timeout_expired> &&
                  !hears<Listener, events::timeout_stop_requested>) {
        return run(next);
    } else {
        time_point seen = no_deadline; // the deadline the operation saw (ours, or an earlier one)
        auto probe = [&](context & c) __attribute__((always_inline))->next_result_t<Next> {
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

/// The one timeout: a time limit on the calls inside it, total (outside a retry) or per attempt
/// (inside it). `K` fixes the kind at compile time (`total_timeout`, `attempt_timeout`);
/// `policy_kind::other` (spelt `timeout`) takes it from the settings.
///
/// **Settings:** set exactly one of `.total`, `.per_attempt` and `.limit` (the positional first
/// setting of the typed forms: `total_timeout{2s}`). `timeout` needs `.total` or `.per_attempt`
/// (its kind comes from which one); `total_timeout` takes `.limit` or `.total`;
/// `attempt_timeout` takes `.limit` or `.per_attempt`. The limit must be positive (remove the
/// timeout instead of disabling it). Anything else throws `invalid_argument_error` at
/// construction (`bulwark::timeout: total must be > 0 (got -1000000000ns)`). A limit near
/// `duration::max()` is accepted: the deadline saturates at `no_deadline` (no overflow).
/// `pipeline` reads the kind (`runtime_kind()`) at construction and rejects two total timeouts
/// or a per-attempt timeout outside the retry; for the typed forms it does so at compile time.
///
/// **Failure semantics:** when the limit has passed, a failure of the inner call becomes
/// `errc::timeout` (`resilience_error` from `execute`); a value that still arrived is returned
/// (Polly v8). **Time and cancellation:** the context's deadline is tightened to now + limit,
/// never extended. Sync driver: by default (`.on_expiry = timeout_expiry::request_stop`) the
/// call runs in a stop scope of its context, and a timer requests stop on it when the limit
/// passes, so an operation waiting on `ctx.stop_token()` returns early; the caller's context is
/// not stopped (a retry's next attempt starts unstopped). With
/// `.on_expiry = timeout_expiry::tighten_deadline_only` only the deadline is tightened: a
/// blocking call that ignores it runs to its end, and is then judged by the clock.
/// Coroutine driver: the operation runs on a child context and is raced against a timer on
/// `.clock`; when the timer wins, stop is requested on the child and the operation must return
/// (it is awaited, never abandoned). **Thread safety:** stateless; share freely.
/// **Allocation:** none on the sync path (a `std::stop_source` only if the operation asks for
/// `ctx.stop_token()`); the coroutine driver allocates its frames, the child's stop source and
/// one timer entry. **Complexity:** one clock reading per call, shared with the pipeline's other
/// time-based policies (runtime/call_time.hpp); one more on failure.
template <policy_kind K = policy_kind::other, class Listener = null_listener>
struct basic_timeout {
    static_assert(K == policy_kind::other || K == policy_kind::total_timeout ||
                      K == policy_kind::attempt_timeout,
                  "bulwark::basic_timeout: the kind is total_timeout, attempt_timeout or other "
                  "(chosen by the settings)");
    /// The kind known at compile time (`other` for `timeout`: see `runtime_kind()`).
    static constexpr policy_kind kind = K;

    duration limit{};       ///< the limit of a typed form (`total_timeout{2s}`); zero = unset
    duration total{};       ///< one deadline over everything inside (zero = not this kind)
    duration per_attempt{}; ///< a deadline per attempt (zero = not this kind)
    any_clock clock{};      ///< real time by default; `.clock = manual` in tests
    /// Sync driver: what happens when the limit passes (default: stop is requested on the call).
    timeout_expiry on_expiry = timeout_expiry::request_stop;
    /// Kept so that initializers written before stopping became the default still compile:
    /// `true` asks for what is now the default; `false` changes nothing (use `.on_expiry`).
    bool stop_on_expiry = false;

    /// Hears `timeout_expired` and `timeout_stop_requested` (default: nothing, no cost).
    [[no_unique_address]] mutable Listener listener{};
    /// Validates the settings at construction (`validate()`). Leave it out of initializers.
    [[no_unique_address]] detail::settings_check validated{this};

    /// Throws `invalid_argument_error` for settings that are not one positive limit of a kind
    /// this type allows (called at construction).
    void validate() const {
        const char* who = K == policy_kind::total_timeout     ? "total_timeout"
                          : K == policy_kind::attempt_timeout ? "attempt_timeout"
                                                              : "timeout";
        const int set = (limit != duration::zero()) + (total != duration::zero()) +
                        (per_attempt != duration::zero());
        if constexpr (K == policy_kind::other)
            detail::require(set <= 1 && limit == duration::zero(), who,
                            "exactly one of total and per_attempt",
                            "set (e.g. timeout{.total = 2s})", settings_text());
        else if constexpr (K == policy_kind::total_timeout)
            detail::require(set <= 1 && per_attempt == duration::zero(), who,
                            "exactly one of limit and total", "set (e.g. total_timeout{2s})",
                            settings_text());
        else
            detail::require(set <= 1 && total == duration::zero(), who,
                            "exactly one of limit and per_attempt",
                            "set (e.g. attempt_timeout{300ms})", settings_text());
        const char* field = limit != duration::zero()         ? "limit"
                            : total != duration::zero()       ? "total"
                            : per_attempt != duration::zero() ? "per_attempt"
                            : K == policy_kind::other         ? "total or per_attempt"
                                                              : "limit";
        detail::require(time_limit() > duration::zero(), who, field, "> 0", time_limit());
    }

    /// Total or per attempt: `pipeline` checks placement with it.
    constexpr policy_kind runtime_kind() const noexcept {
        if constexpr (K != policy_kind::other)
            return K;
        else
            return total != duration::zero() ? policy_kind::total_timeout
                                             : policy_kind::attempt_timeout;
    }

    /// The limit in force (whichever of `.limit`, `.total`, `.per_attempt` is set).
    constexpr duration time_limit() const noexcept {
        return limit != duration::zero() ? limit : total != duration::zero() ? total : per_attempt;
    }

    /// Sync driver: runs `next(ctx)` under the deadline.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) const {
        const bool stops = stop_on_expiry || on_expiry == timeout_expiry::request_stop;
        return detail::observe_timeout(
            listener, event_kind(), time_limit(), stops, clock, next, [&](auto& n) {
                if (stops) [[likely]]
                    return detail::timeout_core::run_stopping(n, ctx, time_limit(), clock);
                return detail::timeout_core::run(n, ctx, time_limit(), clock);
            });
    }
    /// Coroutine driver: races `next` against a timer on `.clock`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) const {
        if constexpr (hears<Listener, events::timeout_expired> ||
                      hears<Listener, events::timeout_stop_requested>)
            return observed_async(next, ctx);
        else
            return detail::timeout_core::run_async(next, ctx, time_limit(), clock);
    }

private:
    events::timeout_kind event_kind() const noexcept {
        return runtime_kind() == policy_kind::total_timeout ? events::timeout_kind::total
                                                            : events::timeout_kind::per_attempt;
    }
    template <class Next>
    next_result_t<Next> observed_async(Next& next, context& ctx) const {
        auto o = co_await detail::timeout_core::run_async(next, ctx, time_limit(), clock);
        if (o.has_failure() && o.error().code == errc::timeout) {
            bulwark::emit(listener, events::timeout_expired{event_kind(), time_limit()});
            bulwark::emit(listener, events::timeout_stop_requested{event_kind()}); // the race
        }
        co_return o;
    }

    std::string settings_text() const {
        return "limit = " + detail::setting_text(limit) +
               ", total = " + detail::setting_text(total) +
               ", per_attempt = " + detail::setting_text(per_attempt);
    }
};

/// The timeout whose kind its settings choose: `timeout{.total = 2s}`,
/// `timeout{.per_attempt = 300ms}`.
using timeout = basic_timeout<>;

/// The timeout as a total timeout by type: `total_timeout{2s}`. Two of them in one pipeline, or
/// one inside a retry or hedge, fail to compile with a message that says what to do.
using total_timeout = basic_timeout<policy_kind::total_timeout>;

/// The timeout as a per-attempt timeout by type: `attempt_timeout{300ms}`. Placed outside a
/// retry or hedge, it fails to compile.
using attempt_timeout = basic_timeout<policy_kind::attempt_timeout>;

static_assert(async_policy<timeout> && async_policy<total_timeout> &&
              async_policy<attempt_timeout>);

} // namespace bulwark
