#pragma once
/// \file
/// The shared timer service behind the synchronous timeout's stop on expiry: a timer entry lives
/// in the blocked caller's frame and is armed and disarmed without a lock, an allocation or an
/// atomic read-modify-write; one background thread fires the entries whose time has come. No
/// public name.
///
/// **Arming** (caller's thread): the entry takes the next slot of the thread's *lane* (a small
/// per-thread stack of slots; sync calls nest LIFO on one thread), writes its due time and
/// address into the slot, then publishes the slot's generation as odd ("armed") with a plain
/// release store. It wakes the timer thread only when its due time is earlier than the wake-up
/// the thread already planned (`next_wake`): with calls of similar limits that is about once
/// per limit, not once per call.
///
/// **Disarming** (success path): a plain store of the next (even) generation, then a load of
/// the slot's `claim`. The timer thread fires an entry in two steps: it stores the generation it
/// saw into `claim`, runs the asymmetric fence's heavy side (runtime/detail/asymmetric_fence.hpp:
/// membarrier), and fires only if the generation is still the one it claimed; then it stores
/// `resolved`. By the fence's guarantee the caller sees the claim or the timer sees the disarm
/// (or both): a caller that sees no claim of its generation may let its frame die (the timer
/// will see the disarm and never touch the entry); one that sees a claim waits for `resolved`,
/// and learns from the entry's `done` whether the timer fired. The timer touches an entry only
/// between a successful check and `resolved`, while its caller waits.
///
/// **Why generations:** the timer reads a slot (due time, entry address) before it claims it,
/// while the owner may disarm it and arm a new entry at the same stack address; the check
/// compares the generation it claimed, which only ever grows, so a stale read never fires a
/// newer entry (no ABA).
///
/// **Missed wake-ups:** arming stores the generation and then reads `next_wake`; the timer
/// thread stores `next_wake = never`, runs the heavy side, then scans: the same handshake, so
/// either the scan sees the armed slot or the caller sees `never` and wakes the thread.
///
/// Without membarrier (or under TSan) every operation of both handshakes is seq_cst: the
/// classic Dekker, about as costly as the exchange + CAS this replaced.

#include <bulwark/core/time_types.hpp>
#include <bulwark/runtime/detail/asymmetric_fence.hpp>

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
    std::atomic<std::uint64_t> generation{0};  ///< odd: armed (owner writes)
    std::atomic<duration::rep> due{0};         ///< owner writes
    std::atomic<expiry_entry*> entry{nullptr}; ///< owner writes
    std::atomic<std::uint64_t> claim{0};       ///< the generation the timer means to fire
    std::atomic<std::uint64_t> resolved{0};    ///< the last claim the timer has settled
    // Owner thread only (the timer never reads them): which call armed it, and when it fires.
    const void* call = nullptr;
    duration::rep call_due = 0;
};

/// The slots of one thread (a stack: sync calls nest LIFO), reused by a later thread once this
/// one exits. Lanes are never freed, so the timer thread scans them without a lock.
struct alignas(64) expiry_lane {
    static constexpr std::size_t depth =
        8; ///< nested stopping timeouts per thread (then: fallback)
    expiry_slot slots[depth];
    std::size_t used = 0;    ///< owner thread only
    bool asymmetric = false; ///< the fence's mode (set before the owner's first arm)
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

    /// What `arm` did.
    enum class arm_result : unsigned char {
        armed,   ///< `e` is armed: disarm it before its frame dies
        covered, ///< not armed: an enclosing entry of the same call fires no later
        full,    ///< not armed: the lane is full (or no lane): use another timer
    };

    /// Arms `e` to fire at `due` for the call identified by `call` (its context: a stop
    /// requested by an enclosing entry of the same call reaches every scope nested in it).
    /// No lock, no allocation (after the thread's first call), no atomic read-modify-write.
    ///
    /// **One arm per call:** when the innermost entry armed on this thread belongs to the same
    /// call and fires no later than `due`, `e` is not armed (`covered`): that entry's expiry
    /// stops this scope too (stop scopes of one context nest, see core/context.hpp), at or
    /// before `due`.
    [[gnu::always_inline]] static arm_result arm(expiry_entry& e, time_point due,
                                                 const void* call = nullptr) noexcept {
        expiry_lane* l = this_thread_lane;
        if (l == nullptr) [[unlikely]] {
            l = instance().attach();
            if (l == nullptr)
                return arm_result::full;
        }
        const duration::rep ticks = due.time_since_epoch().count();
        if (l->used != 0 && call != nullptr) {
            const expiry_slot& outer = l->slots[l->used - 1];
            if (outer.call == call && outer.call_due <= ticks)
                return arm_result::covered;
        }
        if (l->used == expiry_lane::depth) [[unlikely]]
            return arm_result::full;
        expiry_slot& s = l->slots[l->used++];
        const bool asym = l->asymmetric;
        const std::uint64_t g = s.generation.load(std::memory_order_relaxed) + 1; // odd
        s.call = call;
        s.call_due = ticks;
        s.entry.store(&e, std::memory_order_relaxed);
        s.due.store(ticks, std::memory_order_relaxed);
        asymmetric_fence::frequent_store(s.generation, g, asym); // publish
        asymmetric_fence::light(); // ... before reading next_wake (see "Missed wake-ups")
        e.at = &s;
        e.generation = g;
        if (ticks < asymmetric_fence::frequent_load(next_wake(), asym)) [[unlikely]]
            instance().wake_by(ticks);
        return arm_result::armed;
    }

