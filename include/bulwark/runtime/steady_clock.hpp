#pragma once
/// \file
/// `steady_clock`: real monotonic time, with timers on a shared background thread.

#include <bulwark/core/clock.hpp>
#include <bulwark/runtime/detail/timer_thread.hpp>

#include <chrono>

namespace bulwark {

/// Real monotonic time. Models `clock`, `sleeper` and `scheduler` (timers on a shared background
/// thread started on first use).
///
/// **Thread safety:** all members are thread-safe. **Allocation:** none for `now`; one timer
/// entry per pending async sleep.
struct steady_clock {
    static time_point now() noexcept { return std::chrono::steady_clock::now(); }
    /// Sleeps `d` or until `st` is stopped; returns false when stopped.
    static bool sleep_for(duration d, const std::stop_token& st) {
        if (d <= duration::zero())
            return !st.stop_requested();
        return detail::timer_thread::instance().sleep_for(d, st);
    }
    static detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) {
        return detail::sleep_awaiter{&detail::timer_thread::instance(), d, std::move(st)};
    }
};

static_assert(scheduler<steady_clock> && sleeper<steady_clock>);

} // namespace bulwark
