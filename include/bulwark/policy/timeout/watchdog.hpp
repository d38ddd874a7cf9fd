#pragma once
/// \file
/// Part of `policy/timeout.hpp`: the optional watchdog of the synchronous timeout driver
/// (`.stop_on_expiry = true`): a timer on the policy's clock that requests stop on the call's child
/// context when the limit passes, so an operation that waits on its stop token (a
/// `condition_variable_any` wait, a socket with a `stop_callback`) is interrupted, not only judged
/// afterwards.

#include <bulwark/core/context.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <stop_token>
#include <utility>

namespace bulwark::detail {

/// Shared by the caller and the timer coroutine, which may finish on the timer thread after the
/// caller has returned: hence shared ownership.
struct watchdog_state {
    static constexpr int none = 0, operation = 1, timer = 2;
    std::atomic<int> winner{none};
    std::atomic<bool> done{false};
};

struct watchdog {

    // A member coroutine: clang 14's -fsanitize=function mis-assembles inline non-member ones.
    detached start(std::shared_ptr<watchdog_state> st, const any_clock& clock, duration limit,
                   std::stop_token stop, context& child) {
        const bool elapsed = co_await clock.async_sleep_for(limit, std::move(stop));
        int expected = watchdog_state::none;
        if (elapsed && st->winner.compare_exchange_strong(expected, watchdog_state::timer,
                                                          std::memory_order_acq_rel))
            child.request_stop(); // the caller is still inside the operation: it must return
        st->done.store(true, std::memory_order_release);
        st->done.notify_one();
    }
};

/// Runs `call(child)` under a watchdog; returns whether the watchdog fired first.
template <class Call>
bool run_watched(Call&& call, context& child, const any_clock& clock, duration limit) {
    auto st = std::make_shared<watchdog_state>();
    watchdog{}.start(st, clock, limit, child.stop_token(), child);
    call(child);
    int expected = watchdog_state::none;
    if (st->winner.compare_exchange_strong(expected, watchdog_state::operation,
                                           std::memory_order_acq_rel))
        child.request_stop();                        // cancels the timer (the operation is over)
    st->done.wait(false, std::memory_order_acquire); // the timer may be finishing on its thread
    return st->winner.load(std::memory_order_acquire) == watchdog_state::timer;
}

} // namespace bulwark::detail
