#pragma once
/// \file
/// A cheap reading of real time for the components that need "now" on every call (timeouts, the
/// rate limiter, retry budgets): Linux's `CLOCK_MONOTONIC_COARSE`, ~3 ns instead of ~20 ns for
/// `steady_clock::now()`. It is the same time line as `steady_clock`, behind by about one kernel
/// tick (4 ms at HZ=250; a few ticks on a busy tickless machine) — never ahead. Callers use it
/// only where lagging by a tick cannot hurt, and fall back to the exact clock elsewhere.

#include <bulwark/runtime/any_clock.hpp>

#include <ctime>

namespace bulwark::detail {

struct coarse_clock {
    /// The coarse clock's tick (`duration::max()` where there is none).
    static duration tick() noexcept {
        static const duration t = [] {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
            timespec res{};
            if (::clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0)
                return duration{res.tv_nsec};
#endif
            return duration::max();
        }();
        return t;
    }
    /// The shortest span for which a one-tick error is below 0.4 % (250 ticks: 1 s at 4 ms).
    [[gnu::always_inline]] static duration tolerant_of() noexcept {
        static const duration t = tick() == duration::max() ? duration::max() : tick() * 250;
        return t;
    }
    static time_point now() noexcept {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return time_point{duration{ts.tv_sec * 1'000'000'000LL + ts.tv_nsec}};
#else
        return steady_clock::now();
#endif
    }
};

/// `clock.now()`, from the coarse clock when `coarse_ok` and the clock is real time.
inline time_point coarse_now_if(const any_clock& clock, bool coarse_ok) noexcept {
    return coarse_ok && !clock.is_manual() ? coarse_clock::now() : clock.now();
}

} // namespace bulwark::detail
