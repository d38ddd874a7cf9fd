#pragma once
/// \file
/// The lock-free cores of `count_window` and `time_window` (see window.hpp); machinery, no public
/// name.

#include <bulwark/policy/circuit_breaker/window.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace bulwark {

namespace detail {

/// One call's outcome as bits: bit 0 = a call, bit 1 = failed, bit 2 = slow.
enum : std::uint8_t { call_bit = 1, failure_bit = 2, slow_bit = 4 };

inline constexpr std::uint8_t outcome_bits(bool failed, bool slow) noexcept {
    return static_cast<std::uint8_t>(call_bit | (failed ? failure_bit : 0) | (slow ? slow_bit : 0));
}

/// Running totals; each field changes by the delta of exactly one slot exchange.
struct alignas(64) window_totals {
    std::atomic<std::int64_t> calls{0}, failures{0}, slow{0};

    void apply(std::uint8_t removed, std::uint8_t added) noexcept {
        auto delta = [](std::uint8_t r, std::uint8_t a, std::uint8_t bit) {
            return static_cast<std::int64_t>((a & bit) != 0) -
                   static_cast<std::int64_t>((r & bit) != 0);
        };
        if (auto d = delta(removed, added, call_bit))
            calls.fetch_add(d, std::memory_order_relaxed);
        if (auto d = delta(removed, added, failure_bit))
            failures.fetch_add(d, std::memory_order_relaxed);
        if (auto d = delta(removed, added, slow_bit))
            slow.fetch_add(d, std::memory_order_relaxed);
    }
    /// Consistent up to records in flight; clamped so a reader never sees a negative count.
    /// `open_calls`: calls counted outside the totals (a time window's open bucket).
    window_snapshot read(std::int64_t open_calls = 0) const noexcept {
        window_snapshot s{calls.load(std::memory_order_relaxed) + open_calls,
                          failures.load(std::memory_order_relaxed),
                          slow.load(std::memory_order_relaxed)};
        s.calls = std::max<std::int64_t>(s.calls, 0);
        s.failures = std::clamp<std::int64_t>(s.failures, 0, s.calls);
        s.slow = std::clamp<std::int64_t>(s.slow, 0, s.calls);
        return s;
    }
};

/// The last `size` outcomes in a ring of one-byte slots.
///
/// **Complexity:** record O(1) (one fetch_add, one exchange, up to three counter adds); snapshot
/// O(1). **Thread safety:** concurrent records and snapshots are safe; `clear` must not race
/// with records (the breaker clears a window only while it is not the active one).
class count_window_core {
public:
    explicit count_window_core(std::int64_t size)
        : size_(static_cast<std::uint64_t>(size))
        , slots_(std::make_unique<std::atomic<std::uint8_t>[]>(size_)) {
        for (std::uint64_t i = 0; i < size_; ++i)
            slots_[i].store(0, std::memory_order_relaxed);
    }

    void record(std::uint8_t bits) noexcept {
        std::uint64_t n = cursor_.fetch_add(1, std::memory_order_relaxed);
        std::uint8_t old = slots_[n % size_].exchange(bits, std::memory_order_relaxed);
        totals_.apply(old, bits);
    }
    /// True when recording a success would change nothing: the window is full of successes.
    /// The breaker's success path then skips the record (no atomic write at all).
    bool full_of_successes() const noexcept {
        return totals_.calls.load(std::memory_order_relaxed) == static_cast<std::int64_t>(size_) &&
               totals_.failures.load(std::memory_order_relaxed) == 0 &&
               totals_.slow.load(std::memory_order_relaxed) == 0;
    }
    window_snapshot snapshot() const noexcept { return totals_.read(); }
    /// Empties the window. Each slot is exchanged and its delta subtracted, like a record, so the
    /// totals stay equal to the slots even if a late record races with the clear.
    void clear() noexcept {
        for (std::uint64_t i = 0; i < size_; ++i)
            totals_.apply(slots_[i].exchange(0, std::memory_order_relaxed), 0);
        cursor_.store(0, std::memory_order_relaxed);
    }
    std::int64_t size() const noexcept { return static_cast<std::int64_t>(size_); }

private:
    window_totals totals_;
    std::uint64_t size_;
    std::unique_ptr<std::atomic<std::uint8_t>[]> slots_;
    alignas(64) std::atomic<std::uint64_t> cursor_{0};
};

/// The outcomes of the last `seconds` whole seconds: one bucket per second, tagged with the
/// second it holds. A bucket is reused (its counts subtracted) when time comes back to its
/// index; a snapshot first evicts the buckets that time has left behind (resilience4j's
/// `moveWindowToCurrentEpochSecond`), so it reads only the totals and the open bucket.
///
/// **One atomic add per success:** the calls of the newest second (the *open* bucket) are kept
/// in its bucket only; when time moves on, the thread that moves the window *seals* the bucket
/// (one `fetch_or` of `sealed`) and adds the count it sealed to the totals. A record into a
/// sealed bucket (a late call, or one racing with the seal) sees the flag in its `fetch_add`'s
/// result and adds to the totals itself, so every call is counted in the totals exactly once,
/// and eviction subtracts exactly what a sealed bucket gave them. A snapshot is the totals plus
/// the open bucket's count. Failures and slow calls (rare) go to the bucket and the totals alike.
///
/// **Complexity:** O(1) amortized per record and snapshot (each bucket is evicted once per
/// `seconds`). **Thread safety:** as `count_window_core`.
class time_window_core {
public:
    explicit time_window_core(std::int64_t seconds)
        : n_(static_cast<std::uint64_t>(seconds))
        , buckets_(std::make_unique<bucket[]>(n_)) {}

