#pragma once
/// \file
/// `aimd`: the loss-based adaptive limit of Netflix concurrency-limits (`limit/AIMDLimit.java`).
/// Per window: a drop, or a mean RTT above `timeout`, gives `L = floor(L * backoff_ratio)`;
/// otherwise, when the window used at least half the limit (`inflight * 2 >= L`), `L + 1`;
/// then clamp to [min, max]. Latency matters only through `timeout`, so AIMD does not find a
/// knee by itself: it saw-tooths just under the load at which calls start to time out.
/// Defaults as in the source: initial 20, min 20, max 200, backoff 0.9, timeout 5 s.

#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/adaptive_limit/sample.hpp>

#include <chrono>

namespace bulwark {

/// Settings of `aimd`.
struct aimd_options {
    std::size_t initial = 20;                   ///< starting limit, within [min, max]
    std::size_t min = 20;                       ///< lowest limit (>= 1)
    std::size_t max = 200;                      ///< highest limit (>= min, <= 2^52)
    double backoff_ratio = 0.9;                 ///< factor on a drop, in [0.5, 1)
    duration timeout = std::chrono::seconds{5}; ///< a slower window counts as a drop (> 0)
};

/// Additive increase, multiplicative decrease on drops (see the file comment).
class aimd {
public:
    using options = aimd_options;

    /// Throws `invalid_argument_error` for bounds out of order, a ratio outside [0.5, 1) or a
    /// timeout <= 0.
    explicit aimd(options o = {})
        : o_(o)
        , limit_(static_cast<double>(o.initial)) {
        detail::require(o.min >= 1, "aimd", "min", ">= 1", o.min);
        // Limits are kept as doubles: above 2^52 they would no longer step by 1.
        detail::require(o.max >= o.min && o.max <= (std::size_t{1} << 52), "aimd", "max",
                        ">= min and <= 2^52", o.max);
        detail::require(o.initial >= o.min && o.initial <= o.max, "aimd", "initial",
                        "within [min, max]", o.initial);
        detail::require(o.backoff_ratio >= 0.5 && o.backoff_ratio < 1.0, "aimd", "backoff_ratio",
                        "in [0.5, 1)", o.backoff_ratio);
        detail::require(o.timeout > duration::zero(), "aimd", "timeout", "> 0", o.timeout);
    }

    void on_sample(const limit_sample& s) noexcept {
        double next = limit_;
        if (s.dropped || s.rtt > o_.timeout)
            next = std::floor(limit_ * o_.backoff_ratio);
        else if (static_cast<double>(s.inflight) * 2 >= limit_)
            next = limit_ + 1;
        limit_ = std::clamp(next, static_cast<double>(o_.min), static_cast<double>(o_.max));
    }
    std::size_t limit() const noexcept { return detail::published(limit_); }

private:
    options o_;
    double limit_;
};

static_assert(limit_algorithm<aimd>);

} // namespace bulwark
