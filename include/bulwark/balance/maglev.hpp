#pragma once
/// \file
/// `maglev`: Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4; Envoy `MAGLEV`):
/// a lookup table filled from each endpoint's permutation, for an O(1) pick with minimal
/// disruption when endpoints come and go.

#include <bulwark/balance/detail/random.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/detail/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace bulwark {

/// Settings of `maglev` (default: the paper's and Envoy's table size).
struct maglev_options {
    /// Table size M: a prime, well above the number of endpoints (the paper suggests M ≫ 100·n),
    /// at most `maglev::max_table_size` (2^26: the table is M pointers, 512 MB there).
    std::uint32_t table_size = 65537;
};

/// Routes a key (`ctx.hash_key()`, random when absent) to `table[key mod M]`.
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
/// **Thread safety:** lock-free. **Allocation:** none per pick; the table (M pointers) is built
/// once per snapshot. **Complexity:** O(1) per pick; O(M log M) expected per snapshot.
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

    /// The lookup table of one snapshot: slot → index into the snapshot's ready endpoints,
    /// 16-bit while the endpoints fit (the default 65537 slots are then 128 KiB, which stays in
    /// a core's L2 cache; a table of pointers is 512 KiB and a pick's random slot misses it),
    /// else 32-bit. Valid as long as the snapshot it was built from (`derived` frees it with it).
    class table {
    public:
        table(std::span<const endpoint* const> ready, const std::vector<std::uint32_t>& slots)
            : ready_(ready.data()) {
            if (ready.size() <= 0xffffu) {
                narrow_.reserve(slots.size());
                for (const std::uint32_t i : slots) // every index < 2^16 here
                    narrow_.push_back(static_cast<std::uint16_t>(i));
                n_ = narrow_.data();
            } else {
                wide_ = slots;
                w_ = wide_.data();
            }
        }
        // Moving a vector keeps its buffer, so the cached data pointers stay valid.
        table(table&&) noexcept = default;
        table(const table&) = delete;
        table& operator=(const table&) = delete;
        table& operator=(table&&) = delete;

        /// The endpoint of `slot` (< the table size).
        const endpoint* operator[](std::uint32_t slot) const noexcept {
            return ready_[n_ != nullptr ? n_[slot] : w_[slot]];
        }
        /// The number of slots.
        std::size_t size() const noexcept { return n_ != nullptr ? narrow_.size() : wide_.size(); }

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
        iterator end() const noexcept { return {this, static_cast<std::uint32_t>(size())}; }

    private:
        std::vector<std::uint16_t> narrow_;
        std::vector<std::uint32_t> wide_;
        const endpoint* const* ready_;
        const std::uint16_t* n_ = nullptr;
        const std::uint32_t* w_ = nullptr;
    };

    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point) {
        if (set.ready().empty())
            return nullptr;
        const table& t =
            set.derived<table>(id_.value, [this](const endpoint_set& s) { return build(s); });
        const std::uint64_t h =
            ctx.hash_key() ? detail::mix64(*ctx.hash_key()) : detail::thread_random();
        std::uint32_t slot = detail::reduce(static_cast<std::uint32_t>(h >> 32), opts_.table_size);
        if (ctx.tried_count() == 0) [[likely]]
            return t[slot];
        for (std::uint32_t k = 0; k < opts_.table_size; ++k) {
            if (!ctx.was_tried(t[slot]))
                return t[slot];
            if (++slot == opts_.table_size)
                slot = 0;
        }
        return t[slot];
    }
    /// The key's slot, or the next slots in order, up to one whose endpoint `x` does not
    /// exclude; null when it excludes every endpoint of the table.
    const endpoint* pick(const endpoint_set& set, const context& ctx, time_point,
                         const exclusion& x) {
        if (set.ready().empty())
            return nullptr;
        const table& t =
            set.derived<table>(id_.value, [this](const endpoint_set& s) { return build(s); });
        const std::uint64_t h =
            ctx.hash_key() ? detail::mix64(*ctx.hash_key()) : detail::thread_random();
        std::uint32_t slot = detail::reduce(static_cast<std::uint32_t>(h >> 32), opts_.table_size);
        for (std::uint32_t k = 0; k < opts_.table_size; ++k) {
            if (!x.excludes(t[slot]))
                return t[slot];
            if (++slot == opts_.table_size)
                slot = 0;
        }
        return nullptr;
    }

    /// The lookup table for the ready endpoints of `set`.
    table build(const endpoint_set& set) const {
        const std::uint64_t m = opts_.table_size;
        auto ready = set.ready();
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
