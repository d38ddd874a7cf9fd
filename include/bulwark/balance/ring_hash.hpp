#pragma once
/// \file
/// `ring_hash`: consistent hashing on a ring (Ketama, Envoy `RING_HASH`), with weight-
/// proportional virtual nodes and optional bounded load (Mirrokni et al., "Consistent Hashing
/// with Bounded Loads"; Envoy `hash_balance_factor`).

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/detail/validate.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace bulwark {

/// Settings of `ring_hash` (defaults: Envoy's).
struct ring_hash_options {
    /// Fewest ring entries (Envoy `minimum_ring_size`, 1024); more entries spread keys better.
    std::uint64_t min_ring_size = 1024;
    /// Most ring entries (Envoy `maximum_ring_size`, 8 M); at most 2^31 (the bucket index holds
    /// 32-bit positions; 2^31 entries already take 32 GB). Weights whose sum exceeds it are
    /// scaled down so the ring stays within it, every endpoint keeping at least one entry (the
    /// one exception: more ready endpoints than `max_ring_size` get one entry each).
    std::uint64_t max_ring_size = 8u << 20;
    /// Bounded load: no endpoint takes more than `balance_factor × average` requests in flight
    /// (a key walks on to the next endpoint with room). 0 = off; otherwise > 1 (Envoy 1.5 = 150);
    /// a huge factor is as good as off (the capacity saturates at the largest count).
    double balance_factor = 0.0;
};

/// Routes a key (`ctx.hash_key()`, random when absent) to the first ring entry at or after its
/// hash. Removing one of n endpoints moves only its ~1/n share of keys. On a retry the walk
/// continues clockwise to the next endpoint not tried yet, so the fallback is consistent too.
///
/// **Failure semantics:** bad options throw `invalid_argument_error`.
/// **Thread safety:** lock-free. **Allocation:** none per pick; the ring is built once per
/// snapshot. **Complexity:** O(1) expected per pick (bucket index); bounded load adds an O(n) sum
/// of loads.
class ring_hash {
public:
    ring_hash() = default;
    explicit ring_hash(ring_hash_options o)
        : opts_(o) {
        detail::require(opts_.min_ring_size >= 1, "ring_hash", "min_ring_size", ">= 1",
                        opts_.min_ring_size);
        detail::require(opts_.max_ring_size >= opts_.min_ring_size, "ring_hash", "max_ring_size",
                        ">= min_ring_size", opts_.max_ring_size);
        detail::require(opts_.max_ring_size <= max_ring_limit, "ring_hash", "max_ring_size",
                        "<= 2^31", opts_.max_ring_size);
        detail::require(opts_.balance_factor == 0.0 || opts_.balance_factor > 1.0, "ring_hash",
                        "balance_factor", "0 (off) or > 1", opts_.balance_factor);
    }

    /// The largest `max_ring_size`.
    static constexpr std::uint64_t max_ring_limit = std::uint64_t{1} << 31;

    /// The ring, with a bucket index over the top bits of the hash: a lookup starts at its
    /// bucket's first entry and steps about once, instead of a binary search.
    struct ring {
        std::vector<std::uint64_t> hashes; // sorted
        std::vector<const endpoint*> owners;
        std::vector<std::uint32_t> bucket; // first entry with hash >= bucket's start
        int shift = 63;

        std::size_t position(std::uint64_t h) const noexcept {
            std::size_t pos = bucket[h >> shift];
            while (pos < hashes.size() && hashes[pos] < h)
                ++pos;
            return pos == hashes.size() ? 0 : pos;
        }
    };

    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point) {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        const ring& r =
            set.derived<ring>(id_.value, [this](const endpoint_set& s) { return build(s); });
        const std::uint64_t h =
            ctx.hash_key() ? detail::mix64(*ctx.hash_key()) : detail::thread_random();
        std::size_t pos = r.position(h);
        const bool bounded = opts_.balance_factor != 0.0;
        if (!bounded && ctx.tried_count() == 0)
            return r.owners[pos];
        return walk(r, pos, ready, bounded, [&ctx](const endpoint* e) {
            return ctx.tried_count() != 0 && ctx.was_tried(e);
        });
    }
    /// Clockwise from the key's entry: the first endpoint `x` does not exclude (with bounded
    /// load, the first with room, else the first not excluded); null when all are excluded.
    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point,
                         const exclusion& x) {
        const auto ready = set.ready();
        if (ready.empty())
            return nullptr;
        const ring& r =
            set.derived<ring>(id_.value, [this](const endpoint_set& s) { return build(s); });
        const std::uint64_t h =
            ctx.hash_key() ? detail::mix64(*ctx.hash_key()) : detail::thread_random();
        const std::size_t pos = r.position(h);
        const auto skip = [&x](const endpoint* e) { return x.excludes(e); };
        const endpoint* e = walk(r, pos, ready, opts_.balance_factor != 0.0, skip);
        if (!skip(e))
            return e;
        return opts_.balance_factor != 0.0 ? walk(r, pos, ready, false, skip) : nullptr;
    }

    /// The ring for the ready endpoints of `set`: an endpoint of weight w owns the first `w × k`
    /// of its own sequence of virtual-node hashes, with k the smallest power of two that makes
    /// the ring at least `min_ring_size` (capped by `max_ring_size`). Because k moves only in
    /// powers of two, removing or adding an endpoint usually leaves every other endpoint's
    /// entries exactly as they were — only the removed one's keys move (Ketama's property,
    /// which normalizing to a fixed ring size, as Envoy does, loses).
    ///
    /// When the weights alone sum to more than `max_ring_size` (one weight of 2^32 − 1 would
    /// ask for 4 G entries, 64 GB), each endpoint gets `max(1, ⌊w × (max − n) / Σw⌋)` entries:
    /// shares follow the weights within one entry, and the ring stays within `max_ring_size`
    /// (n entries when there are more endpoints than that).
    ring build(const endpoint_set& set) const {
        const auto ready = set.ready();
        std::vector<std::uint64_t> counts = entry_counts(ready);
        std::uint64_t size = 0;
        for (const std::uint64_t c : counts)
            size += c;
        std::vector<std::pair<std::uint64_t, const endpoint*>> entries;
        entries.reserve(static_cast<std::size_t>(size));
        for (std::size_t i = 0; i < ready.size(); ++i) {
            const endpoint* e = ready[i];
            const std::uint64_t count = counts[i];
            const std::uint64_t base = detail::fnv1a64(e->address());
            for (std::uint64_t k = 0; k < count; ++k)
                entries.emplace_back(detail::mix64(base ^ detail::mix64(k)), e);
        }
        std::sort(entries.begin(), entries.end());
        ring r;
        r.hashes.reserve(entries.size());
        r.owners.reserve(entries.size());
        for (const auto& [hash, e] : entries) {
            r.hashes.push_back(hash);
            r.owners.push_back(e);
        }
        const std::uint64_t buckets = std::max<std::uint64_t>(2, std::bit_ceil(r.hashes.size()));
        r.shift = 64 - std::countr_zero(buckets);
        r.bucket.resize(buckets);
        std::size_t pos = 0;
        for (std::uint64_t b = 0; b < buckets; ++b) {
            while (pos < r.hashes.size() && (r.hashes[pos] >> r.shift) < b)
                ++pos;
            r.bucket[b] = static_cast<std::uint32_t>(pos);
        }
        return r;
    }

    /// How many ring entries each ready endpoint gets (see `build`).
    std::vector<std::uint64_t> entry_counts(std::span<const endpoint* const> ready) const {
        std::uint64_t total = 0; // ≤ n × 2^32: no overflow
        for (const endpoint* e : ready)
            total += e->weight();
        std::vector<std::uint64_t> counts(ready.size(), 1);
        if (total == 0)
            return counts;
        const std::uint64_t n = ready.size();
        if (total > opts_.max_ring_size) {
            if (n >= opts_.max_ring_size)
                return counts; // one each: the least that keeps every endpoint reachable
            // Σ ⌊w·b/Σw⌋ ≤ b, and the max(1, ·) adds at most n: the ring stays ≤ max_ring_size.
            const auto budget = static_cast<double>(opts_.max_ring_size - n);
            for (std::size_t i = 0; i < ready.size(); ++i) {
                const double share =
                    static_cast<double>(ready[i]->weight()) * budget / static_cast<double>(total);
                counts[i] = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(share));
            }
            return counts;
        }
        // k·total stays below 2 × max_ring_size ≤ 2^32 in this loop: no overflow.
        std::uint64_t k = 1;
        while (k * total < opts_.min_ring_size)
            k *= 2;
        if (k * total > opts_.max_ring_size)
            k = std::max<std::uint64_t>(1, opts_.max_ring_size / total);
        for (std::size_t i = 0; i < ready.size(); ++i)
            counts[i] = k * ready[i]->weight();
        return counts;
    }

    const ring_hash_options& options() const noexcept { return opts_; }