    /// Records one outcome at `now` (the call's time: a call that began before the window's
    /// oldest second lands in the live second that reuses its bucket). Returns true when the
    /// window may trip on it: it is a failure or slow, or the window holds some (a success into
    /// a window of successes can change no rate: the caller skips its check).
    [[gnu::always_inline]] bool record(std::uint8_t bits, time_point now) noexcept {
        const std::int64_t sec = advance(now);
        bucket& b = buckets_[index_of(sec)];
        std::int64_t tag = b.second.load(std::memory_order_acquire);
        if (tag < sec) [[unlikely]]
            evict(b, tag, sec);
        if (bits & call_bit)
            if (b.calls.fetch_add(1, std::memory_order_relaxed) & sealed) [[unlikely]]
                totals_.calls.fetch_add(1, std::memory_order_relaxed);
        // Failures and slow calls go to the bucket and the totals alike.
        if (bits & failure_bit) {
            b.failures.fetch_add(1, std::memory_order_relaxed);
            totals_.failures.fetch_add(1, std::memory_order_relaxed);
        }
        if (bits & slow_bit) {
            b.slow.fetch_add(1, std::memory_order_relaxed);
            totals_.slow.fetch_add(1, std::memory_order_relaxed);
        }
        return bits != call_bit || totals_.failures.load(std::memory_order_relaxed) != 0 ||
               totals_.slow.load(std::memory_order_relaxed) != 0;
    }
    window_snapshot snapshot(time_point now) noexcept {
        advance(now);
        return totals();
    }
    /// The window as it is, without moving it (right after a `record` at the same time, which
    /// moved it): the totals plus the open bucket's calls.
    window_snapshot totals() const noexcept {
        std::int64_t open = 0;
        const std::int64_t latest = latest_.load(std::memory_order_acquire);
        if (latest >= 0) {
            const bucket& b = buckets_[index_of(latest)];
            const std::uint64_t w = b.calls.load(std::memory_order_relaxed);
            if (b.second.load(std::memory_order_acquire) == latest && (w & sealed) == 0)
                open = static_cast<std::int64_t>(w);
        }
        return totals_.read(open);
    }
    /// Empties the window (by exchange, as `count_window_core::clear`).
    void clear() noexcept {
        for (std::uint64_t i = 0; i < n_; ++i) {
            buckets_[i].second.store(-1, std::memory_order_relaxed);
            drain(buckets_[i]);
        }
        latest_.store(-1, std::memory_order_relaxed);
        latest_index_.store(no_index, std::memory_order_relaxed);
    }
    std::int64_t seconds() const noexcept { return static_cast<std::int64_t>(n_); }

private:
    /// The flag of a bucket's `calls` word: its count has been added to the totals.
    static constexpr std::uint64_t sealed = std::uint64_t{1} << 63;

    struct bucket {
        std::atomic<std::int64_t> second{-1};
        std::atomic<std::uint64_t> calls{0}; ///< count | `sealed`
        std::atomic<std::int64_t> failures{0}, slow{0};
    };

    /// `latest_index_` packs a second with its bucket index (`second % n_`, below 2^20 as the
    /// window holds at most 86400 seconds): a cache that spares the success path a division.
    static constexpr unsigned index_bits = 20;
    static constexpr std::uint64_t no_index = ~std::uint64_t{0};

