#pragma once
/// \file
/// Cold, composable queries over a registry's current snapshot with range-v3 (opt-in: the
/// registry and `balance` do not include this header, so they do not parse range-v3).
///
/// ```cpp
/// #include <bulwark/balance/registry/queries.hpp>
/// auto busy = bulwark::select(reg, [](const bulwark::endpoint& e) { return e.outstanding() > 8;
/// });
/// ```

#include <bulwark/balance/registry.hpp>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/transform.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace bulwark {

/// The endpoints of `reg`'s current snapshot for which `pred(const endpoint&)` holds, as owning
/// handles (valid after the snapshot is replaced). **Allocation:** the result.
template <class Pred>
std::vector<std::shared_ptr<const endpoint>> select(const registry& reg, Pred pred) {
    const registry::reader r = reg.read();
    return r->owners() | ranges::views::filter([&](const auto& e) { return pred(*e); }) |
           ranges::views::transform(
               [](const auto& e) { return std::shared_ptr<const endpoint>(e); }) |
           ranges::to<std::vector>();
}

/// The ready endpoints of `reg` (the ones balanced over now), as owning handles.
inline std::vector<std::shared_ptr<const endpoint>> ready_endpoints(const registry& reg) {
    const registry::reader r = reg.read();
    const auto ready = r->ready();
    return select(reg,
                  [&](const endpoint& e) { return std::ranges::find(ready, &e) != ready.end(); });
}

} // namespace bulwark
