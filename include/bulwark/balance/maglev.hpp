#pragma once
/// \file
/// `maglev`: Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4; Envoy `MAGLEV`):
/// a lookup table filled from each endpoint's permutation, for an O(1) pick with minimal
/// disruption when endpoints come and go.

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/detail/validate.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace bulwark {

/// Settings of `maglev` (default: the paper's and Envoy's table size).
struct maglev_options {
    /// Table size M: a prime, well above the number of endpoints (the paper suggests M ≫ 100·n),
    /// at most `maglev::max_table_size` (2^26: the table is M entries of 1 to 4 bytes, at most
    /// 256 MB there, and its build needs 4·M bytes of scratch).
    std::uint32_t table_size = 65537;
};

/// Routes a key (`ctx.hash_key()`, random when absent) to `table[slot]`, where `slot` is the
/// key's 64-bit hash reduced to [0, M) by multiply-shift (`⌊(h >> 32) · M / 2^32⌋`: the paper's
/// `hash mod M` without a division; each slot gets an equal share of keys, ±1 in 2^32/M, so the
/// table's slot shares are the key shares).
///
/// Population (the paper's Pseudocode 1): endpoint i has `offset = h1(address) mod M` and
/// `skip = h2(address) mod (M − 1) + 1`, its permutation is `(offset + j·skip) mod M`; endpoints
/// take turns claiming their next free preferred slot until the table is full. Weights follow
/// Envoy's weighted variant: in each round an endpoint takes a turn only as its accumulated
/// `weight / max weight` credit reaches one, so slot shares follow weights. On a retry, the
/// next slots are probed for an endpoint not tried yet.
///
/// **Failure semantics:** a table size that is not a prime in [3, 2^26] throws
/// `invalid_argument_error`; with more ready endpoints than slots, only the first M get slots;
/// an endpoint whose weight is below `max weight / M` may get no slot (its share rounds to 0).
/// **Thread safety:** lock-free. **Allocation:** none per pick; the table (M entries of 1, 2 or 4
/// bytes) is built once per snapshot. **Complexity:** O(1) per pick; O(M log M) expected per
/// snapshot.
class maglev {
public:
    maglev() = default;
    explicit maglev(maglev_options o)
        : opts_(o) {
        detail::require(is_prime(opts_.table_size), "maglev", "table_size",
                        "a prime >= 3 (e.g. 65537)", opts_.table_size);
        detail::require(opts_.table_size <= max_table_size, "maglev", "table_size",
                        "<= 2^26 (67108864)", opts_.table_size);
    }

    /// The largest table size (Envoy caps it lower, at 5000011).
    static constexpr std::uint32_t max_table_size = 1u << 26;

    /// The lookup table of one snapshot: slot → index into the snapshot's ready endpoints, in
    /// the narrowest of 1, 2 or 4 bytes that holds every index (the default 65 537 slots are
    /// 64 KiB up to 256 endpoints and 128 KiB up to 65 536, where a table of pointers would be
    /// 512 KiB: a pick's random slot then mostly hits the L1/L2 cache instead of missing it).
    /// Every width is read the same way, with no branch: a 4-byte load at `slot << shift`,
    /// masked to the entry (the table keeps 3 bytes of padding after the last entry). Valid as
    /// long as the snapshot it was built from (`derived` frees it with it).
    ///
    /// The table of an empty ready set is one slot whose endpoint is null, so that a pick needs
    /// no emptiness test of its own.
    class table {
    public:
        /// `slots[s]` is the index in `ready` of slot s's endpoint (all of them `< ready.size()`;
        /// for an empty `ready`, `slots` is `{0}`).
        table(std::span<const endpoint* const> ready, const std::vector<std::uint32_t>& slots)
            : ready_(ready.empty() ? no_endpoint : ready.data())
            , size_(static_cast<std::uint32_t>(slots.size())) { // <= max_table_size
            const std::size_t width = ready.size() <= 0x100u ? 1 : ready.size() <= 0x10000u ? 2 : 4;
            shift_ = width == 1 ? 0u : width == 2 ? 1u : 2u;
            mask_ = width == 4 ? 0xffff'ffffu : (1u << (8 * width)) - 1u;
            bytes_.assign(slots.size() * width + (sizeof(std::uint32_t) - 1), 0);
            for (std::size_t s = 0; s < slots.size(); ++s)
                store(bytes_.data() + s * width, width, slots[s]);
            data_ = bytes_.data();
        }
        // Moving a vector keeps its buffer, so the cached data pointer stays valid.
        table(table&&) noexcept = default;
        table(const table&) = delete;
        table& operator=(const table&) = delete;
        table& operator=(table&&) = delete;

        /// The index into the snapshot's ready endpoints of `slot` (< `size()`).
        std::uint32_t index(std::uint32_t slot) const noexcept {
            std::uint32_t v;
            std::memcpy(&v, data_ + (static_cast<std::size_t>(slot) << shift_), sizeof v);
            if constexpr (std::endian::native == std::endian::big)
                v >>= 32u - (8u << shift_); // the entry is the loaded word's leading bytes
            return v & mask_;
        }
        /// The endpoint of `slot` (< `size()`).
        const endpoint* operator[](std::uint32_t slot) const noexcept {
            return ready_[index(slot)];
        }
        /// The endpoint of a 64-bit key hash: slot `(h >> 32) · M >> 32`, i.e. `⌊key · M / 2^32⌋`
        /// on the hash's top 32 bits (Lemire's multiply-shift, uniform like `mod M` without the
        /// division).
        std::uint32_t slot_of(std::uint64_t h) const noexcept {
            return detail::reduce(static_cast<std::uint32_t>(h >> 32), size_);
        }
        /// The number of slots (M).
        std::size_t size() const noexcept { return size_; }
        /// Bytes per entry: 1, 2 or 4.
        std::size_t index_width() const noexcept { return std::size_t{1} << shift_; }

        /// Iterates the slots' endpoints in slot order (as the table of pointers did).
        class iterator {
        public:
            using value_type = const endpoint*;
            using difference_type = std::ptrdiff_t;
            iterator() = default;
            iterator(const table* t, std::uint32_t slot) noexcept
                : t_(t)
                , slot_(slot) {}
            const endpoint* operator*() const noexcept { return (*t_)[slot_]; }
            iterator& operator++() noexcept {
                ++slot_;
                return *this;
            }
            iterator operator++(int) noexcept {
                iterator old = *this;
                ++slot_;
                return old;
            }
            bool operator==(const iterator& o) const noexcept { return slot_ == o.slot_; }

        private:
            const table* t_ = nullptr;
            std::uint32_t slot_ = 0;
        };
        iterator begin() const noexcept { return {this, 0}; }
        iterator end() const noexcept { return {this, size_}; }

    private:
        static void store(unsigned char* at, std::size_t width, std::uint32_t v) noexcept {
            if (width == 1) {
                *at = static_cast<unsigned char>(v);
            } else if (width == 2) {
                const auto w = static_cast<std::uint16_t>(v);
                std::memcpy(at, &w, sizeof w);
            } else {
                std::memcpy(at, &v, sizeof v);
            }
        }

        static constexpr const endpoint* no_endpoint[1] = {nullptr};

        // The pick reads these five (with the derived-table node's key, one cache line).
        const endpoint* const* ready_;
        const unsigned char* data_ = nullptr;
        std::uint32_t size_;
        std::uint32_t shift_ = 0;
        std::uint32_t mask_ = 0;
        std::vector<unsigned char> bytes_;
    };

    /// The endpoint of `ctx`'s key. **Cost:** the key's hash, one table entry, one endpoint
    /// pointer; a call without a key or a retry takes the out-of-line path.
    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point) {
        const table& t = table_of(set); // an empty set's table picks null
        // The flag and the value are read apart: copying the optional whole would be one
        // 16-byte load over the caller's two fresh stores, which the CPU cannot forward (a
        // stall of ~15 cycles, measured: 17 ns instead of 3 per pick).
        if (!ctx.hash_key().has_value() || ctx.tried_count() != 0) [[unlikely]]
            return pick_other(t, ctx);
        return t[t.slot_of(detail::mix64(*ctx.hash_key()))];
    }
    /// The key's slot, or the next slots in order, up to one whose endpoint `x` does not
    /// exclude; null when it excludes every endpoint of the table.
    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point,
                         const exclusion& x) {
        if (set.ready().empty())
            return nullptr;
        const table& t = table_of(set);
        std::uint32_t slot = t.slot_of(hash_of(ctx));
        for (std::size_t k = 0; k < t.size(); ++k) {
            if (!x.excludes(t[slot]))
                return t[slot];
            if (++slot == t.size())
                slot = 0;
        }
        return nullptr;
    }

    /// The lookup table for the ready endpoints of `set`.
    table build(const endpoint_set& set) const {
        const std::uint64_t m = opts_.table_size;
        auto ready = set.ready();
        if (ready.empty())
            return table{ready, std::vector<std::uint32_t>(1, 0)};
        if (ready.size() > m)
            ready = ready.first(m);
        const std::size_t n = ready.size();
        std::vector<std::uint64_t> offset(n), skip(n), next(n, 0);
        std::vector<double> credit(n, 0.0);
        double heaviest = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t h = detail::fnv1a64(ready[i]->address());
            offset[i] = detail::mix64(h) % m;
            skip[i] = detail::mix64(h ^ 0x5bd1e9955bd1e995ULL) % (m - 1) + 1;
            heaviest = std::max(heaviest, static_cast<double>(ready[i]->weight()));
        }
        constexpr std::uint32_t free_slot = 0xffff'ffffu;
        std::vector<std::uint32_t> t(m, free_slot);
        std::uint64_t filled = 0;
        while (filled < m) {
            for (std::size_t i = 0; i < n && filled < m; ++i) {
                credit[i] += ready[i]->weight() / heaviest;
                if (credit[i] < 1.0)
                    continue;
                credit[i] -= 1.0;
                std::uint64_t c = (offset[i] + next[i] * skip[i]) % m;
                while (t[c] != free_slot)
                    c = (offset[i] + ++next[i] * skip[i]) % m;
                t[c] = static_cast<std::uint32_t>(i); // i < m <= 2^26
                ++next[i];
                ++filled;
            }
        }
        return table{ready, t};
    }

    const maglev_options& options() const noexcept { return opts_; }