    std::uint64_t index_of(std::int64_t sec) const noexcept {
        const std::uint64_t c = latest_index_.load(std::memory_order_relaxed);
        if (sec >= 0 && (c >> index_bits) == static_cast<std::uint64_t>(sec)) [[likely]]
            return c & ((std::uint64_t{1} << index_bits) - 1);
        return static_cast<std::uint64_t>(sec) % n_;
    }

    static std::int64_t second_of(time_point t) noexcept {
        return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    }

    /// Moves the window to `now`: the thread that moves `latest_` seals the buckets of the
    /// seconds that are no longer the newest and evicts the buckets that the seconds
    /// (latest, now] will reuse. Returns now's second.
    [[gnu::always_inline]] std::int64_t advance(time_point now) noexcept {
        const std::int64_t sec = second_of(now);
        if (sec > latest_.load(std::memory_order_acquire)) [[unlikely]]
            move_to(sec);
        return sec;
    }
    /// `advance`'s work when `sec` is newer than the newest second seen (once a second).
    [[gnu::noinline]] void move_to(std::int64_t sec) noexcept {
        std::int64_t last = latest_.load(std::memory_order_acquire);
        while (sec > last) {
            if (latest_.compare_exchange_weak(last, sec, std::memory_order_seq_cst)) {
                if (last >= 0) // the open bucket (if time has not already reused it)
                    seal(buckets_[static_cast<std::uint64_t>(last) % n_], last);
                std::int64_t from = std::max(last + 1, sec - static_cast<std::int64_t>(n_) + 1);
                for (std::int64_t s = from; s <= sec; ++s) {
                    bucket& b = buckets_[static_cast<std::uint64_t>(s) % n_];
                    std::int64_t tag = b.second.load(std::memory_order_acquire);
                    if (tag < s)
                        evict(b, tag, s);
                    if (s < sec) // a skipped second: closed at once
                        seal(b, s);
                }
                // The cache of the newest second's bucket (a stale one is simply not used: it
                // names its second).
                if (sec < (std::int64_t{1} << (64 - index_bits)))
                    latest_index_.store((static_cast<std::uint64_t>(sec) << index_bits) |
                                            (static_cast<std::uint64_t>(sec) % n_),
                                        std::memory_order_relaxed);
                break;
            }
        }
    }

    /// Adds the calls of second `sec`'s bucket to the totals, once (if it still holds `sec`).
    void seal(bucket& b, std::int64_t sec) noexcept {
        if (b.second.load(std::memory_order_seq_cst) != sec)
            return; // not retagged yet: its retagger seals it (see evict)
        const std::uint64_t w = b.calls.fetch_or(sealed, std::memory_order_relaxed);
        if ((w & sealed) == 0 && w != 0)
            totals_.calls.fetch_add(static_cast<std::int64_t>(w), std::memory_order_relaxed);
    }

    /// Retags a bucket from `tag` to `sec` and subtracts its counts; one thread wins the retag.
    /// If time has moved past `sec` meanwhile, seals it too: the thread that moved the window
    /// may have tried to seal it before the retag and found the old tag. (Both sides are seq_cst
    /// — the move then the tag's load, the retag then the newest second's load — so at least
    /// one of them seals it; sealing twice adds once.)
    [[gnu::noinline]] void evict(bucket& b, std::int64_t tag, std::int64_t sec) noexcept {
        while (tag < sec) {
            if (b.second.compare_exchange_weak(tag, sec, std::memory_order_seq_cst)) {
                drain(b);
                if (latest_.load(std::memory_order_seq_cst) > sec) [[unlikely]]
                    seal(b, sec);
                return;
            }
        }
    }

    /// Zeroes a bucket's counts (open again) and subtracts exactly what it gave the totals.
    void drain(bucket& b) noexcept {
        const std::uint64_t w = b.calls.exchange(0, std::memory_order_relaxed);
        if ((w & sealed) != 0 && (w & ~sealed) != 0)
            totals_.calls.fetch_sub(static_cast<std::int64_t>(w & ~sealed),
                                    std::memory_order_relaxed);
        if (std::int64_t f = b.failures.exchange(0, std::memory_order_relaxed))
            totals_.failures.fetch_sub(f, std::memory_order_relaxed);
        if (std::int64_t s = b.slow.exchange(0, std::memory_order_relaxed))
            totals_.slow.fetch_sub(s, std::memory_order_relaxed);
    }

    window_totals totals_;
    std::uint64_t n_;
    std::unique_ptr<bucket[]> buckets_;
    alignas(64) std::atomic<std::int64_t> latest_{-1};
    std::atomic<std::uint64_t> latest_index_{no_index};
};

} // namespace detail
} // namespace bulwark
