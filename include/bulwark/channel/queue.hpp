#pragma once
/// \file
/// Bounded lock-free queues (`mpmc_queue`, `mpsc_queue`), the queue selectors `mpmc` / `mpsc`
/// that `async_channel` takes, and the overflow policies `overflow::block`, `drop_oldest`,
/// `drop_newest`, `reject`.

#include <bulwark/channel/detail/queue_ring.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace bulwark {

/// Result of a non-blocking push.
using detail::push_status;

/// A bounded lock-free multi-producer multi-consumer queue (Vyukov's bounded MPMC ring).
///
/// **Failure semantics:** `try_push` returns `push_status::full` or `closed` and leaves the value
/// untouched. **Thread safety:** any number of threads push and pop. **Allocation:** the ring,
/// once, at construction; none per push or pop. **Complexity:** O(1); one CAS per push and per pop.
template <class T>
class mpmc_queue : public detail::bounded_ring<T, true> {
public:
    using detail::bounded_ring<T, true>::bounded_ring;
};

/// A bounded lock-free multi-producer single-consumer queue: pops are a load and a store, no CAS.
///
/// **Thread safety:** any number of threads push; exactly one thread at a time pops.
/// **Allocation:** the ring, once, at construction. **Complexity:** O(1).
template <class T>
class mpsc_queue : public detail::bounded_ring<T, false> {
public:
    using detail::bounded_ring<T, false>::bounded_ring;
};

/// Selects `mpmc_queue` for a channel: lanes may have several consumers, and `drop_oldest` works.
struct mpmc {
    template <class T>
    using queue_type = mpmc_queue<T>;
    static constexpr bool multi_consumer = true;
};

/// Selects `mpsc_queue` for a channel: one consumer per lane (per-key channels, or one consumer).
struct mpsc {
    template <class T>
    using queue_type = mpsc_queue<T>;
    static constexpr bool multi_consumer = false;
};

/// A queue selector: `Q::queue_type<T>` is a bounded queue with bulwark's push/pop/close protocol.
template <class Q>
concept queue_selector = requires(typename Q::template queue_type<int>& q, int v) {
    { Q::multi_consumer } -> std::convertible_to<bool>;
    { q.try_push(std::move(v)) } -> std::same_as<push_status>;
    { q.try_pop() } -> std::same_as<std::optional<int>>;
    { q.close() } -> std::same_as<std::uint64_t>;
    { q.pushed() } -> std::same_as<std::uint64_t>;
};

/// What a channel does when a publish finds its queue full (Go channels block; Watermill and
/// bounded mailboxes in actor systems offer the drops; reject is the explicit back-pressure
/// signal).
namespace overflow {
/// Wait for space (back-pressure). `try_publish` never waits and reports `errc::queue_full`.
struct block {};
/// Evict the oldest queued message (it is reported to `on_drop` and counted), then enqueue.
struct drop_oldest {};
/// Discard the new message (reported to `on_drop` and counted); the publish succeeds.
struct drop_newest {};
/// Refuse the new message: the publish returns `errc::queue_full` (counted as rejected).
struct reject {};
} // namespace overflow

/// One of the four overflow policies.
template <class O>
concept overflow_policy =
    std::same_as<O, overflow::block> || std::same_as<O, overflow::drop_oldest> ||
    std::same_as<O, overflow::drop_newest> || std::same_as<O, overflow::reject>;

} // namespace bulwark
