#pragma once
/// \file
/// Small synchronization parts of the async channel: an event count over C++20 atomic wait
/// (sleep only when idle, no cost to the notifier while nobody sleeps), per-worker counters on
/// their own cache lines, and (detail::detached, the coroutine type of redelivery timers, is in
/// core/task.hpp).

#include <bulwark/detail/hash.hpp>

#include <bulwark/channel/async_channel/ring.hpp>
#include <bulwark/core/task.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>

namespace bulwark::detail {

/// An event count: `prepare_wait`, re-check the condition, then `wait` or `cancel_wait`.
/// Notifiers make the condition true first, then call `notify_*`, which is a fence and a load
/// while nobody waits (the Dekker pairing: the waiter's RMW on `waiters_` vs the notifier's fence).
class eventcount {
public:
    std::uint32_t prepare_wait() noexcept {
        waiters_.fetch_add(1, std::memory_order_seq_cst);
        return epoch_.load(std::memory_order_seq_cst);
    }
    void cancel_wait() noexcept { waiters_.fetch_sub(1, std::memory_order_relaxed); }
    void wait(std::uint32_t key) noexcept {
        epoch_.wait(key, std::memory_order_seq_cst);
        waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
    /// A hint without a fence: may miss a waiter that is just announcing itself.
    bool maybe_waiting() const noexcept { return waiters_.load(std::memory_order_relaxed) != 0; }
    void notify_one() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (waiters_.load(std::memory_order_relaxed) != 0) {
            epoch_.fetch_add(1, std::memory_order_seq_cst);
            epoch_.notify_one();
        }
    }
    void notify_all() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (waiters_.load(std::memory_order_relaxed) != 0) {
            epoch_.fetch_add(1, std::memory_order_seq_cst);
            epoch_.notify_all();
        }
    }

private:
    alignas(cache_line) std::atomic<std::uint32_t> epoch_{0};
    std::atomic<std::uint32_t> waiters_{0};
};

/// A counter written by one thread only (no RMW) and read by any.
struct owned_counter {
    std::atomic<std::uint64_t> value{0};
    void bump() noexcept {
        value.store(value.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    std::uint64_t get() const noexcept { return value.load(std::memory_order_seq_cst); }
};

/// What one consumer thread did; each on its own cache line.
struct alignas(cache_line) worker_counters {
    owned_counter settled;     ///< acked or dead-lettered (left the channel for good)
    owned_counter parked;      ///< handed to a redelivery timer
    owned_counter acked;       ///< handled successfully
    owned_counter dead;        ///< dead-lettered
    owned_counter redelivered; ///< nacked and scheduled for another delivery
};

/// The one 64-bit mixer of the library (SplitMix64's finalizer, detail/hash.hpp): spreads
/// `std::hash` (the identity for integers) over the lanes and the dedupe table.
constexpr std::uint64_t mix_hash(std::uint64_t h) noexcept {
    return mix64(h);
}

} // namespace bulwark::detail
