#pragma once
/// \file
/// `vegas`: the delay-based adaptive limit of Netflix concurrency-limits (`limit/VegasLimit.java`,
/// the library's default). It estimates the queue at the server from the no-load RTT:
/// `queue = ceil(L * (1 - noload / rtt))`, and with `lg = max(1, floor(log10 L))`,
/// `alpha = 3 lg`, `beta = 6 lg`: a drop gives `L - lg`; a window that used less than half the
/// limit changes nothing (the caller, not the server, limits it); `queue <= lg` gives `L + beta`;
/// `queue < alpha` gives `L + lg`; `queue > beta` gives `L - lg`; else hold. Then clamp to
/// [1, max] and smooth: `L = (1 - s) L + s new`.
/// The no-load RTT is the smallest RTT seen, re-probed (taken from the next window even if
/// higher) after `U[0.5, 1) * probe_multiplier * L` windows, so a stale minimum ages out.
/// Defaults as in the source: initial 20, max 1000, smoothing 1.0, probe multiplier 30.

#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/adaptive_limit/sample.hpp>

namespace bulwark {

/// Settings of `vegas`.
struct vegas_options {
    std::size_t initial = 20;          ///< starting limit, within [1, max]
    std::size_t max = 1000;            ///< highest limit (>= 1, <= 2^52)
    double smoothing = 1.0;            ///< weight of the new value, in (0, 1]
    std::size_t probe_multiplier = 30; ///< re-probe the no-load RTT every ~multiplier*L windows
    std::uint64_t seed = 0x5eed;       ///< the probe jitter's random sequence
};

/// Delay-based limit (see the file comment).
class vegas {
public:
    using options = vegas_options;

    /// Throws `invalid_argument_error` for a max out of range, an initial above it, a
    /// smoothing outside (0, 1] or a zero probe multiplier.
    explicit vegas(options o = {})
        : o_(o)
        , limit_(static_cast<double>(o.initial))
        , rng_(o.seed) {
        detail::require(o.max >= 1 && o.max <= (std::size_t{1} << 52), "vegas", "max",
                        "in [1, 2^52]", o.max);
        detail::require(o.initial >= 1 && o.initial <= o.max, "vegas", "initial", "within [1, max]",
                        o.initial);
        detail::require(o.smoothing > 0.0 && o.smoothing <= 1.0, "vegas", "smoothing", "in (0, 1]",
                        o.smoothing);
        detail::require(o.probe_multiplier >= 1, "vegas", "probe_multiplier", ">= 1",
                        o.probe_multiplier);
        reset_probe();
    }

    void on_sample(const limit_sample& s) noexcept {
        if (s.rtt <= duration::zero())
            return;
        if (static_cast<double>(++probe_count_) >=
            probe_jitter_ * static_cast<double>(o_.probe_multiplier) * limit_) {
            noload_ = s.rtt; // a probe accepts a higher RTT: the old minimum may be stale
            reset_probe();
            return;
        }
        if (noload_ == duration::zero() || s.rtt < noload_) {
            noload_ = s.rtt;
            return;
        }
        const double lg = detail::log10_step(limit_);
        const double alpha = 3 * lg, beta = 6 * lg;
        const double queue = std::ceil(limit_ * (1.0 - static_cast<double>(noload_.count()) /
                                                           static_cast<double>(s.rtt.count())));
        double next;
        if (s.dropped)
            next = limit_ - lg;
        else if (static_cast<double>(s.inflight) * 2 < limit_)
            return;
        else if (queue <= lg)
            next = limit_ + beta;
        else if (queue < alpha)
            next = limit_ + lg;
        else if (queue > beta)
            next = limit_ - lg;
        else
            return;
        next = std::clamp(next, 1.0, static_cast<double>(o_.max));
        limit_ = (1 - o_.smoothing) * limit_ + o_.smoothing * next;
    }
    std::size_t limit() const noexcept { return detail::published(limit_); }
    /// The no-load RTT estimate (zero before the first sample).
    duration noload_rtt() const noexcept { return noload_; }

private:
    void reset_probe() noexcept {
        probe_count_ = 0;
        probe_jitter_ = 0.5 + 0.5 * detail::unit_random(rng_);
    }

    options o_;
    double limit_;
    duration noload_{};
    std::uint64_t probe_count_ = 0;
    double probe_jitter_ = 1.0;
    std::uint64_t rng_;
};

static_assert(limit_algorithm<vegas>);

} // namespace bulwark
