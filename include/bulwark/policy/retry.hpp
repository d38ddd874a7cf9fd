#pragma once
/// \file
/// `retry`: runs the rest of the pipeline again when an attempt fails.
///
/// ```cpp
/// bulwark::retry{.max_attempts = 3,
///                .backoff = bulwark::exponential_backoff{.base = 10ms, .cap = 1s,
///                                                        .jitter = bulwark::full_jitter},
///                .budget = bulwark::retry_budget{.ratio = 0.2, .min_per_second = 10}}
/// ```
/// `retry` is `basic_retry<>`; `basic_retry<Classifier, Listener, Backoff>` chooses at compile
/// time what is retried, who hears about it and how long to wait (`r.retry_if(...)`,
/// `r.with_listener(...)` and `r.with_backoff(...)` make one from a `retry`, with no template
/// arguments to write).

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/retry/backoff.hpp>
#include <bulwark/policy/retry/budget.hpp>
#include <bulwark/policy/retry/decision.hpp>
#include <bulwark/policy/retry/jitter.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace bulwark {

/// The listener that hears nothing (and costs nothing): `bulwark::null_listener`.
///
/// A listener hears the events of <bulwark/observe/events.hpp> it overloads `on` for
/// (`retry_attempt`, `retry_give_up`, `retry_budget_refused`, `retry_completed`). The older
/// hooks still work: `on_retry(std::uint32_t attempt, duration delay, const outcome<R>& o)` —
/// attempt `attempt` failed with `o`, the next starts after `delay`;
/// `on_give_up(retry_stop why, std::uint32_t attempt, const outcome<R>& o)` — no more attempts.
using no_retry_listener = null_listener;

/// Retry with backoff, attempt and duration limits, and an optional retry budget.
///
/// **Failure semantics:** returns the first outcome the classifier does not call a failure, or
/// the **last outcome** when it stops retrying: attempts exhausted, deadline, `max_duration`,
/// stop requested, or the budget refused (the last failure explains the call better than
/// `errc::retry_budget_exhausted` would; a listener's `on_give_up` says why it stopped). A
/// failure's `retry_after` (open breaker, rate limit, pushback) raises the delay to at least that;
/// a negative one stops the retries (gRPC A6 pushback).
/// Bad settings (`max_attempts < 1`, `max_duration <= 0`, and each backoff's and budget's own)
/// throw `invalid_argument_error` at construction.
/// **Time and cancellation:** sets `ctx.set_attempt(n)` before attempt n. Never waits past the
/// context's deadline: a retry that would start at or after it is not made. Waits on `clock`
/// (`sleep_for` / `async_sleep_for`) and wakes when the call's stop is requested; no retry is
/// made once stop is requested.
/// **Thread safety:** one policy serves concurrent calls (the per-call schedule lives on the
/// caller's stack; budgets are lock-free). The listener must be thread-safe if it has state.
/// **Allocation:** none on the success path; a call that waits creates its stop source once
/// (one allocation by the standard library, see `context::stop_token`), nothing per retry.
/// **Complexity:** success path: one classification and one branch on the budget kind; no clock
/// read unless `max_duration` is set.
template <class Classifier = default_classifier, class Listener = no_retry_listener,
          class Backoff = any_backoff>
struct basic_retry {
    static_assert(bulwark::backoff<Backoff>,
                  "bulwark::basic_retry: the Backoff type needs `bulwark::duration "
                  "next_delay(std::uint32_t n, bulwark::duration previous, bulwark::backoff_rng&) "
                  "const` (see <bulwark/policy/retry/backoff.hpp>)");
    static constexpr policy_kind kind = policy_kind::retry;

    /// Attempts in all, the first included (gRPC `maxAttempts`); at least 1.
    int max_attempts = 3;
    /// The wait before each retry.
    Backoff backoff{};
    /// Caps retries across calls; shared by copies (see retry_budget.hpp).
    any_retry_budget budget{};
    /// No attempt starts this long after the call started (`duration::max()`: no limit).
    duration max_duration = duration::max();
    /// Time source for waits and limits (`.clock = manual` in tests).
    any_clock clock{};
    /// What to retry: `verdict::failure` retries; success and ignore stop.
    [[no_unique_address]] Classifier classifier{};
    [[no_unique_address]] Listener listener{};
    /// Not a setting: checks the settings above when the policy is made.
    [[no_unique_address]] detail::settings_check validated{this};

    /// Throws `invalid_argument_error` for settings out of range.
    void validate() const {
        detail::require(max_attempts >= 1, "retry", "max_attempts", ">= 1", max_attempts);
        detail::require(max_duration > duration::zero(), "retry", "max_duration", "> 0",
                        max_duration);
    }

    /// The same settings with another classifier: a `verdict`-returning classifier
    /// (`failure_on<E...>`, `failure_if(...)`) or a predicate `bool(const outcome<R>&)` (true =
    /// retry).
    template <class C>
    basic_retry<std::decay_t<C>, Listener, Backoff> retry_if(C&& c) const {
        return {max_attempts, backoff, budget, max_duration, clock, std::forward<C>(c), listener};
    }
    /// The same settings with a listener.
    template <class L>
    basic_retry<Classifier, std::decay_t<L>, Backoff> with_listener(L&& l) const {
        return {max_attempts, backoff, budget, max_duration, clock, classifier, std::forward<L>(l)};
    }
    /// The same settings with a backoff of your own (any type modelling `bulwark::backoff`).
    template <class B>
    basic_retry<Classifier, Listener, std::decay_t<B>> with_backoff(B&& b) const {
        return {max_attempts, std::forward<B>(b), budget,  max_duration,
                clock,        classifier,         listener};
    }

    /// Runs `next(ctx)` until it succeeds or a limit stops the retries.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        detail::retry_call<basic_retry> call(*this, ctx);
        next_result_t<Next> o = next(ctx);
        for (;;) {
            const auto s = call.after(o);
            if (!s.retry) [[likely]]
                return o;
            if (s.delay > duration::zero() && !clock.sleep_for(s.delay, ctx.stop_token())) {
                call.stopped(o);
                return o;
            }
            call.next_attempt();
            o = next(ctx);
        }
    }

    /// The coroutine driver: the same schedule, waiting with `clock.async_sleep_for`.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        detail::retry_call<basic_retry> call(*this, ctx);
        auto o = co_await next(ctx);
        for (;;) {
            const auto s = call.after(o);
            if (!s.retry)
                co_return o;
            if (s.delay > duration::zero() &&
                !co_await clock.async_sleep_for(s.delay, ctx.stop_token())) {
                call.stopped(o);
                co_return o;
            }
            call.next_attempt();
            o = co_await next(ctx);
        }
    }
};

/// The retry policy of the DESIGN: retries any failure (`default_classifier`), no listener.
using retry = basic_retry<>;

static_assert(async_policy<retry>);

} // namespace bulwark
