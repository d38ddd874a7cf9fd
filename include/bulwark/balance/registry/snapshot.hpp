#pragma once
/// \file
/// Building a registry snapshot (cold): the ready set from the endpoints' health and the panic
/// threshold.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace bulwark::detail {

/// A snapshot of `owned`: ready = the healthy ones, or all of them when fewer than
/// `panic_threshold` of them are healthy (Envoy's panic mode).
inline std::unique_ptr<endpoint_set> make_snapshot(std::vector<std::shared_ptr<endpoint>> owned,
                                                   double panic_threshold, std::uint64_t version,
                                                   duration ewma_decay) {
    std::vector<const endpoint*> healthy;
    healthy.reserve(owned.size());
    for (const auto& e : owned)
        if (e->healthy())
            healthy.push_back(e.get());
    const bool panic = !owned.empty() && static_cast<double>(healthy.size()) <
                                             panic_threshold * static_cast<double>(owned.size());
    std::vector<const endpoint*> ready;
    if (panic) {
        ready.reserve(owned.size());
        for (const auto& e : owned)
            ready.push_back(e.get());
    } else {
        ready = std::move(healthy);
    }
    return std::make_unique<endpoint_set>(std::move(owned), std::move(ready), panic, version,
                                          ewma_decay);
}

} // namespace bulwark::detail
