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
        return scan(set.ready(), [](const endpoint*) { return false; });
    }
    /// The least loaded of the ready endpoints `x` does not exclude.
    const endpoint* pick(const endpoint_set& set, const context&, time_point,
                         const exclusion& x) noexcept {
        return scan(set.ready(), [&x](const endpoint* e) { return x.excludes(e); });
    }

private:
    template <class Skip>
    const endpoint* scan(std::span<const endpoint* const> ready, Skip skip) noexcept {
        const std::size_t n = ready.size();
        if (n == 0)
            return nullptr;
        const std::size_t start = cursor_.next(n);
        const endpoint* best = nullptr;
        std::uint64_t best_load = 0, best_weight = 1;
        for (std::size_t k = 0; k < n; ++k) {
            const endpoint* e = ready[start + k < n ? start + k : start + k - n];
            if (skip(e))
                continue;
            const std::uint64_t load = e->outstanding() + 1ull, weight = e->weight();
            // load/weight < best_load/best_weight (exact: both products fit in 64 bits)
            if (best == nullptr || load * best_weight < best_load * weight) {
                best = e;
                best_load = load;
                best_weight = weight;
            }
        }
        return best;
    }

    rotating_cursor cursor_;
};

static_assert(excluding_strategy<least_outstanding>);

} // namespace bulwark
