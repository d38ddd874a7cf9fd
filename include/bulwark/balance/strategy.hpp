#pragma once
/// \file
/// The `balancing_strategy` concept: how a balancer chooses one endpoint of a snapshot.
///
/// ```cpp
/// struct first_ready {   // a user strategy
///     const bulwark::endpoint* pick(const bulwark::endpoint_set& set, const bulwark::context&,
///                                   bulwark::time_point) noexcept {
///         return set.ready().empty() ? nullptr : set.ready().front();
///     }
/// };
/// bulwark::balance<first_ready> lb{registry};
/// ```

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace bulwark {

/// A strategy: `s.pick(set, ctx, now)` returns one of `set.ready()`, or null when it is empty.
/// It may read the context (hash key, endpoints already tried) and `now` (decayed latencies),
/// must not lock or allocate on its common path, and is called concurrently (keep counters
/// atomic). Tables derived from the set belong in `set.derived(...)`. The balance policy takes
/// care of avoiding endpoints already tried, if a strategy does not.
template <class S>
concept balancing_strategy = std::move_constructible<S> &&
    requires(S& s, const endpoint_set& set, const context& ctx, time_point now) {
    { s.pick(set, ctx, now) } -> std::same_as<const endpoint*>;
};

/// The endpoints a re-pick must pass over: those the call already tried (read from its context,
/// when given) and those the balancer ruled out for this call (their breaker rejected it). A
/// strategy that takes one (`excluding_strategy`) makes its own choice among the rest — P2C
/// samples two of the rest, round robin moves on in its rotation, ring hash walks on along the
/// ring — so a re-pick never falls back to list order. Used only off the common path (a retry
/// whose first pick was tried already, or a breaker rejection): the no-retry pick never sees one.
///
/// **Allocation:** none (up to `capacity` ruled-out endpoints inline). **Complexity:**
/// `excludes` is a linear scan of at most `tried_capacity + capacity` pointers.
class exclusion {
public:
    /// How many ruled-out endpoints one call remembers (beyond them, `rule_out` returns false).
    static constexpr std::size_t capacity = 64;

    /// Excludes nothing but what `rule_out` adds.
    exclusion() noexcept = default;
    /// Excludes what `ctx` tried, plus what `rule_out` adds.
    explicit exclusion(const context& ctx) noexcept
        : ctx_(&ctx) {}

    /// True when a pick must not return `e`.
    bool excludes(const endpoint* e) const noexcept {
        if (ctx_ != nullptr && ctx_->tried_count() != 0 && ctx_->was_tried(e))
            return true;
        for (std::size_t i = 0; i < count_; ++i)
            if (out_[i] == e)
                return true;
        return false;
    }
    /// Rules `e` out for the rest of this call; false when `capacity` are out already.
    bool rule_out(const endpoint* e) noexcept {
        if (count_ == capacity)
            return false;
        out_[count_++] = e;
        return true;
    }
    /// From now on excludes only the ruled-out endpoints, not the context's tried ones (a call
    /// that tried every ready endpoint may go back to one whose breaker did not reject).
    void forget_tried() noexcept { ctx_ = nullptr; }
    /// Ruled-out endpoints so far.
    std::size_t ruled_out() const noexcept { return count_; }
    /// True when nothing is excluded (no context tried and nothing ruled out).
    bool empty() const noexcept {
        return count_ == 0 && (ctx_ == nullptr || ctx_->tried_count() == 0);
    }

    /// The ready endpoints of `set` not excluded (O(n)).
    std::size_t remaining(std::span<const endpoint* const> ready) const noexcept {
        std::size_t m = 0;
        for (const endpoint* e : ready)
            m += excludes(e) ? 0U : 1U;
        return m;
    }
    /// The k-th (from 0) ready endpoint of `set` not excluded, or null (O(n)).
    const endpoint* nth_remaining(std::span<const endpoint* const> ready,
                                  std::size_t k) const noexcept {
        for (const endpoint* e : ready)
            if (!excludes(e) && k-- == 0)
                return e;
        return nullptr;
    }

private:
    const context* ctx_ = nullptr;
    std::size_t count_ = 0;
    const endpoint* out_[capacity]; // the first count_ are set
};

/// A strategy that can choose among the ready endpoints `x` does not exclude:
/// `s.pick(set, ctx, now, x)` returns one of them, or null when `x` excludes them all. Every
/// built-in strategy is one. For a strategy that is not, `balance` asks it twice more, then lets
/// it pick over a filtered copy of the snapshot (cold: allocates and rebuilds its tables).
template <class S>
concept excluding_strategy = balancing_strategy<S> &&
    requires(S& s, const endpoint_set& set, const context& ctx, time_point now,
             const exclusion& x) {
    { s.pick(set, ctx, now, x) } -> std::same_as<const endpoint*>;
};

/// A rotating index (for round-robin-like strategies) shared by concurrent pickers. It advances
/// with a relaxed load and store, not a read-modify-write: racing callers may now and then get the
/// same index, which costs a little fairness and keeps the pick at about a nanosecond. Copyable, so
/// strategies stay movable.
class rotating_cursor {
public:
    rotating_cursor() noexcept = default;
    rotating_cursor(const rotating_cursor& o) noexcept
        : i_(o.i_.load(std::memory_order_relaxed)) {}
    rotating_cursor& operator=(const rotating_cursor& o) noexcept {
        i_.store(o.i_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        return *this;
    }
    /// The next index in [0, n), n > 0.
    std::size_t next(std::size_t n) noexcept {
        std::size_t i = i_.load(std::memory_order_relaxed);
        if (i >= n)
            i = 0;
        i_.store(i + 1, std::memory_order_relaxed);
        return i;
    }

private:
    std::atomic<std::size_t> i_{0};
};

/// The key of a strategy's derived tables (`set.derived<T>(id.value, build)`): unique per
/// instance, kept by copies (same settings). A user strategy with a table holds one.
struct strategy_id {
    std::uint64_t value = detail::next_strategy_id();
};

} // namespace bulwark
