#pragma once
/// \file
/// The membership step of a registry update (cold): validates a new endpoint list and matches it
/// against the current snapshot, keeping the objects (and statistics) of unchanged endpoints.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/detail/validate.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bulwark::detail {

/// Throws `invalid_argument_error` for an empty or duplicate address or a zero weight.
inline void validate_endpoints(std::span<const endpoint_info> infos) {
    std::unordered_set<std::string_view> seen;
    for (const endpoint_info& i : infos) {
        require(!i.address.empty(), "registry", "an endpoint's address", "non-empty", i.address);
        require(i.weight >= 1, "registry", "the weight of '" + i.address + "'", ">= 1", i.weight);
        require(seen.insert(i.address).second, "registry", "each address", "unique", i.address);
    }
}

/// The endpoints of the next snapshot, and those of `current` it drops.
struct membership {
    std::vector<std::shared_ptr<endpoint>> next;
    std::vector<std::shared_ptr<endpoint>> removed;
};

/// Matches `infos` (validated) against `current`: an endpoint whose description is unchanged
/// keeps its object (as Envoy keeps hosts across EDS updates); others are new.
inline membership match_endpoints(const endpoint_set& current,
                                  std::span<const endpoint_info> infos) {
    membership m;
    m.next.reserve(infos.size());
    std::unordered_map<std::string_view, const std::shared_ptr<endpoint>*> by_address;
    for (const auto& e : current.owners())
        by_address.emplace(e->address(), &e);
    std::unordered_set<const endpoint*> kept;
    for (const endpoint_info& i : infos) {
        auto same = by_address.find(i.address);
        if (same != by_address.end() && (*same->second)->info() == i) {
            m.next.push_back(*same->second);
            kept.insert(same->second->get());
        } else {
            m.next.push_back(std::make_shared<endpoint>(i));
        }
    }
    for (const auto& e : current.owners())
        if (!kept.contains(e.get()))
            m.removed.push_back(e);
    return m;
}

} // namespace bulwark::detail
