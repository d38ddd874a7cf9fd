#pragma once
/// \file
/// The retry state machine for one call, shared by the synchronous and the coroutine drivers of
/// `basic_retry` (<bulwark/policy/retry.hpp>): it decides, after each attempt, whether to stop
/// or to retry after which delay. The drivers only run attempts and wait.

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/retry/backoff.hpp>
#include <bulwark/policy/retry/budget.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <cstdint>
#include <type_traits>

namespace bulwark {

/// Why a retry stopped retrying (given to a listener's `on_give_up`).
enum class retry_stop : std::uint8_t {
    not_retryable,      ///< ignored by the classifier, or a negative `retry_after` (pushback)
    attempts_exhausted, ///< `max_attempts` reached
    deadline,           ///< the next attempt would start at or past the context's deadline
    max_duration,       ///< the next attempt would start at or past `max_duration`
    stopped,            ///< stop was requested for the call (before or while waiting)
    budget_exhausted,   ///< the retry budget refused the retry
};

/// The enumerator's name ("not_retryable", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(retry_stop v) noexcept {
    switch (v) {
    case retry_stop::not_retryable:
        return "not_retryable";
    case retry_stop::attempts_exhausted:
        return "attempts_exhausted";
    case retry_stop::deadline:
        return "deadline";
    case retry_stop::max_duration:
        return "max_duration";
    case retry_stop::stopped:
        return "stopped";
    case retry_stop::budget_exhausted:
        return "budget_exhausted";
    }
    return "unknown";
}

namespace detail {

/// Calls `c(o)` for a classifier, or maps a predicate's bool to failure (true) / success.
template <class C, class R>
verdict classify_for_retry(const C& c, const outcome<R>& o) {
    if constexpr (std::is_invocable_r_v<verdict, const C&, const outcome<R>&>) {
        return c(o);
    } else if constexpr (std::is_invocable_r_v<bool, const C&, const outcome<R>&>) {
        return c(o) ? verdict::failure : verdict::success;
    } else {
        static_assert(std::is_invocable_r_v<bool, const C&, const outcome<R>&>,
                      "bulwark::retry: the classifier must be callable with const outcome<R>& "
                      "and return bulwark::verdict (or bool: true = retry)");
        return verdict::failure;
    }
}

/// One call's retry schedule. `Policy` is a `basic_retry`.
template <class Policy>
class retry_call {
public:
    /// What to do after an attempt.
    struct step {
        bool retry = false;
        duration delay{};
    };

    retry_call(Policy& p, context& ctx) noexcept
        : p_(p)
        , ctx_(ctx) {
        ctx.set_attempt(1);
        // The clock is read only when a max_duration needs a start (a clock read costs more
        // than the rest of the success path).
        if (p.max_duration != duration::max())
            start_ = p.clock.now();
        p.budget.begin_call(ctx); // at the call's shared clock reading
    }
    ~retry_call() {
        if (in_retry_)
            p_.budget.end_retry();
        p_.budget.end_call();
    }
    retry_call(const retry_call&) = delete;
    retry_call& operator=(const retry_call&) = delete;

    /// The decision after attempt `attempt()` produced `o`.
    template <class R>
    step after(const outcome<R>& o) {
        const verdict v = classify_for_retry(p_.classifier, o);
        p_.budget.record_attempt(v == verdict::failure);
        if (in_retry_) {
            in_retry_ = false;
            p_.budget.end_retry();
        }
        if (v == verdict::failure) [[unlikely]]
            return after_failure(o);
        if (v == verdict::ignore)
            give_up(retry_stop::not_retryable, o, !o.has_failure());
        else
            bulwark::emit(p_.listener, events::retry_completed{.attempts = attempt_});
        return {};
    }

    /// Call when the wait before the next attempt was interrupted by stop.
    template <class R>
    void stopped(const outcome<R>& o) {
        give_up(retry_stop::stopped, o);
    }

    /// Advances the context to the next attempt (after the wait).
    void next_attempt() noexcept { ctx_.set_attempt(++attempt_); }
    std::uint32_t attempt() const noexcept { return attempt_; }

private:
    template <class R>
    step after_failure(const outcome<R>& o) {
        if (attempt_ >= static_cast<std::uint32_t>(p_.max_attempts))
            return give_up(retry_stop::attempts_exhausted, o);
        if (ctx_.stop_requested())
            return give_up(retry_stop::stopped, o);

        // A rejection that says when to come back (open breaker, rate limit, server pushback)
        // is honoured: never retry sooner than it asks. A negative one is gRPC A6's "do not
        // retry" pushback.
        const duration asked = o.has_failure() ? o.error().retry_after : duration::zero();
        if (asked < duration::zero())
            return give_up(retry_stop::not_retryable, o);
        duration delay = p_.backoff.next_delay(attempt_, previous_, backoff_rng::thread_instance());
        previous_ = delay;
        if (asked > delay)
            delay = asked;

        const bool limited = p_.max_duration != duration::max();
        if (limited || ctx_.has_deadline()) { // the clock is read only when a limit needs it
            const time_point resume = saturating_add(p_.clock.now(), delay);
            if (resume >= ctx_.deadline())
                return give_up(retry_stop::deadline, o);
            if (limited && resume - start_ >= p_.max_duration)
                return give_up(retry_stop::max_duration, o);
        }
        // The budget is asked last, so that a retry refused for another reason costs no token.
        if (!p_.budget.try_begin_retry()) {
            bulwark::emit(p_.listener, events::retry_budget_refused{.attempt = attempt_});
            return give_up(retry_stop::budget_exhausted, o);
        }
        in_retry_ = true;
        if constexpr (requires { p_.listener.on_retry(attempt_, delay, o); })
            p_.listener.on_retry(attempt_, delay, o);
        bulwark::emit(p_.listener, events::retry_attempt{attempt_, delay, error_of(o)});
        return {true, delay};
    }

    /// Ends the call's retries: the listener hears why, then that the call completed.
    template <class R>
    step give_up(retry_stop why, const outcome<R>& o, bool succeeded = false) {
        if constexpr (requires { p_.listener.on_give_up(why, attempt_, o); })
            p_.listener.on_give_up(why, attempt_, o);
        bulwark::emit(p_.listener, events::retry_give_up{why, attempt_, error_of(o)});
        bulwark::emit(p_.listener, events::retry_completed{attempt_, succeeded});
        return {};
    }

    template <class R>
    static const failure* error_of(const outcome<R>& o) noexcept {
        return o.has_failure() ? &o.error() : nullptr;
    }

    Policy& p_;
    context& ctx_;
    std::uint32_t attempt_ = 1;
    bool in_retry_ = false;
    duration previous_{};
    time_point start_{};
};

} // namespace detail
} // namespace bulwark