    /// Disarms `e` (armed by this thread, innermost first). Returns true when it fired: then
    /// `on_expiry` has returned and the timer touches `e` no more.
    [[gnu::always_inline]] static bool disarm(expiry_entry& e) noexcept {
        expiry_lane& l = *this_thread_lane;
        --l.used;
        const bool asym = l.asymmetric;
        expiry_slot& s = *e.at;
        const std::uint64_t g = e.generation;
        asymmetric_fence::frequent_store(s.generation, g + 1, asym);
        asymmetric_fence::light();
        if (asymmetric_fence::frequent_load(s.claim, asym) != g) [[likely]]
            return false; // the timer has not claimed it, and will see the disarm if it tries
        // The timer claimed it: wait until it has settled the claim (fired, or seen the disarm)
        // and finished with our frame (a short window: `on_expiry` requests stop).
        while (s.resolved.load(std::memory_order_acquire) != g)
            std::this_thread::yield();
        return e.done.load(std::memory_order_relaxed); // ordered by the acquire above
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

    expiry_service() noexcept
        : asymmetric_(asymmetric_fence::decide()) {}

    /// Gives this thread a expiry_lane (a free one, or a new one), and starts the timer thread
    /// once.
    [[gnu::noinline]] expiry_lane* attach() noexcept {
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
            l->asymmetric = asymmetric_;
            this_thread_lane = l;
            return l;
        } catch (...) {
            return nullptr; // no thread or no memory: the caller falls back
        }
    }

    /// Makes the timer thread scan by `ticks` at the latest.
    [[gnu::noinline]] void wake_by(duration::rep ticks) noexcept {
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
        const bool asym = asymmetric_;
        int empty = 0;
        for (;;) {
            next_wake().store(never, std::memory_order_seq_cst);
            asymmetric_fence::heavy(asym); // pairs with arm's light side
            const duration::rep now = std::chrono::steady_clock::now().time_since_epoch().count();
            duration::rep earliest = never;
            bool any = false, claimed = false;
            for (expiry_lane* l = lanes_.load(std::memory_order_acquire); l != nullptr;
                 l = l->next) {
                for (expiry_slot& s : l->slots) {
                    const std::uint64_t g = s.generation.load(std::memory_order_seq_cst);
                    if ((g & 1U) == 0 || s.claim.load(std::memory_order_relaxed) == g)
                        continue; // not armed, or fired already (its owner has yet to disarm)
                    any = true;
                    const duration::rep due = s.due.load(std::memory_order_relaxed);
                    if (due > now) {
                        earliest = std::min(earliest, due);
                        continue;
                    }
                    s.claim.store(g, std::memory_order_seq_cst);
                    claimed = true;
                }
            }
            if (claimed)
                settle_claims(asym);
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

    /// The second step of firing: after the heavy side, a claim whose generation is still
    /// current is the timer's (its owner will see the claim and wait); otherwise the owner has
    /// disarmed (or re-armed) and the entry is not touched. Either way the claim is settled.
    void settle_claims(bool asym) noexcept {
        asymmetric_fence::heavy(asym); // pairs with disarm's light side
        for (expiry_lane* l = lanes_.load(std::memory_order_acquire); l != nullptr; l = l->next)
            for (expiry_slot& s : l->slots) {
                const std::uint64_t c = s.claim.load(std::memory_order_relaxed);
                if (c == 0 || s.resolved.load(std::memory_order_relaxed) == c)
                    continue;
                if (s.generation.load(std::memory_order_seq_cst) == c) {
                    expiry_entry* e = s.entry.load(std::memory_order_relaxed);
                    e->on_expiry(e->target);
                    e->done.store(true, std::memory_order_relaxed); // published by `resolved`
                }
                s.resolved.store(c, std::memory_order_release); // last touch of the entry
            }
    }

    std::atomic<expiry_lane*> lanes_{nullptr};
    std::mutex attach_mutex_;
    std::mutex sleep_mutex_;
    std::condition_variable cv_;
    std::uint64_t ticket_ = 0;
    bool started_ = false;  // the timer thread (detached: the service is never destroyed)
    const bool asymmetric_; // the fence's mode, decided before the first lane exists
};

} // namespace bulwark::detail
