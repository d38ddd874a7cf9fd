#pragma once
/// \file
/// `gradient2`: the gradient limit of Netflix concurrency-limits (`limit/Gradient2Limit.java`).
/// It compares a long-term exponential average of the RTT with the window's RTT:
/// `g = clamp(tolerance * long / short, 0.5, 1)`, `new = L g + queue_size`,
/// `L = (1 - s) L + s new`, clamped to [min, max]. The long average is the mean of the first
/// 10 windows, then an EMA with factor `2 / (long_window + 1)`; when `long / short > 2` it is
/// cut by 5 % so it recovers after an overload. A window that used less than half the limit
/// changes nothing. As in the source, a drop is not read (issue #176 there), and under a
/// sustained overload the limit creeps up as the long average follows the RTT: it sheds load
/// quickly after a step but is not a fixed point at the knee.
/// Defaults as in the source: initial 20, min 20, max 200, smoothing 0.2, queue 4,
/// long window 600, tolerance 1.5.

#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/adaptive_limit/sample.hpp>

namespace bulwark {

/// Settings of `gradient2`.
struct gradient2_options {
    std::size_t initial = 20;      ///< starting limit, within [min, max]
    std::size_t min = 20;          ///< lowest limit (>= 1)
    std::size_t max = 200;         ///< highest limit (>= min, <= 2^52)
    double smoothing = 0.2;        ///< weight of the new value, in (0, 1]
    double queue_size = 4;         ///< headroom added to `L g` (>= 0)
    std::size_t long_window = 600; ///< windows in the long RTT average (>= 1)
    double rtt_tolerance = 1.5;    ///< how much slower than the long average is still fine (>= 1)
};

/// Gradient of long-term over current RTT (see the file comment).
class gradient2 {
public:
    using options = gradient2_options;

    /// Throws `invalid_argument_error` for bounds out of order, a smoothing outside (0, 1], a
    /// negative queue size, a zero long window or a tolerance below 1.
    explicit gradient2(options o = {})
        : o_(o)
        , limit_(static_cast<double>(o.initial)) {
        detail::require(o.min >= 1, "gradient2", "min", ">= 1", o.min);
        detail::require(o.max >= o.min && o.max <= (std::size_t{1} << 52), "gradient2", "max",
                        ">= min and <= 2^52", o.max);
        detail::require(o.initial >= o.min && o.initial <= o.max, "gradient2", "initial",
                        "within [min, max]", o.initial);
        detail::require(o.smoothing > 0.0 && o.smoothing <= 1.0, "gradient2", "smoothing",
                        "in (0, 1]", o.smoothing);
        detail::require(o.queue_size >= 0.0, "gradient2", "queue_size", ">= 0", o.queue_size);
        detail::require(o.long_window >= 1, "gradient2", "long_window", ">= 1", o.long_window);
        detail::require(o.rtt_tolerance >= 1.0, "gradient2", "rtt_tolerance", ">= 1",
                        o.rtt_tolerance);
    }

    void on_sample(const limit_sample& s) noexcept {
        if (s.rtt <= duration::zero())
            return;
        const double short_rtt = static_cast<double>(s.rtt.count());
        const double long_rtt = add_long(short_rtt);
        if (long_rtt / short_rtt > 2)
            long_ *= 0.95;
        if (static_cast<double>(s.inflight) < limit_ / 2)
            return;
        const double g = std::clamp(o_.rtt_tolerance * long_rtt / short_rtt, 0.5, 1.0);
        const double next =
            (1 - o_.smoothing) * limit_ + o_.smoothing * (limit_ * g + o_.queue_size);
        limit_ = std::clamp(next, static_cast<double>(o_.min), static_cast<double>(o_.max));
    }
    std::size_t limit() const noexcept { return detail::published(limit_); }
    /// The long-term RTT average (zero before the first sample).
    duration long_rtt() const noexcept { return duration{static_cast<duration::rep>(long_)}; }

private:
    /// The mean of the first 10 values, then an EMA over `long_window` values.
    double add_long(double v) noexcept {
        static constexpr std::size_t warmup = 10;
        if (count_ < warmup) {
            ++count_;
            long_ += (v - long_) / static_cast<double>(count_);
        } else {
            const double f = 2.0 / (static_cast<double>(o_.long_window) + 1);
            long_ = long_ * (1 - f) + v * f;
        }
        return long_;
    }

    options o_;
    double limit_;
    double long_ = 0;
    std::size_t count_ = 0;
};

static_assert(limit_algorithm<gradient2>);

} // namespace bulwark
