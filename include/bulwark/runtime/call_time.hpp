#pragma once
/// \file
/// One clock reading per call: the time-based policies of one pipeline (timeout, rate limiter,
/// ...) share the reading the first of them takes, carried by the call's `context` (the pipeline
/// forgets it at entry, a new attempt or a wait forgets it too). A policy that needs a fresher
/// time reads its clock itself.

#include <bulwark/core/context.hpp>
#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/runtime/any_clock.hpp>

namespace bulwark::detail {

/// Identifies the coarse real-time reading in a context (manual clocks are identified by their
/// time source).
inline const void* coarse_time_source() noexcept {
    static const char tag = 0;
    return &tag;
}

/// `clock.now()` for the time-based decisions at a call's entry, shared by the pipeline's
/// policies: on real time the coarse clock's reading (when `coarse_ok`, see coarse_clock.hpp;
/// otherwise an exact read of its own, not shared); on another time source (a manual clock) that
/// source's reading. The first policy reads, the next ones reuse it.
[[gnu::always_inline]] inline time_point call_now(context& ctx, const any_clock& clock,
                                                  bool coarse_ok) noexcept {
    const void* source = clock.service_ptr();
    if (source == nullptr) {
        if (!coarse_ok)
            return clock.now();
        source = coarse_time_source();
    }
    time_point t = ctx.call_time(source);
    if (t == time_point::min()) {
        t = source == coarse_time_source() ? coarse_clock::now() : clock.now();
        ctx.set_call_time(source, t);
    }
    return t;
}

} // namespace bulwark::detail
