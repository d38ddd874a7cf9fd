#pragma once
/// \file
/// Per-endpoint circuit breakers for `balance` (Finagle's FailureAccrual, Polly's breakers per
/// authority): the concept of a breaker set keyed by endpoint address, the "no breakers" marker,
/// and the lookup from a registry snapshot's endpoints to their breakers.
///
/// ```cpp
/// bulwark::breaker_set<std::string> breakers{bulwark::circuit_breaker_options{...}};
/// bulwark::balance_with_breakers<bulwark::p2c_peak_ewma> lb{registry, breakers};
/// ```

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/policy/breaker_set.hpp>

#include <algorithm>
#include <concepts>
#include <string>
#include <utility>
#include <vector>

namespace bulwark {

/// The `Breakers` argument of a `balance` without per-endpoint breakers (the default): empty,
/// so `balance<S>` stays one pointer and its call path has no breaker code at all.
struct no_endpoint_breakers {};

/// A set of breakers the balancer can key by endpoint address: `set.get(address)` returns a
/// reference that stays valid for the set's lifetime (`breaker_set<std::string, B>`).
template <class S>
concept endpoint_breaker_set = requires(S& s, const std::string& address) {
    typename S::breaker_type;
    { s.get(address) } -> std::same_as<typename S::breaker_type&>;
};

namespace detail {

/// The breakers of a snapshot's endpoints, sorted by endpoint address in memory.
template <class Breaker>
struct breaker_table {
    std::vector<std::pair<const endpoint*, Breaker*>> rows;

    Breaker* find(const endpoint* e) const noexcept {
        auto it =
            std::ranges::lower_bound(rows, e, {}, &std::pair<const endpoint*, Breaker*>::first);
        return it != rows.end() && it->first == e ? it->second : nullptr;
    }
};

} // namespace detail

/// The breaker of each endpoint of a registry snapshot, in a set keyed by address: what a
/// `balance` with per-endpoint breakers keeps. The table lives in the snapshot
/// (`endpoint_set::derived`), so it never outlives or lags its snapshot, and a breaker — keyed
/// by address — survives registry updates.
///
/// **Thread safety:** thread-safe. **Allocation:** once per snapshot (the table, and the
/// breakers of new addresses); none per lookup. **Complexity:** a binary search per lookup.
template <endpoint_breaker_set Set>
class endpoint_breakers {
public:
    using breaker_type = typename Set::breaker_type;

    explicit endpoint_breakers(Set& set) noexcept
        : set_(&set) {}

    /// The breaker of `e`, an endpoint of `snapshot`. Cold once per snapshot: builds the table
    /// (looks up, and maybe makes, every endpoint's breaker: a lock and allocations).
    breaker_type& of(const endpoint_set& snapshot, const endpoint* e) const {
        const auto& table = snapshot.derived<detail::breaker_table<breaker_type>>(
            id_.value, [this](const endpoint_set& s) {
                detail::breaker_table<breaker_type> t;
                t.rows.reserve(s.all().size());
                for (const endpoint* x : s.all())
                    t.rows.emplace_back(x, &set_->get(x->address()));
                std::ranges::sort(t.rows, {}, &std::pair<const endpoint*, breaker_type*>::first);
                return t;
            });
        if (breaker_type* b = table.find(e)) [[likely]]
            return *b;
        return set_->get(e->address()); // not in this snapshot (cannot happen for a pick)
    }

    /// The set.
    Set& set() const noexcept { return *set_; }

private:
    Set* set_;
    strategy_id id_{};
};

} // namespace bulwark
