#pragma once
/// \file
/// `ring_hash`: consistent hashing on a ring (Ketama, Envoy `RING_HASH`), with weight-
/// proportional virtual nodes and optional bounded load (Mirrokni et al., "Consistent Hashing
/// with Bounded Loads"; Envoy `hash_balance_factor`).

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>

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
    /// Most ring entries (Envoy `maximum_ring_size`, 8 M).
    std::uint64_t max_ring_size = 8u << 20;
    /// Bounded load: no endpoint takes more than `balance_factor × average` requests in flight
    /// (a key walks on to the next endpoint with room). 0 = off; otherwise > 1 (Envoy 1.5 = 150).
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
        if (opts_.min_ring_size == 0 || opts_.max_ring_size < opts_.min_ring_size)
            throw invalid_argument_error(
                "ring_hash_options: need 0 < min_ring_size <= max_ring_size");
        if (opts_.balance_factor != 0.0 && !(opts_.balance_factor > 1.0))
            throw invalid_argument_error(
                "ring_hash_options: balance_factor must be 0 (off) or > 1");
    }

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
        return walk(r, pos, ready, ctx, bounded);
    }

    /// The ring for the ready endpoints of `set`: an endpoint of weight w owns the first `w × k`
    /// of its own sequence of virtual-node hashes, with k the smallest power of two that makes
    /// the ring at least `min_ring_size` (capped by `max_ring_size`). Because k moves only in
    /// powers of two, removing or adding an endpoint usually leaves every other endpoint's
    /// entries exactly as they were — only the removed one's keys move (Ketama's property,
    /// which normalizing to a fixed ring size, as Envoy does, loses).
    ring build(const endpoint_set& set) const {
        const auto ready = set.ready();
        std::uint64_t total = 0;
        for (const endpoint* e : ready)
            total += e->weight();
        std::uint64_t k = 1;
        while (k * total < opts_.min_ring_size)
            k *= 2;
        if (k * total > opts_.max_ring_size)
            k = std::max<std::uint64_t>(1, opts_.max_ring_size / total);
        std::vector<std::pair<std::uint64_t, const endpoint*>> entries;
        entries.reserve(static_cast<std::size_t>(k * total));
        for (const endpoint* e : ready) {
            const std::uint64_t count = k * e->weight();
            const std::uint64_t base = detail::fnv1a(e->address());
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

    const ring_hash_options& options() const noexcept { return opts_; }

private:
    // Clockwise from `pos`: the first endpoint not tried and, with bounded load, with room.
    const endpoint* walk(const ring& r, std::size_t pos, std::span<const endpoint* const> ready,
                         const context& ctx, bool bounded) const noexcept {
        std::uint64_t capacity = ~0ull;
        if (bounded) {
            std::uint64_t in_flight = 1; // this request
            for (const endpoint* e : ready)
                in_flight += e->outstanding();
            capacity = static_cast<std::uint64_t>(
                std::ceil(opts_.balance_factor * static_cast<double>(in_flight) /
                          static_cast<double>(ready.size())));
        }
        const std::size_t size = r.owners.size();
        for (std::size_t k = 0; k < size; ++k) {
            const endpoint* e = r.owners[pos];
            if (!(ctx.tried_count() != 0 && ctx.was_tried(e)) &&
                e->outstanding() + 1ull <= capacity)
                return e;
            if (++pos == size)
                pos = 0;
        }
        return r.owners[pos]; // nothing fits: the key's own endpoint
    }

    ring_hash_options opts_{};
    detail::strategy_id id_{};
};

static_assert(balancing_strategy<ring_hash>);

} // namespace bulwark
