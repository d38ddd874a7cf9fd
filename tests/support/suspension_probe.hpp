#pragma once
// Tests that check where a sleeping coroutine continues need the sleep to have really suspended
// before its timer fires: a 1 ms timer on a loaded machine (TSan, 2 cores) can fire while
// `await_suspend` is still running, and the coroutine then rightly continues inline on the
// sleeping thread. The probe wraps an awaiter and records when `await_suspend` has returned; the
// test holds the thread that fires timers until then.

#include <bulwark/runtime/detail/clock_service.hpp>

#include <atomic>
#include <coroutine>
#include <thread>
#include <utility>

namespace test_support {

/// The calling thread's id. clang 14 treats `pthread_self()` as a const function and reuses its
/// value across a `co_await` (even through a plain non-inlined wrapper, which it infers to be
/// const too), so `std::this_thread::get_id()` after a suspension can report the thread the
/// coroutine ran on before it. The signal fence is a side effect the optimiser keeps.
[[gnu::noinline]] inline std::thread::id current_thread() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return std::this_thread::get_id();
}

/// Set once the wrapped awaiter's `await_suspend` has returned.
struct suspension_flag {
    std::atomic<bool> suspended{false};
    /// Blocks the calling thread (the one that fires timers) until the sleep has suspended.
    void wait() const noexcept {
        while (!suspended.load())
            std::this_thread::yield();
    }
};

/// `co_await probe(flag, awaiter)`: `awaiter` with `flag` set once it has suspended.
template <class Awaiter>
struct suspension_probe {
    suspension_flag& flag;
    Awaiter inner;
    bool await_ready() noexcept { return inner.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) {
        const bool suspended = inner.await_suspend(h);
        flag.suspended.store(true); // the frame (and *this) may be gone after this store
        return suspended;
    }
    decltype(auto) await_resume() noexcept { return inner.await_resume(); }
};

/// `co_await probe(flag, [&] { return clock.async_sleep_for(d, st); })`. Awaiters are not
/// movable: the factory's result is built in place.
template <class Make>
auto probe(suspension_flag& flag, Make make) {
    return suspension_probe<decltype(make())>{flag, make()};
}

/// A timer due at `due` whose firing holds a timer thread until `flag` is set: scheduled on a
/// `clock_service` before the sleep, it fires first and keeps the sleep's timer from firing early.
struct timer_blocker : bulwark::detail::timer_node {
    explicit timer_blocker(const suspension_flag& f, bulwark::time_point at)
        : flag(&f) {
        due = at;
        fire = [](timer_node* n) noexcept { static_cast<timer_blocker*>(n)->flag->wait(); };
        abort = fire;
    }
    const suspension_flag* flag;
};

} // namespace test_support
