#pragma once
/// \file
/// The per-endpoint breaker lookup of `balance` (internal): a table from endpoint to its
/// breaker in a `breaker_set` keyed by address, built once per registry snapshot.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/time.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace bulwark {

/// The `Breakers` argument of a `balance` without per-endpoint breakers (the default): empty.
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

/// What `balance` keeps for its per-endpoint breakers: the set and the key of its table in each
/// snapshot (`endpoint_set::derived`, so a table never outlives or lags its snapshot, and a
/// breaker — keyed by address — survives registry updates).
template <class Set>
class endpoint_breakers {
public:
    using breaker_type = typename Set::breaker_type;

    explicit endpoint_breakers(Set& set) noexcept
        : set_(&set) {}

    /// The breaker of `e`, an endpoint of `snapshot`. Cold once per snapshot: builds the table
    /// (looks up, and maybe makes, every endpoint's breaker: a lock and allocations).
    breaker_type& of(const endpoint_set& snapshot, const endpoint* e) const {
        const auto& table =
            snapshot.derived<breaker_table<breaker_type>>(id_.value, [this](const endpoint_set& s) {
                breaker_table<breaker_type> t;
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

    Set& set() const noexcept { return *set_; }

private:
    Set* set_;
    strategy_id id_{};
};

/// What one call remembers while the breakers of its picks reject (cold path): the endpoints
/// rejected so far, the smallest known `retry_after`, and where the fallback sweep stands.
struct breaker_rejections {
    static constexpr std::size_t remembered = context::tried_capacity;

    std::array<const endpoint*, remembered> rejected{};
    std::size_t count = 0;  // rejections so far in this call
    std::size_t sweep = 0;  // next index of the fallback sweep over the ready endpoints
    bool sweeping = false;  // the strategy offered a rejected endpoint: sweep in order
    duration retry_after{}; // the smallest positive retry_after seen (0: none known)

    bool was_rejected(const endpoint* e) const noexcept {
        const std::size_t n = std::min(count, remembered);
        return std::find(rejected.begin(), rejected.begin() + static_cast<std::ptrdiff_t>(n), e) !=
               rejected.begin() + static_cast<std::ptrdiff_t>(n);
    }
    void add(const endpoint* e, duration after) noexcept {
        if (count < remembered)
            rejected[count] = e;
        ++count;
        if (after > duration::zero() && (retry_after == duration::zero() || after < retry_after))
            retry_after = after;
    }
};

} // namespace detail
} // namespace bulwark
