#pragma once
/// \file
/// Time vocabulary: `duration`, `time_point`, `no_deadline`, `saturating_add`. The concepts are
/// in `core/clock.hpp`; the clocks in `runtime/steady_clock.hpp`, `runtime/any_clock.hpp` and
/// `testing/manual_clock.hpp`. Kept this small so `core/error.hpp` costs little more than
/// `<system_error>`.

// libstdc++'s <chrono> also parses the C++20 calendar and time-zone parts (with <sstream>);
// <bits/chrono.h> is its durations and clocks alone. Other libraries get the standard header.
#include <version> // defines __GLIBCXX__ under libstdc++
#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>)
#include <bits/chrono.h>
#else
#include <chrono>
#endif

namespace bulwark {

/// The one duration and time-point type of bulwark (nanosecond ticks of the steady clock).
using duration = std::chrono::steady_clock::duration;
using time_point = std::chrono::steady_clock::time_point;

/// "No deadline".
inline constexpr time_point no_deadline = time_point::max();

/// `t + d`, saturating at `no_deadline` instead of overflowing.
constexpr time_point saturating_add(time_point t, duration d) noexcept {
    if (d <= duration::zero())
        return t + d;
    if (t >= time_point::max() - d)
        return time_point::max();
    return t + d;
}

} // namespace bulwark
