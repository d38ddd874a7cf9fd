#pragma once
// Shared helpers of the balance tests.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/registry.hpp>

#include <map>
#include <string>
#include <vector>

namespace balance_test {

/// n endpoints "e0".."e{n-1}" with the given weights (1 when absent).
inline std::vector<bulwark::endpoint_info> endpoints(std::size_t n,
                                                     std::vector<std::uint32_t> w = {}) {
    std::vector<bulwark::endpoint_info> v;
    for (std::size_t i = 0; i < n; ++i)
        v.push_back({.address = "e" + std::to_string(i),
                     .weight = i < w.size() ? w[i] : 1u,
                     .zone = i % 2 == 0 ? "east" : "west"});
    return v;
}

/// Calls `pick(set)` n times and counts picks by address.
template <class Strategy>
std::map<std::string, int> count_picks(bulwark::registry& reg, Strategy& s, int n,
                                       bulwark::time_point now = {}) {
    std::map<std::string, int> counts;
    bulwark::context ctx;
    auto r = reg.read();
    for (int i = 0; i < n; ++i)
        ++counts[s.pick(r.set(), ctx, now)->address()];
    return counts;
}

/// A discovery source driven by the test.
struct fake_discovery {
    bulwark::discovery_callback cb;
    void subscribe(bulwark::discovery_callback c) { cb = std::move(c); }
    void push(const std::vector<bulwark::endpoint_info>& v) { cb(v); }
};

} // namespace balance_test
