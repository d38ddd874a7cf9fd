#pragma once
/// \file
/// The shared timer service behind the synchronous timeout's stop on expiry: a timer entry lives
/// in the blocked caller's frame and is armed and disarmed without a lock or an allocation; one
/// background thread fires the entries whose time has come. No public name.
///
/// **Arming** (caller's thread): the entry takes the next slot of the thread's *lane* (a small
/// per-thread stack of slots; sync calls nest LIFO on one thread), writes its due time and
/// address into the slot, then publishes the slot's generation as odd ("armed") with one
/// exchange. It wakes the timer thread only when its due time is earlier than the wake-up the
/// thread already planned (`next_wake`): with calls of similar limits that is about once per
/// limit, not once per call.
///
/// **Disarming** (success path): one CAS of the generation from odd to the next even value. The
/// timer thread claims an entry with the same CAS, so exactly one of them wins: if the caller
/// wins, the entry is gone and the frame may die; if the timer wins, it fires the entry and
/// then acknowledges (`done`), and the caller waits for that acknowledgement before returning —
/// the frame outlives every access the timer makes to it.
///
/// **Why generations:** the timer reads a slot (due time, entry address) before it claims it,
/// while the owner may disarm it and arm a new entry at the same stack address; the claim
/// compares the generation it read, which only ever grows, so a stale read never fires a newer
/// entry (no ABA).
///
/// **Missed wake-ups:** arming stores the generation and then reads `next_wake`; the timer
/// thread stores `next_wake = never` and then scans. Both are sequentially consistent, so either
/// the scan sees the armed slot or the caller sees `never` and wakes the thread (Dekker).

#include <bulwark/core/time_types.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>

namespace bulwark::detail {

class expiry_service;
struct expiry_slot;

/// One armed expiry, in the caller's frame. `on_expiry(target)` runs on the timer thread when it
/// fires (it must not block long: the caller waits for it on the disarm path).
struct expiry_entry {
    void (*on_expiry)(void* target) noexcept = nullptr;
    void* target = nullptr;
    std::atomic<bool> done{false}; ///< set by the timer after `on_expiry` returned

    // Where it is armed (owner thread only).
    expiry_slot* at = nullptr;
    std::uint64_t generation = 0;
};

/// A slot of a lane: written by its thread, read and claimed by the timer thread.
struct expiry_slot {
    std::atomic<std::uint64_t> generation{0}; ///< odd: armed
    std::atomic<duration::rep> due{0};
    std::atomic<expiry_entry*> entry{nullptr};
};

/// The slots of one thread (a stack: sync calls nest LIFO), reused by a later thread once this
/// one exits. Lanes are never freed, so the timer thread scans them without a lock.
struct alignas(64) expiry_lane {
    static constexpr std::size_t depth =
        8; ///< nested stopping timeouts per thread (then: fallback)
    expiry_slot slots[depth];
    std::size_t used = 0; ///< owner thread only
    std::atomic<bool> taken{true};
    expiry_lane* next = nullptr; ///< immutable once published
};

/// The calling thread's expiry_lane (null until its first armed timeout).
inline constinit thread_local expiry_lane* this_thread_lane = nullptr;

/// The one timer service of real time for stopping timeouts (leaked on purpose: it must outlive
/// every thread that may still disarm at exit).
class expiry_service {
public:
    static expiry_service& instance() {
        static expiry_service* s = new expiry_service; // never destroyed (see above)
        return *s;
    }

    /// Arms `e` to fire at `due`. Returns false when this thread's expiry_lane is full (the caller
    /// then uses another timer). No lock, no allocation (after the thread's first call).
    static bool arm(expiry_entry& e, time_point due) noexcept {
        expiry_lane* l = this_thread_lane;
        if (l == nullptr) [[unlikely]] {
            l = instance().attach();
            if (l == nullptr)
                return false;
        }
        if (l->used == expiry_lane::depth) [[unlikely]]
            return false;
        expiry_slot& s = l->slots[l->used++];
        const std::uint64_t g = s.generation.load(std::memory_order_relaxed) + 1; // odd
        const duration::rep ticks = due.time_since_epoch().count();
        s.entry.store(&e, std::memory_order_relaxed);
        s.due.store(ticks, std::memory_order_relaxed);
        s.generation.exchange(g, std::memory_order_seq_cst); // publish (and order the read below)
        e.at = &s;
        e.generation = g;
        if (ticks < next_wake().load(std::memory_order_seq_cst)) [[unlikely]]
            instance().wake_by(ticks);
        return true;
    }

    /// Disarms `e` (armed by this thread, innermost first). Returns true when it fired: then
    /// `on_expiry` has returned and the timer touches `e` no more.
    static bool disarm(expiry_entry& e) noexcept {
        --this_thread_lane->used;
        std::uint64_t g = e.generation;
        if (e.at->generation.compare_exchange_strong(g, g + 1, std::memory_order_acq_rel,
                                                     std::memory_order_relaxed)) [[likely]]
            return false;
        // The timer claimed it: wait until it has finished with our frame (a short window: it
        // runs `on_expiry`, which requests stop).
        while (!e.done.load(std::memory_order_acquire))
            std::this_thread::yield();
        return true;
    }

