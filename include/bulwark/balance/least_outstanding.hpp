#pragma once
/// \file
/// `least_outstanding`: the ready endpoint with the fewest requests in flight per unit of
/// weight (a full scan: the exact answer that P2C approximates in O(1)).

#include <bulwark/balance/strategy.hpp>

#include <cstdint>

namespace bulwark {

/// Picks the ready endpoint with the lowest `(outstanding + 1) / weight` (Envoy's least-request
/// score with bias 1, over all endpoints instead of a sample). Ties go to the first one after a
/// rotating start, so equal endpoints share the load.
///
/// **Thread safety:** lock-free; counts are read relaxed, so racing callers can pick the same
/// endpoint. **Allocation:** none. **Complexity:** O(n) per pick — prefer `p2c_peak_ewma` for
/// large sets.
class least_outstanding {
public:
    const endpoint* pick(const endpoint_set& set, const context&, time_point) noexcept {
        const auto ready = set.ready();
        const std::size_t n = ready.size();
        if (n == 0)
            return nullptr;
        const std::size_t start = cursor_.next(n);
        const endpoint* best = ready[start];
        std::uint64_t best_load = best->outstanding() + 1ull, best_weight = best->weight();
        for (std::size_t k = 1; k < n; ++k) {
            std::size_t i = start + k;
            if (i >= n)
                i -= n;
            const endpoint* e = ready[i];
            const std::uint64_t load = e->outstanding() + 1ull, weight = e->weight();
            if (load * best_weight < best_load * weight) { // load/weight < best_load/best_weight
                best = e;
                best_load = load;
                best_weight = weight;
            }
        }
        return best;
    }

private:
    detail::cursor cursor_;
};

static_assert(balancing_strategy<least_outstanding>);

} // namespace bulwark
