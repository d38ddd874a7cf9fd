#pragma once
/// \file
/// Striped counters without atomic read-modify-writes on the hot path: each thread owns one
/// stripe (a slot from a process-wide pool of 64) and adds to its own cache lines with a relaxed
/// load and store; a snapshot sums the stripes. Threads beyond the pool (or beyond a block's
/// stripes) share one extra stripe and use `fetch_add` there, so no update is ever lost.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace bulwark::detail {

/// Slots in the process-wide pool (one bit each in a 64-bit word).
inline constexpr unsigned max_metric_slots = 64;

inline std::atomic<std::uint64_t>& metric_slot_pool() noexcept {
    static std::atomic<std::uint64_t> pool{0};
    return pool;
}

/// What a thread's slot variable holds before the thread's first event: above every real slot
/// and above the shared stripe's number, so the hot path's one comparison (`slot < stripes`)
/// sends it to the cold path, which takes a slot.
inline constexpr unsigned metric_slot_unacquired = ~0u;

/// This thread's slot: `< max_metric_slots` = its own stripe; `max_metric_slots` = the shared
/// stripe (pool full, or the thread is ending); `metric_slot_unacquired` = none yet.
/// Constant-initialized and trivially destructible, so reading it is one plain TLS load (no
/// init guard, no TLS wrapper call on the hot path).
inline thread_local unsigned metric_slot_v = metric_slot_unacquired;

/// Gives the slot back when its thread ends. The next owner continues adding to the same
/// stripe; the pool's release/acquire orders the two owners' plain stores.
struct metric_slot_releaser {
    unsigned slot;
    ~metric_slot_releaser() {
        metric_slot_pool().fetch_and(~(std::uint64_t{1} << slot), std::memory_order_release);
        // Events emitted by later thread-exit code use the shared stripe.
        metric_slot_v = max_metric_slots;
    }
};

/// Takes the lowest free slot (cold: once per thread). Kept out of line so that the counters'
/// `add` stays small enough to inline into every emitting policy.
[[gnu::noinline, gnu::cold]] inline unsigned acquire_metric_slot() noexcept {
    auto& pool = metric_slot_pool();
    std::uint64_t cur = pool.load(std::memory_order_relaxed);
    for (;;) {
        if (cur == ~std::uint64_t{0}) {
            metric_slot_v = max_metric_slots; // pool full: shared stripe
            return metric_slot_v;
        }
        unsigned slot = static_cast<unsigned>(__builtin_ctzll(~cur));
        if (pool.compare_exchange_weak(cur, cur | (std::uint64_t{1} << slot),
                                       std::memory_order_acq_rel, std::memory_order_relaxed)) {
            metric_slot_v = slot;
            thread_local metric_slot_releaser releaser{slot};
            (void)releaser;
            return metric_slot_v;
        }
    }
}

/// This thread's slot (>= max_metric_slots: none, use the shared stripe).
inline unsigned metric_slot() noexcept {
    unsigned s = metric_slot_v;
    if (s == metric_slot_unacquired) [[unlikely]]
        s = acquire_metric_slot();
    return s;
}

/// `words` 64-bit counters, striped `stripes` ways plus one shared stripe.
///
/// **Thread safety:** `add` from any thread; `sum` from any thread (a relaxed read of each
/// stripe: a snapshot taken while others add sees each count at some recent value).
/// **Allocation:** at construction only. **Complexity:** `add` O(1); `sum` O(stripes).
class striped_words {
public:
    striped_words(std::size_t words, unsigned stripes)
        : stripes_(stripes == 0 ? 1 : (stripes > max_metric_slots ? max_metric_slots : stripes))
        , lines_per_row_((words + words_per_line - 1) / words_per_line == 0
                             ? 1
                             : (words + words_per_line - 1) / words_per_line)
        , lines_((stripes_ + 1) * lines_per_row_)
        , base_(lines_.data()) {}
    striped_words(const striped_words&) = delete;
    striped_words& operator=(const striped_words&) = delete;

    /// Adds `n` to word `w`. The hot path is one TLS load, one comparison, and a relaxed load +
    /// store on this thread's own cache line (no read-modify-write, no branch on first use:
    /// an unacquired slot fails the same comparison and takes the cold path).
    [[gnu::always_inline]] void add(std::size_t w, std::uint64_t n = 1) noexcept {
        const unsigned s = metric_slot_v;
        if (s < stripes_) [[likely]] {
            std::atomic<std::uint64_t>& a = at(s, w);
            // Only this thread writes this stripe: no read-modify-write needed.
            a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        } else {
            add_cold(w, n);
        }
    }

    /// The sum of word `w` over all stripes.
    std::uint64_t sum(std::size_t w) const noexcept {
        std::uint64_t total = 0;
        for (unsigned s = 0; s <= stripes_; ++s)
            total += at(s, w).load(std::memory_order_relaxed);
        return total;
    }

    unsigned stripes() const noexcept { return stripes_; }

private:
    static constexpr std::size_t words_per_line = 8;
    struct alignas(64) line {
        std::atomic<std::uint64_t> w[words_per_line]{};
    };

    /// The first event of a thread (takes its slot), or a thread beyond the stripes (the shared
    /// stripe, with an atomic add so that no update is lost).
    [[gnu::noinline]] void add_cold(std::size_t w, std::uint64_t n) noexcept {
        const unsigned s = metric_slot();
        if (s < stripes_) {
            std::atomic<std::uint64_t>& a = at(s, w);
            a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        } else {
            at(stripes_, w).fetch_add(n, std::memory_order_relaxed);
        }
    }

    /// Word `w` of stripe `s` (`w` is a constant at every call site: its line and offset fold).
    std::atomic<std::uint64_t>& at(unsigned s, std::size_t w) const noexcept {
        return base_[s * lines_per_row_ + w / words_per_line].w[w % words_per_line];
    }

    unsigned stripes_;
    std::size_t lines_per_row_;
    std::vector<line> lines_;
    line* base_; // lines_.data(), kept to save a load per add
};

} // namespace bulwark::detail