    /// Entries currently armed on every thread (tests).
    std::size_t armed() const noexcept {
        std::size_t n = 0;
        for (expiry_lane* l = lanes_.load(std::memory_order_acquire); l != nullptr; l = l->next)
            for (const expiry_slot& s : l->slots)
                n += (s.generation.load(std::memory_order_acquire) & 1U) != 0 ? 1U : 0U;
        return n;
    }

private:
    static constexpr duration::rep never = std::numeric_limits<duration::rep>::max();
    /// The longest the timer thread sleeps while entries are armed or were lately: a caller
    /// whose limit is longer never needs to wake it.
    static constexpr std::chrono::milliseconds max_sleep{50};
    /// Empty scans (of max_sleep each) before the thread sleeps until woken.
    static constexpr int idle_scans = 20;

    /// When the timer thread will next scan, at the latest (steady_clock ticks).
    static std::atomic<duration::rep>& next_wake() noexcept {
        static constinit std::atomic<duration::rep> w{never};
        return w;
    }

    expiry_service() = default;

    /// Gives this thread a expiry_lane (a free one, or a new one), and starts the timer thread
    /// once.
    expiry_lane* attach() noexcept {
        try {
            std::lock_guard lock(attach_mutex_);
            expiry_lane* l = nullptr;
            for (expiry_lane* f = lanes_.load(std::memory_order_acquire); f != nullptr;
                 f = f->next) {
                bool expected = false;
                if (f->taken.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
                    l = f;
                    break;
                }
            }
            if (l == nullptr) {
                l = new expiry_lane; // once per thread that ever arms at once; reused after it
                                     // exits
                l->next = lanes_.load(std::memory_order_relaxed);
                lanes_.store(l, std::memory_order_release);
            }
            if (!started_) {
                std::thread([this] { run(); }).detach(); // lives as long as the process
                started_ = true;
            }
            struct release_at_exit {
                expiry_lane* l;
                ~release_at_exit() {
                    this_thread_lane = nullptr;
                    l->taken.store(false, std::memory_order_release);
                }
            };
            static thread_local release_at_exit release{l};
            release.l = l;
            this_thread_lane = l;
            return l;
        } catch (...) {
            return nullptr; // no thread or no memory: the caller falls back
        }
    }

    /// Makes the timer thread scan by `ticks` at the latest.
    void wake_by(duration::rep ticks) noexcept {
        duration::rep cur = next_wake().load(std::memory_order_seq_cst);
        while (ticks < cur)
            if (next_wake().compare_exchange_weak(cur, ticks, std::memory_order_seq_cst)) {
                {
                    std::lock_guard lock(sleep_mutex_);
                    ++ticket_;
                }
                cv_.notify_one();
                return;
            }
    }

    void run() {
        int empty = 0;
        for (;;) {
            next_wake().store(never, std::memory_order_seq_cst);
            const duration::rep now = std::chrono::steady_clock::now().time_since_epoch().count();
            duration::rep earliest = never;
            bool any = false;
            for (expiry_lane* l = lanes_.load(std::memory_order_acquire); l != nullptr;
                 l = l->next) {
                for (expiry_slot& s : l->slots) {
                    std::uint64_t g = s.generation.load(std::memory_order_seq_cst);
                    if ((g & 1U) == 0)
                        continue;
                    any = true;
                    const duration::rep due = s.due.load(std::memory_order_relaxed);
                    if (due > now) {
                        earliest = std::min(earliest, due);
                        continue;
                    }
                    expiry_entry* e = s.entry.load(std::memory_order_relaxed);
                    // Claim it; a failed claim means the owner disarmed it (or re-armed: a
                    // newer generation, seen by the next scan).
                    if (s.generation.compare_exchange_strong(g, g + 1, std::memory_order_acq_rel,
                                                             std::memory_order_relaxed)) {
                        e->on_expiry(e->target);
                        e->done.store(true, std::memory_order_release); // last touch of `e`
                    }
                }
            }
            empty = any ? 0 : empty + 1;
            const duration::rep cap = now + std::chrono::duration_cast<duration>(max_sleep).count();
            const duration::rep target = any                  ? std::min(earliest, cap)
                                         : empty < idle_scans ? cap
                                                              : never;
            duration::rep cur = next_wake().load(std::memory_order_seq_cst);
            while (target < cur &&
                   !next_wake().compare_exchange_weak(cur, target, std::memory_order_seq_cst)) {
            }
            std::unique_lock lock(sleep_mutex_);
            const std::uint64_t seen = ticket_;
            const duration::rep wake = next_wake().load(std::memory_order_seq_cst);
            if (wake <= std::chrono::steady_clock::now().time_since_epoch().count())
                continue;
            if (wake == never)
                cv_.wait(lock, [&] { return ticket_ != seen; });
            else
                cv_.wait_until(lock, time_point{duration{wake}}, [&] { return ticket_ != seen; });
        }
    }

    std::atomic<expiry_lane*> lanes_{nullptr};
    std::mutex attach_mutex_;
    std::mutex sleep_mutex_;
    std::condition_variable cv_;
    std::uint64_t ticket_ = 0;
    bool started_ = false; // the timer thread (detached: the service is never destroyed)
};

} // namespace bulwark::detail
