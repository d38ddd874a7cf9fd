#pragma once
/// \file
/// `weighted_round_robin`: nginx's smooth weighted round robin (`ngx_http_upstream_round_robin.c`,
/// `ngx_http_upstream_get_peer`): weights 5/1/1 give `a a b a c a a`, spreading the heavy
/// endpoint instead of sending it bursts.

#include <bulwark/balance/strategy.hpp>
#include <bulwark/detail/validate.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <queue>
#include <span>
#include <utility>
#include <vector>

namespace bulwark {

/// Settings of `weighted_round_robin`.
struct weighted_round_robin_options {
    /// Longest precomputed sequence; weight sums above it (after dividing by their gcd) are
    /// scaled down proportionally, so shares stay within 1 / max_sequence of the weights. In
    /// [1, 2^24] (the table is this many pointers; every endpoint keeps at least one entry, so
    /// more endpoints than this make the table one entry each).
    std::uint32_t max_sequence = 1u << 16;
};

/// Smooth weighted round robin with nginx's exact sequence.
///
/// nginx runs its algorithm under a lock on every pick (each peer: `current += weight`; take the
/// largest `current`; subtract the total from it). The sequence is periodic with period
/// `Σ weight / gcd`, so this strategy runs the same algorithm once per snapshot into a table and
/// a pick is a table read at a rotating index: O(1), lock-free, same order.
///
/// **Failure semantics:** `max_sequence` outside [1, 2^24] throws `invalid_argument_error`.
/// **Thread safety:** as `round_robin`. **Allocation:** none per pick; the table is built once
/// per registry snapshot. **Complexity:** O(1) per pick; per snapshot O(n · period) up to
/// `exact_budget` steps, else O(period · log n) (see `exact_budget`).
class weighted_round_robin {
public:
    weighted_round_robin() = default;
    explicit weighted_round_robin(weighted_round_robin_options o)
        : opts_(o) {
        detail::require(opts_.max_sequence >= 1 && opts_.max_sequence <= max_sequence_limit,
                        "weighted_round_robin", "max_sequence", "in [1, 2^24]", opts_.max_sequence);
    }

    /// The largest `max_sequence` (16 M entries, 128 MB of table).
    static constexpr std::uint32_t max_sequence_limit = 1u << 24;

    const endpoint* pick(const endpoint_set& set, const context&, time_point) {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        const auto& seq = set.derived<std::vector<const endpoint*>>(
            id_.value, [this](const endpoint_set& s) { return build(s, opts_.max_sequence); });
        return seq[cursor_.next(seq.size())];
    }
    /// The next entry of the sequence whose endpoint `x` does not exclude (the cursor steps over
    /// the others, so the rest keep their relative shares).
    const endpoint* pick(const endpoint_set& set, const context&, time_point, const exclusion& x) {
        if (set.ready().empty())
            return nullptr;
        const auto& seq = set.derived<std::vector<const endpoint*>>(
            id_.value, [this](const endpoint_set& s) { return build(s, opts_.max_sequence); });
        const std::size_t n = seq.size();
        for (std::size_t k = 0; k < n; ++k) // the cursor steps over excluded entries
            if (const endpoint* e = seq[cursor_.next(n)]; !x.excludes(e))
                return e;
        for (const endpoint* e : seq) // racing callers moved the cursor meanwhile
            if (!x.excludes(e))
                return e;
        return nullptr;
    }

    /// nginx's smooth sequence for the ready endpoints of `set` (one period).
    static std::vector<const endpoint*> build(const endpoint_set& set, std::uint32_t max_sequence) {
        const auto ready = set.ready();
        std::vector<std::uint64_t> w(ready.size());
        std::uint64_t g = 0, total = 0;
        for (std::size_t i = 0; i < ready.size(); ++i) {
            w[i] = ready[i]->weight();
            g = std::gcd(g, w[i]);
        }
        for (auto& x : w)
            total += (x /= g);
        if (total > max_sequence) { // scale down, keeping every endpoint in the rotation
            const double f = static_cast<double>(max_sequence) / static_cast<double>(total);
            total = 0;
            for (auto& x : w)
                total +=
                    (x = std::max<std::uint64_t>(
                         1, static_cast<std::uint64_t>(std::llround(static_cast<double>(x) * f))));
        }
        std::vector<const endpoint*> seq;
        seq.reserve(total);
        if (ready.size() * total > exact_budget) // nginx's O(n) step would stall this pick
            return stride_sequence(ready, w, total, std::move(seq));
        std::vector<std::int64_t> current(ready.size(), 0);
        for (std::uint64_t k = 0; k < total; ++k) {
            std::size_t best = 0;
            for (std::size_t i = 0; i < ready.size(); ++i) {
                current[i] += static_cast<std::int64_t>(w[i]);
                if (current[i] > current[best])
                    best = i;
            }
            current[best] -= static_cast<std::int64_t>(total);
            seq.push_back(ready[best]);
        }
        return seq;
    }

    /// Above this many steps (endpoints × period), the table is built by stride scheduling
    /// (earliest virtual finish time first, O(period · log n)) instead of nginx's O(n) step:
    /// just as smooth and with the same shares, but not nginx's exact order.
    static constexpr std::uint64_t exact_budget = 1u << 22;

private:
    static std::vector<const endpoint*> stride_sequence(std::span<const endpoint* const> ready,
                                                        const std::vector<std::uint64_t>& w,
                                                        std::uint64_t total,
                                                        std::vector<const endpoint*> seq) {
        // Endpoint i runs at virtual times (k + 1/2) · total / w_i; take them in time order.
        using entry = std::pair<double, std::size_t>;
        std::priority_queue<entry, std::vector<entry>, std::greater<>> next;
        std::vector<std::uint64_t> taken(ready.size(), 0);
        for (std::size_t i = 0; i < ready.size(); ++i)
            next.emplace(0.5 / static_cast<double>(w[i]), i);
        while (seq.size() < total) {
            const auto [t, i] = next.top();
            next.pop();
            seq.push_back(ready[i]);
            if (++taken[i] < w[i])
                next.emplace((static_cast<double>(taken[i]) + 0.5) / static_cast<double>(w[i]), i);
        }
        return seq;
    }

    weighted_round_robin_options opts_{};
    strategy_id id_{};
    rotating_cursor cursor_;
};

static_assert(excluding_strategy<weighted_round_robin>);

} // namespace bulwark
