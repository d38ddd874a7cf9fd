#pragma once
/// \file
/// `round_robin`: each ready endpoint in turn (gRPC `round_robin`, Envoy `ROUND_ROBIN` with
/// equal weights).

#include <bulwark/balance/strategy.hpp>

namespace bulwark {

/// Picks the ready endpoints in turn, ignoring weights.
///
/// **Thread safety:** concurrent picks are safe; under a race two callers may get the same
/// endpoint (see `rotating_cursor`). **Allocation:** none. **Complexity:** O(1).
class round_robin {
public:
    const endpoint* pick(const endpoint_set& set, const context&, time_point) noexcept {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        return ready[cursor_.next(ready.size())];
    }
    /// The next endpoint in the rotation that `x` does not exclude. The cursor steps over the
    /// excluded ones, so the rotation goes on evenly over the rest (a fixed scan from the
    /// cursor would hand the endpoint after an excluded run twice its share); if racing callers
    /// move the cursor meanwhile, a local scan still finds the last one left.
    const endpoint* pick(const endpoint_set& set, const context&, time_point,
                         const exclusion& x) noexcept {
        const auto ready = set.ready();
        const std::size_t n = ready.size();
        for (std::size_t k = 0; k < n; ++k)
            if (const endpoint* e = ready[cursor_.next(n)]; !x.excludes(e))
                return e;
        for (const endpoint* e : ready)
            if (!x.excludes(e))
                return e;
        return nullptr;
    }

private:
    rotating_cursor cursor_;
};

static_assert(excluding_strategy<round_robin>);

} // namespace bulwark
