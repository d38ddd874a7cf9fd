#pragma once
/// \file
/// `bulkhead`: caps the calls running at once, with an optional bounded queue whose callers wait
/// up to a maximum time (resilience4j's SemaphoreBulkhead with maxConcurrentCalls /
/// maxWaitDuration, plus a queue bound like Envoy's max_pending_requests).
///
/// ```cpp
/// bulwark::bulkhead limit{{.max_concurrent = 10, .max_queued = 20, .max_wait = 50ms}};
/// auto client = bulwark::pipeline{std::move(limit), bulwark::timeout{.total = 1s}};
/// ```

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/policy/detail/bulkhead_state.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <cstddef>
#include <memory>

namespace bulwark {

/// Settings of a `bulkhead`. Defaults follow resilience4j (25 concurrent calls, no waiting).
struct bulkhead_options {
    std::size_t max_concurrent = 25; ///< calls running at once (>= 1)
    std::size_t max_queued = 0;      ///< callers that may wait for a slot (0 = reject at once)
    duration max_wait{};             ///< how long a queued caller waits (> 0 iff max_queued > 0)
    any_clock clock{};               ///< time of the waits; `.clock = manual` in tests
};

/// A concurrency limit. A call takes a permit or waits in a bounded queue for at most
/// `max_wait` (and never past the context's deadline); else it is rejected.
///
/// **Failure semantics:** a rejected call returns `errc::bulkhead_full` without running; a
/// queued call whose context is stopped returns `errc::cancelled`. Outcomes of calls that ran
/// pass through unchanged. **Time and cancellation:** waits use `.clock` (sync: a blocking
/// sleep; coroutine: a timer) and wake on a released permit or on the context's stop.
/// **Thread safety:** all calls may run concurrently; a newcomer may take a freed permit before
/// a woken waiter (barging, no fairness), which keeps the fast path lock-free.
/// **Allocation:** the state at construction; none on the fast path (a free permit: one CAS to
/// take, one atomic decrement to give back); a wait allocates its stop sources.
/// **Events:** `bulkhead_rejected` (no slot: full, or the wait ran out), `bulkhead_queued`,
/// `bulkhead_waited` (a queued call got its slot) to `Listener` (default: none, no cost).
template <class Listener = null_listener>
class basic_bulkhead {
public:
    static constexpr policy_kind kind = policy_kind::bulkhead;

    /// Throws `invalid_argument_error` for `max_concurrent == 0`, a negative `max_wait`, or a
    /// queue without a wait (or a wait without a queue).
    explicit basic_bulkhead(bulkhead_options options = {}, Listener listener = {})
        : max_wait_(options.max_wait)
        , clock_(std::move(options.clock))
        , listener_(std::move(listener)) {
        // Sizes are only compared with counters that stop at them, so any size up to SIZE_MAX
        // is safe (no multiplication, no shift, no allocation by size).
        detail::require(options.max_concurrent >= 1, "bulkhead", "max_concurrent", ">= 1",
                        options.max_concurrent);
        detail::require(options.max_wait >= duration::zero(), "bulkhead", "max_wait", ">= 0",
                        options.max_wait);
        detail::require(options.max_queued == 0 || options.max_wait > duration::zero(), "bulkhead",
                        "max_wait", "> 0 when max_queued > 0 (a queued caller waits)",
                        options.max_wait);
        detail::require(options.max_queued > 0 || options.max_wait == duration::zero(), "bulkhead",
                        "max_queued", "> 0 when max_wait > 0 (nothing would wait)",
                        options.max_queued);
        state_ =
            std::make_unique<detail::bulkhead_state>(options.max_concurrent, options.max_queued);
    }

