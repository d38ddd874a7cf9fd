#pragma once
/// \file
/// Bounded lock-free queues (`mpmc_queue`, `mpsc_queue`, `push_status`) and the queue selectors
/// `mpmc` / `mpsc` that `async_channel` takes (its overflow policies are in async_channel.hpp).

#include <bulwark/channel/async_channel/ring.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace bulwark {

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

} // namespace bulwark