private:
    const table& table_of(const endpoint_set& set) const {
        return set.derived<table>(id_.value, [this](const endpoint_set& s) { return build(s); });
    }
    static std::uint64_t hash_of(const context& ctx) noexcept {
        return ctx.hash_key() ? detail::mix64(*ctx.hash_key()) : detail::thread_random();
    }
    // No key (a random slot) or a retry (walk on from the key's slot to an untried endpoint).
    [[gnu::noinline]] static const endpoint* pick_other(const table& t, const context& ctx) {
        if (t[0] == nullptr)
            return nullptr; // an empty set (every slot of another table is an endpoint)
        std::uint32_t slot = t.slot_of(hash_of(ctx));
        if (ctx.tried_count() == 0)
            return t[slot];
        for (std::size_t k = 0; k < t.size(); ++k) {
            if (!ctx.was_tried(t[slot]))
                return t[slot];
            if (++slot == t.size())
                slot = 0;
        }
        return t[slot];
    }

    static constexpr bool is_prime(std::uint32_t x) noexcept {
        if (x < 3 || x % 2 == 0)
            return false;
        for (std::uint32_t d = 3; static_cast<std::uint64_t>(d) * d <= x; d += 2)
            if (x % d == 0)
                return false;
        return true;
    }

    maglev_options opts_{};
    strategy_id id_{};
};

static_assert(excluding_strategy<maglev>);

} // namespace bulwark
