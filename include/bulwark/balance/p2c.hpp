#pragma once
/// \file
/// `p2c_peak_ewma`: the power of two choices over peak-EWMA latency × load (Finagle's default
/// balancer, tower's `p2c` + `PeakEwma`, Envoy's peak-EWMA proposal).

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>

#include <cstdint>

namespace bulwark {

/// Takes two distinct random ready endpoints and picks the one with the lower
/// `latency_ewma × (outstanding + 1)` (see `endpoint::peak_ewma_cost`; τ is the registry's
/// `ewma_decay`). Sampling two instead of scanning all bounds the worst load gap by
/// O(ln ln n) (Mitzenmacher) at O(1) cost.
///
/// **Thread safety:** lock-free. **Allocation:** none. **Complexity:** O(1).
class p2c_peak_ewma {
public:
    const endpoint* pick(const endpoint_set& set, const context&, time_point now) noexcept {
        const auto ready = set.ready();
        const auto n = static_cast<std::uint32_t>(ready.size());
        if (n <= 1)
            return n == 0 ? nullptr : ready[0];
        const std::uint64_t r = detail::thread_random();
        const std::uint32_t i = detail::reduce(static_cast<std::uint32_t>(r >> 32), n);
        std::uint32_t j = detail::reduce(static_cast<std::uint32_t>(r), n - 1);
        j += j >= i ? 1 : 0; // distinct from i, uniform over the rest
        const endpoint* a = ready[i];
        const endpoint* b = ready[j];
        const ewma_decay_table& decay = set.decay_table();
        return b->peak_ewma_cost(now, decay) < a->peak_ewma_cost(now, decay) ? b : a;
    }
    /// The same choice among the ready endpoints `x` does not exclude: two distinct random ones
    /// of the rest, the cheaper wins. An excluded endpoint is never sampled, so one that gets no
    /// traffic (its breaker is open: its cost looks lowest) cannot attract the choice. O(n).
    const endpoint* pick(const endpoint_set& set, const context&, time_point now,
                         const exclusion& x) noexcept {
        const auto ready = set.ready();
        const auto m = static_cast<std::uint32_t>(x.remaining(ready));
        if (m <= 1)
            return m == 0 ? nullptr : x.nth_remaining(ready, 0);
        const std::uint64_t r = detail::thread_random();
        const std::uint32_t i = detail::reduce(static_cast<std::uint32_t>(r >> 32), m);
        std::uint32_t j = detail::reduce(static_cast<std::uint32_t>(r), m - 1);
        j += j >= i ? 1 : 0;
        const endpoint* a = x.nth_remaining(ready, i);
        const endpoint* b = x.nth_remaining(ready, j);
        const ewma_decay_table& decay = set.decay_table();
        return b->peak_ewma_cost(now, decay) < a->peak_ewma_cost(now, decay) ? b : a;
    }
};

static_assert(excluding_strategy<p2c_peak_ewma>);

} // namespace bulwark
