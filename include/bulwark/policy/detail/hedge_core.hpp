#pragma once
/// \file
/// The state core of `hedge`: when to start the next attempt, which outcome wins, and — for the
/// coroutine driver — the attempts running concurrently on child contexts.

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/policy/timeout/race.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>

namespace bulwark::detail {

/// Polly v8's three hedging modes, chosen by the sign of the delay.
enum class hedge_mode { latency, parallel, fallback };

inline hedge_mode mode_of(duration delay) noexcept {
    return delay > duration::zero()    ? hedge_mode::latency
           : delay == duration::zero() ? hedge_mode::parallel
                                       : hedge_mode::fallback;
}

struct hedge_core {
    /// A failure (by the default classifier) loses and lets the next attempt start at once
    /// (gRPC A6: a non-fatal status sends the next hedge immediately); anything else wins.
    template <class O>
    static bool wins(const O& o) {
        return default_classifier{}(o) != verdict::failure;
    }

    /// No new attempt once the call is stopped or past its deadline (A6: the deadline covers
    /// all hedges).
    static bool may_start(const context& ctx, const any_clock& clock) noexcept {
        return !ctx.stop_requested() && !(ctx.has_deadline() && ctx.expired(clock.now()));
    }

    /// Sync driver: attempts one after another, the next only when the previous one failed.
    template <class Next>
    static next_result_t<Next> run(Next& next, context& ctx, std::uint32_t attempts,
                                   const any_clock& clock) {
        const std::uint32_t first = ctx.attempt();
        auto o = next(ctx);
        for (std::uint32_t i = 1; i < attempts && !wins(o) && may_start(ctx, clock); ++i) {
            ctx.set_attempt(first + i);
            o = next(ctx);
        }
        return o;
    }

    /// Coroutine driver: see `hedge`.
    template <class Next>
    static next_result_t<Next> run_async(Next& next, context& ctx, std::uint32_t attempts,
                                         duration delay, any_clock clock) {
        using O = typename next_result_t<Next>::value_type;
        const hedge_mode mode = mode_of(delay);
        race<O> r{std::make_unique<slot<O>[]>(attempts)};
        std::uint32_t launched = 0, finished = 0;
        std::optional<std::uint32_t> winner, last_failure;

        auto launch = [&] {
            slot<O>& s = r.slots[launched];
            s.ctx.emplace(context::child, ctx);
            s.ctx->set_attempt(ctx.attempt() + launched);
            (void)s.ctx->stop_token(); // made now: the parent may stop it from another thread
            ++launched;
            r.latch.add();
            r.run_attempt(r.latch, next, s);
            if (mode == hedge_mode::latency && launched < attempts) {
                r.timer = std::stop_source{};
                r.latch.add();
                r.run_timer(r.latch, clock, delay, r.timer.get_token(), launched);
            }
        };

        launch();
        while (mode == hedge_mode::parallel && launched < attempts && may_start(ctx, clock))
            launch();
        for (;;) {
            co_await r.event.wait();
            for (std::uint32_t i = 0; i < launched && !winner; ++i) {
                slot<O>& s = r.slots[i];
                if (s.seen || !s.done.load(std::memory_order_acquire))
                    continue;
                s.seen = true;
                ++finished;
                if (wins(*s.result))
                    winner = i;
                else
                    last_failure = i;
            }
            if (winner)
                break;
            const bool all_failed = finished == launched;
            const bool timer_due = r.fired.load(std::memory_order_acquire) == launched;
            if (all_failed || timer_due) {
                if (launched < attempts && may_start(ctx, clock)) {
                    r.timer.request_stop(); // a failure starts the next attempt early
                    launch();
                } else if (all_failed) {
                    break;
                }
            }
        }
        // The first success wins; the others are told to stop, and all are joined.
        r.timer.request_stop();
        for (std::uint32_t i = 0; i < launched; ++i)
            if (!winner || i != *winner)
                r.slots[i].ctx->request_stop();
        co_await r.latch.wait();
        const std::uint32_t chosen = winner ? *winner : *last_failure;
        if (const auto* e = r.slots[chosen].ctx->endpoint())
            ctx.set_endpoint(e);
        co_return std::move(*r.slots[chosen].result);
    }

private:
    template <class O>
    struct slot {
        std::optional<context> ctx{};
        std::optional<O> result{};
        std::atomic<bool> done{false};
        bool seen = false; // read by the parent only
    };

    /// The state the branches share, in the parent's frame.
    template <class O>
    struct race {
        std::unique_ptr<slot<O>[]> slots;
        join_latch latch{};
        race_event event{};
        std::stop_source timer{std::nostopstate};
        std::atomic<std::uint32_t> fired{0}; // the attempt count whose hedge delay elapsed

        template <class Next>
        branch run_attempt(join_latch&, Next& next, slot<O>& s) {
            co_await await_into(next, *s.ctx, s.result);
            s.done.store(true, std::memory_order_release);
            event.signal();
        }

        branch run_timer(join_latch&, const any_clock& clock, duration delay, std::stop_token stop,
                         std::uint32_t launched) {
            // (not `if (co_await ...)`: g++ 12 destroys the awaiter too early in a condition)
            const bool elapsed = co_await clock.async_sleep_for(delay, std::move(stop));
            if (elapsed) {
                fired.store(launched, std::memory_order_release);
                event.signal();
            }
        }
    };
};

} // namespace bulwark::detail
