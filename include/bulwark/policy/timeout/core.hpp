#pragma once
/// \file
/// Part of `policy/timeout.hpp`: the drivers of the one timeout type (`basic_timeout`, spelt
/// `timeout`, `total_timeout`, `attempt_timeout`): how the deadline is set, how expiry is
/// detected by each driver, and the rule that turns an outcome into `errc::timeout`. The sync
/// driver's stop on expiry is its own part (`watchdog.hpp`), the coroutine race another
/// (`race.hpp`, shared with `hedge`).

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/policy/timeout/race.hpp>
#include <bulwark/policy/timeout/watchdog.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/call_time.hpp>
#include <bulwark/runtime/task.hpp>

#include <atomic>
#include <optional>
#include <utility>

namespace bulwark::detail {

/// `clock.now() + limit`, cheaply: from the coarse clock when the limit is long enough for its
/// lag not to matter (see coarse_clock.hpp); exact for shorter limits and manual clocks. Envoy's
/// timeouts use its approximate monotonic time likewise.
inline time_point deadline_after(const any_clock& clock, duration limit) noexcept {
    return saturating_add(coarse_now_if(clock, limit >= coarse_clock::tolerant_of()), limit);
}

/// The same, from the call's shared clock reading (runtime/call_time.hpp): the timeouts and the
/// other time-based policies of one pipeline read the clock once per call between them.
[[gnu::always_inline]] inline time_point deadline_after(context& ctx, const any_clock& clock,
                                                        duration limit) noexcept {
    return saturating_add(call_now(ctx, clock, limit >= coarse_clock::tolerant_of()), limit);
}

struct timeout_core {
    /// The rule shared by both drivers (Polly v8's TimeoutStrategy): once the time limit has
    /// passed, a failure is reported as `errc::timeout` — the operation gave up because of our
    /// deadline or stop request. A value that still arrived is kept: the work is done and the
    /// caller already paid the wait (resilience4j's TimeLimiter instead drops it, because its
    /// caller stopped waiting; bulwark's callers always wait for the operation to return).
    template <class O>
    static O finish(O&& o, bool expired) {
        if (expired && o.has_failure()) [[unlikely]]
            return O{errc::timeout};
        return std::move(o);
    }

    /// Sync driver, deadline only (`timeout_expiry::tighten_deadline_only`): tighten the
    /// deadline for the call (never extending an outer one), run it, and judge the outcome by
    /// the clock. One shared clock reading (see deadline_after) on the success path.
    template <class Next>
    static next_result_t<Next> run(Next& next, context& ctx, duration limit,
                                   const any_clock& clock) {
        const time_point deadline = deadline_after(ctx, clock, limit);
        scoped_deadline scope(ctx, deadline);
        auto o = next(ctx);
        if (o.has_failure()) [[unlikely]]
            return finish(std::move(o), clock.now() >= deadline);
        return o;
    }

    /// Sync driver, the default (`timeout_expiry::request_stop`): as `run`, and the call runs in
    /// a stop scope of its context that a timer entry in this frame stops when the limit passes
    /// (watchdog.hpp). No allocation and no lock on real time; the entry is disarmed before this
    /// frame returns, whichever of the call and the timer finishes first.
    template <class Next>
    static next_result_t<Next> run_stopping(Next& next, context& ctx, duration limit,
                                            const any_clock& clock) {
        const time_point deadline = deadline_after(ctx, clock, limit);
        scoped_deadline scope(ctx, deadline);
        expiry_guard guard(ctx, clock, deadline);
        auto o = next(ctx);
        const bool fired = guard.disarm();
        if (o.has_failure()) [[unlikely]]
            return finish(std::move(o), fired || clock.now() >= deadline);
        return o;
    }

    /// Coroutine driver: the operation runs on a child context (deadline tightened, its own
    /// stop source) raced against a timer on `clock`. The first to finish requests stop on the
    /// child: the timer stops sleeping, or the operation is told to give up; both are joined.
    template <class Next>
    static next_result_t<Next> run_async(Next& next, context& ctx, duration limit,
                                         any_clock clock) {
        using O = typename next_result_t<Next>::value_type;
        context child(context::child, ctx);
        child.tighten_deadline(deadline_after(clock, limit));
        std::stop_token stop = child.stop_token(); // made here: both branches share the source
        race<O> r{child};
        r.latch.add();
        r.run_operation(r.latch, next);
        r.latch.add();
        r.run_timer(r.latch, clock, limit, std::move(stop));
        co_await r.latch.wait();
        // What the layers inside learnt about the call travels back to the caller's context.
        ctx.set_attempt(child.attempt());
        if (child.endpoint() != nullptr)
            ctx.set_endpoint(child.endpoint());
        co_return finish(std::move(*r.result), r.winner.load(std::memory_order_acquire) == timer);
    }

private:
    enum : int { none, operation, timer };

    /// The state both branches share, in the parent's frame.
    template <class O>
    struct race {
        context& child;
        std::optional<O> result{};
        std::atomic<int> winner{none};
        join_latch latch{};

        template <class Next>
        branch run_operation(join_latch&, Next& next) {
            co_await await_into(next, child, result);
            int expected = none;
            if (winner.compare_exchange_strong(expected, operation, std::memory_order_acq_rel))
                child.request_stop(); // wakes the timer
        }

        branch run_timer(join_latch&, const any_clock& clock, duration limit,
                         std::stop_token stop) {
            const bool elapsed = co_await clock.async_sleep_for(limit, std::move(stop));
            int expected = none;
            if (elapsed &&
                winner.compare_exchange_strong(expected, timer, std::memory_order_acq_rel))
                child.request_stop(); // the operation must observe it and return
        }
    };
};

} // namespace bulwark::detail
