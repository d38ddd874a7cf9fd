#pragma once
/// \file
/// `round_robin`: each ready endpoint in turn (gRPC `round_robin`, Envoy `ROUND_ROBIN` with
/// equal weights).

#include <bulwark/balance/strategy.hpp>

namespace bulwark {

/// Picks the ready endpoints in turn, ignoring weights.
///
/// **Thread safety:** concurrent picks are safe; under a race two callers may get the same
/// endpoint (see `detail::cursor`). **Allocation:** none. **Complexity:** O(1).
class round_robin {
public:
    const endpoint* pick(const endpoint_set& set, const context&, time_point) noexcept {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        return ready[cursor_.next(ready.size())];
    }

private:
    detail::cursor cursor_;
};

static_assert(balancing_strategy<round_robin>);

} // namespace bulwark