    /// Runs `next(ctx)` holding a permit, after waiting in the queue if needed.
    template <class Next>
    next_result_t<Next> execute(Next&& next, context& ctx) {
        if (state_->try_acquire()) [[likely]] {
            detail::bulkhead_permit permit(*state_);
            return next(ctx);
        }
        if (!state_->try_enqueue()) {
            bulwark::emit(listener_, events::bulkhead_rejected{});
            return {errc::bulkhead_full};
        }
        const time_point queued_at = note_queued();
        const time_point until = wait_deadline(ctx);
        bool got = false;
        for (;;) {
            detail::bulkhead_waiter w{ctx.stop_token()};
            if ((got = state_->link_and_try(w)))
                break;
            const duration left = until - clock_.now();
            if (left > duration::zero() && !ctx.stop_requested())
                clock_.sleep_for(left, w.wake.get_token());
            state_->unlink(w);
            if ((got = state_->try_acquire()) || wait_over(ctx, until))
                break;
        }
        state_->leave_queue();
        if (!got)
            return {rejection(ctx)};
        note_waited(queued_at);
        detail::bulkhead_permit permit(*state_);
        ctx.clear_call_time(); // time moved on while queued: the policies inside read afresh
        if (ctx.stop_requested())
            return {errc::cancelled};
        return next(ctx);
    }

    /// The coroutine driver: the same state core; a queued call awaits a timer, not a thread.
    template <class Next>
    next_result_t<Next> async_execute(Next&& next, context& ctx) {
        if (state_->try_acquire()) [[likely]] {
            detail::bulkhead_permit permit(*state_);
            co_return co_await next(ctx);
        }
        if (!state_->try_enqueue()) {
            bulwark::emit(listener_, events::bulkhead_rejected{});
            co_return errc::bulkhead_full;
        }
        const time_point queued_at = note_queued();
        const time_point until = wait_deadline(ctx);
        bool got = false;
        for (;;) {
            detail::bulkhead_waiter w{ctx.stop_token()};
            if ((got = state_->link_and_try(w)))
                break;
            const duration left = until - clock_.now();
            if (left > duration::zero() && !ctx.stop_requested())
                co_await clock_.async_sleep_for(left, w.wake.get_token());
            state_->unlink(w);
            if ((got = state_->try_acquire()) || wait_over(ctx, until))
                break;
        }
        state_->leave_queue();
        if (!got)
            co_return rejection(ctx);
        note_waited(queued_at);
        detail::bulkhead_permit permit(*state_);
        ctx.clear_call_time(); // time moved on while queued: the policies inside read afresh
        if (ctx.stop_requested())
            co_return errc::cancelled;
        co_return co_await next(ctx);
    }

    /// Calls running now.
    std::size_t active() const noexcept { return state_->active(); }
    /// Callers waiting for a permit now.
    std::size_t queued() const noexcept { return state_->queued(); }
    /// The current limit of calls running at once.
    std::size_t max_concurrent() const noexcept { return state_->max_concurrent(); }
    /// Moves the limit (what `adaptive_limit{{.drive = &b}}` does once per window). Throws
    /// `invalid_argument_error` for 0. A raise wakes queued callers; a cut lets running calls
    /// finish.
    void set_max_concurrent(std::size_t n) {
        detail::require(n >= 1, "bulkhead", "max_concurrent", ">= 1", n);
        state_->set_max_concurrent(n);
    }

private:
    time_point wait_deadline(const context& ctx) const noexcept {
        const time_point t = saturating_add(clock_.now(), max_wait_);
        return t < ctx.deadline() ? t : ctx.deadline();
    }
    bool wait_over(const context& ctx, time_point until) const noexcept {
        return ctx.stop_requested() || clock_.now() >= until;
    }
    errc rejection(const context& ctx) {
        if (ctx.stop_requested())
            return errc::cancelled;
        bulwark::emit(listener_, events::bulkhead_rejected{});
        return errc::bulkhead_full;
    }
    // Events of the (cold) queued path; the clock is read only for a listener that hears waits.
    time_point note_queued() {
        bulwark::emit(listener_, events::bulkhead_queued{});
        if constexpr (hears<Listener, events::bulkhead_waited>)
            return clock_.now();
        return {};
    }
    void note_waited(time_point queued_at) {
        if constexpr (hears<Listener, events::bulkhead_waited>)
            bulwark::emit(listener_, events::bulkhead_waited{clock_.now() - queued_at});
    }

    std::unique_ptr<detail::bulkhead_state> state_;
    duration max_wait_;
    any_clock clock_;
    [[no_unique_address]] Listener listener_;
};

template <class Listener>
basic_bulkhead(bulkhead_options, Listener) -> basic_bulkhead<Listener>;

/// The bulkhead without a listener: `bulwark::bulkhead{{.max_concurrent = 10}}`.
using bulkhead = basic_bulkhead<>;

static_assert(async_policy<bulkhead>);

} // namespace bulwark
