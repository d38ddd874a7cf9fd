#pragma once
/// \file
/// A tiny read-copy-update scheme for registry snapshots: readers announce themselves on a
/// striped, two-epoch counter (no lock, no allocation, usually an uncontended cache line); a
/// writer publishes a new pointer, then drains both epochs in turn (flipping before each) —
/// readers hold a snapshot only for the nanoseconds of one pick — before freeing the old one.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace bulwark::detail {

/// The stripe of the calling thread (threads are spread round robin over the stripes).
inline std::size_t read_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

class read_epoch {
public:
    static constexpr std::size_t stripes = 16;

    /// Enter a read section; returns the token to pass to `leave`.
    std::size_t enter() noexcept {
        const std::size_t e = epoch_.load(std::memory_order_acquire) & 1u;
        const std::size_t slot = e * stripes + read_stripe() % stripes;
        // seq_cst: ordered before the reader's load of the published pointer, and visible to
        // a writer that checks this slot after flipping the epoch.
        counters_[slot].value.fetch_add(1, std::memory_order_seq_cst);
        return slot;
    }
    void leave(std::size_t slot) noexcept {
        counters_[slot].value.fetch_sub(1, std::memory_order_release);
    }

    /// Writer side (serialized by the caller's lock), after publishing the new pointer with
    /// seq_cst: waits until every reader that may hold an older pointer has left.
    ///
    /// A reader that loaded an older pointer counted itself (in one parity or the other) before
    /// that load, so before the publication, so its count is visible to the checks below; both
    /// parities are drained, one after the other (userspace RCU's two-phase grace period: a
    /// reader that read the epoch before an earlier flip may sit in either parity). Flipping the
    /// epoch before each drain sends new readers to the other parity, so a drain cannot starve.
    void synchronize() noexcept {
        for (int phase = 0; phase < 2; ++phase) {
            const std::size_t old = epoch_.fetch_add(1, std::memory_order_seq_cst) & 1u;
            for (std::size_t i = 0; i < stripes; ++i) {
                auto& c = counters_[old * stripes + i].value;
                for (unsigned spins = 0; c.load(std::memory_order_seq_cst) != 0; ++spins)
                    if (spins > 64)
                        std::this_thread::yield();
            }
        }
    }

private:
    struct alignas(64) counter {
        std::atomic<std::uint32_t> value{0};
    };
    std::atomic<std::size_t> epoch_{0};
    counter counters_[2 * stripes];
};

} // namespace bulwark::detail