private:
    // Clockwise from `pos`: the first endpoint not skipped and, with bounded load, with room;
    // when none fits, the key's own endpoint.
    template <class Skip>
    const endpoint* walk(const ring& r, std::size_t pos, std::span<const endpoint* const> ready,
                         bool bounded, Skip skip) const noexcept {
        std::uint64_t capacity = ~0ull;
        if (bounded) {
            std::uint64_t in_flight = 1; // this request
            for (const endpoint* e : ready)
                in_flight += e->outstanding();
            const double c = std::ceil(opts_.balance_factor * static_cast<double>(in_flight) /
                                       static_cast<double>(ready.size()));
            // A huge factor saturates (a double ≥ 2^64 does not convert to an integer).
            capacity = c < 18446744073709549568.0 ? static_cast<std::uint64_t>(c) : ~0ull;
        }
        const std::size_t size = r.owners.size();
        for (std::size_t k = 0; k < size; ++k) {
            const endpoint* e = r.owners[pos];
            if (!skip(e) && e->outstanding() + 1ull <= capacity)
                return e;
            if (++pos == size)
                pos = 0;
        }
        return r.owners[pos]; // nothing fits: the key's own endpoint
    }

    ring_hash_options opts_{};
    strategy_id id_{};
};

static_assert(excluding_strategy<ring_hash>);

} // namespace bulwark
