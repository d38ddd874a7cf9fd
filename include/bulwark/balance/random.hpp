#pragma once
/// \file
/// `random`: a random ready endpoint, in proportion to its weight (Envoy `RANDOM`, weighted).

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>

#include <cstdint>
#include <vector>

namespace bulwark {

/// Picks a ready endpoint at random, with probability `weight / Σ weight`.
///
/// Equal weights take one random number and a multiply-shift; unequal weights use Vose's alias
/// table (built once per snapshot): one random number, one table read, O(1) whatever the count.
///
/// **Thread safety:** lock-free; each thread has its own generator. **Allocation:** none per
/// pick. **Complexity:** O(1) per pick; O(n) per snapshot.
class random {
public:
    const endpoint* pick(const endpoint_set& set, const context&, time_point) {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        const auto& t =
            set.derived<alias_table>(id_.value, [](const endpoint_set& s) { return build(s); });
        const std::uint64_t r = detail::thread_random();
        const std::uint32_t i = detail::reduce(static_cast<std::uint32_t>(r >> 32),
                                               static_cast<std::uint32_t>(ready.size()));
        if (t.uniform)
            return ready[i];
        // Low 32 bits: the coin of the alias method.
        return static_cast<std::uint32_t>(r) < t.threshold[i] ? ready[i] : ready[t.alias[i]];
    }
    /// A ready endpoint `x` does not exclude, with probability `weight / Σ weight of the rest`
    /// (a scan: O(n)).
    const endpoint* pick(const endpoint_set& set, const context&, time_point,
                         const exclusion& x) noexcept {
        const auto ready = set.ready();
        std::uint64_t total = 0; // ≤ n × 2^32: no overflow below 2^32 endpoints
        for (const endpoint* e : ready)
            total += x.excludes(e) ? 0 : e->weight();
        if (total == 0)
            return nullptr;
        // total < 2^64 / 2^20 for any realistic set: the modulo's bias is below 2^-20.
        std::uint64_t r = detail::thread_random() % total;
        for (const endpoint* e : ready) {
            if (x.excludes(e))
                continue;
            if (r < e->weight())
                return e;
            r -= e->weight();
        }
        return nullptr; // not reached
    }

    /// Vose's alias method: column i keeps itself with probability threshold[i] / 2^32,
    /// else gives way to alias[i].
    struct alias_table {
        bool uniform = true;
        std::vector<std::uint32_t> threshold;
        std::vector<std::uint32_t> alias;
    };
    static alias_table build(const endpoint_set& set) {
        const auto ready = set.ready();
        const std::size_t n = ready.size();
        alias_table t;
        double total = 0;
        for (const endpoint* e : ready) {
            total += e->weight();
            t.uniform = t.uniform && e->weight() == ready.front()->weight();
        }
        if (t.uniform)
            return t;
        std::vector<double> p(n);
        std::vector<std::uint32_t> small, large;
        for (std::size_t i = 0; i < n; ++i) {
            p[i] = ready[i]->weight() * static_cast<double>(n) / total;
            (p[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
        }
        t.threshold.assign(n, 0xffff'ffffu);
        t.alias.resize(n);
        for (std::size_t i = 0; i < n; ++i)
            t.alias[i] = static_cast<std::uint32_t>(i);
        while (!small.empty() && !large.empty()) {
            const std::uint32_t s = small.back(), l = large.back();
            small.pop_back();
            t.threshold[s] = static_cast<std::uint32_t>(p[s] * 4294967296.0);
            t.alias[s] = l;
            p[l] -= 1.0 - p[s];
            if (p[l] < 1.0) {
                large.pop_back();
                small.push_back(l);
            }
        }
        return t; // what is left (rounding) keeps itself: threshold stays at the maximum
    }

private:
    strategy_id id_{};
};

static_assert(excluding_strategy<random>);

} // namespace bulwark
