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

namespace detail {

/// A rotating index shared by concurrent pickers. It advances with a relaxed load and store,
/// not a read-modify-write: racing callers may now and then get the same index, which costs a
/// little fairness and keeps the pick at about a nanosecond. Copyable, so strategies stay movable.
class cursor {
public:
    cursor() noexcept = default;
    cursor(const cursor& o) noexcept
        : i_(o.i_.load(std::memory_order_relaxed)) {}
    cursor& operator=(const cursor& o) noexcept {
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

/// The key of a strategy's derived tables: unique per instance, kept by copies (same settings).
struct strategy_id {
    std::uint64_t value = next_strategy_id();
};

} // namespace detail

} // namespace bulwark
