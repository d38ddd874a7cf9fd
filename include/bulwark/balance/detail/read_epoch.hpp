#pragma once
/// \file
/// A tiny read-copy-update scheme for registry snapshots, with an asymmetric fence: a reader
/// announces itself with a plain store to its own thread's record (no atomic read-modify-write,
/// no fence instruction: a compiler barrier only); a writer, after publishing a new pointer, runs
/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` — which makes every running thread of the
/// process execute a full barrier — then waits for the readers whose section began before it.
/// This is userspace RCU's "memb" flavour (one 64-bit grace-period counter, one phase) and what
/// the Linux kernel documents membarrier for: moving the cost of the fence from the frequent
/// side (a pick, every call) to the rare one (a registry update).
///
/// Why a reader needs no fence instruction (the correctness argument). A reader does
/// (R1) store `ctr = gp` (and `owner`), compiler barrier, (R2) load the published pointer `P`;
/// the writer does (W1) exchange `P` to the new snapshot, (W2) membarrier, (W3) `gp += 1`,
/// (W4) load every reader's `ctr` and wait while it is an older, non-zero count of this owner,
/// then frees the old snapshot. membarrier guarantees that every thread of the process that
/// is running during (W2) executes a full memory barrier, and one that is not running passes
/// a context switch (itself a full barrier) before it runs again, so for each reader section
/// either (a) the barrier falls after R1 in the reader's program order: R1 is then visible to
/// W4, which waits for the section to end (its `ctr` is non-zero and older than the new `gp`:
/// R1 read `gp` before that barrier, which completes before W3),
/// or (b) it falls before R1 — hence before R2 — so W1, which precedes W2 in the writer's
/// order, is visible to R2: the reader loads the new snapshot and the old one is not in its
/// hands. The compiler barrier keeps R1 before R2 in the emitted code; x86 and ARM keep a
/// store before a later load to another address only with a fence, which is exactly the
/// reordering the writer's barrier covers. Ending a section is a release store of `ctr = 0`,
/// read by W4 with acquire, so the section's reads of the old snapshot happen before its free.
///
/// Where membarrier is unavailable (not Linux, an old kernel, a seccomp filter refusing it) or
/// under ThreadSanitizer (which cannot see its ordering), readers use a `seq_cst` fence instead,
/// and the writer does too: the classic symmetric form, as correct and as costly as before.
///
/// One domain (reader list, grace-period counter) serves every registry of the process; each
/// entry of a reader names the registry it reads, so a writer waits only for readers of its own
/// registry (a thread may hold a read of one registry while another is built or updated).
/// A thread's record holds 8 nested sections; deeper nesting falls back to a per-registry
/// counter with a seq_cst increment (correct, just the old cost). Records are never freed:
/// a thread's record is recycled by a later thread, so a writer walks the list without a lock.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#if defined(__linux__) && __has_include(<linux/membarrier.h>) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if !__has_feature(thread_sanitizer)
#define BULWARK_DETAIL_HAS_MEMBARRIER 1
#endif
#else
#define BULWARK_DETAIL_HAS_MEMBARRIER 1
#endif
#endif
#if defined(BULWARK_DETAIL_HAS_MEMBARRIER)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace bulwark::detail {

/// The stripe of the calling thread (threads are spread round robin over the stripes); kept for
/// other striped counters.
inline std::size_t read_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

/// One thread's reader record. Entry `d` describes the thread's read section at nesting depth
/// `d`: the registry it reads (`owner`) and the grace-period count it began in (`ctr`, 0 =
/// none). Written only by its thread; read by writers.
struct rcu_reader {
    static constexpr std::size_t depth = 8;
    struct entry {
        std::atomic<const void*> owner{nullptr};
        std::atomic<std::uint64_t> ctr{0};
    };
    entry entries[depth];
    std::uint32_t nesting = 0;       // the owning thread's only
    std::atomic<bool> in_use{false}; // a thread owns it (else a new thread may take it)
    rcu_reader* next = nullptr;      // immutable once the record is in the list
};

/// The process's reader list and grace-period counter.
class rcu_domain {
public:
    enum mode : int { undecided, asymmetric, symmetric };

    static rcu_domain& instance() noexcept { return domain_; }

    /// The calling thread's record (taken on its first read section: a lock once per thread,
    /// an allocation only when no record of an exited thread is free).
    static rcu_reader& self() noexcept {
        rcu_reader* r = mine_;
        if (r == nullptr) [[unlikely]]
            r = register_thread();
        return *r;
    }

    /// Begins a read section of `owner`; returns its depth (the token for `leave`), or
    /// `rcu_reader::depth` when nested too deep (then the caller uses its fallback counter).
    std::size_t enter(const void* owner) noexcept {
        rcu_reader& r = self();
        const std::size_t d = r.nesting++;
        if (d >= rcu_reader::depth) [[unlikely]]
            return rcu_reader::depth;
        rcu_reader::entry& e = r.entries[d];
        e.owner.store(owner, std::memory_order_relaxed);
        e.ctr.store(gp_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        // The stores above must be ordered before the caller's load of the published pointer:
        // with membarrier, the writer's barrier is the hardware half and a compiler barrier is
        // enough here; otherwise a full fence.
#if defined(BULWARK_DETAIL_HAS_MEMBARRIER)
        if (mode_.load(std::memory_order_relaxed) == asymmetric) [[likely]]
            std::atomic_signal_fence(std::memory_order_seq_cst);
        else
            std::atomic_thread_fence(std::memory_order_seq_cst);
#else
        std::atomic_thread_fence(std::memory_order_seq_cst); // no asymmetric fence here (or TSan)
#endif
        return d;
    }
    void leave(std::size_t d) noexcept {
        rcu_reader& r = *mine_;
        --r.nesting;
        if (d < rcu_reader::depth)
            r.entries[d].ctr.store(0, std::memory_order_release); // pairs with the writer's acquire
    }

    /// After the caller published a new pointer of `owner` (seq_cst): waits until every read
    /// section of `owner` that may have loaded the older pointer has ended. Holds no lock while
    /// it waits.
    void synchronize(const void* owner) {
        decide_mode();
        full_barrier_everywhere();
        const std::uint64_t now = gp_.fetch_add(1, std::memory_order_seq_cst) + 1;
        for (rcu_reader* r = head_.load(std::memory_order_acquire); r != nullptr; r = r->next)
            for (rcu_reader::entry& e : r->entries)
                // A section that began before the increment carries an older count; one that
                // began after it loads the new pointer (the barrier ordered the publication).
                for (unsigned spins = 0;; ++spins) {
                    const std::uint64_t c = e.ctr.load(std::memory_order_acquire);
                    if (c == 0 || c >= now || e.owner.load(std::memory_order_relaxed) != owner)
                        break;
                    if (spins > 64)
                        std::this_thread::yield();
                }
    }

    /// Which fence readers use (decided at the first registration or update).
    mode current_mode() const noexcept {
        return mode_.load(std::memory_order_relaxed);
    }

private:
    constexpr rcu_domain() noexcept = default;

    struct thread_holder {
        rcu_reader* r = nullptr;
        ~thread_holder() {
            if (r != nullptr)
                r->in_use.store(false, std::memory_order_release);
            mine_ = nullptr;
        }
    };

    // The first read section of a thread (cold, kept out of line so that `enter` stays a few
    // instructions and inlines into every pick).
    [[gnu::noinline, gnu::cold]] static rcu_reader* register_thread() noexcept {
        mine_ = &domain_.take_record();
        return mine_;
    }

    rcu_reader& take_record() noexcept { // out of memory on a thread's first read: terminate
        thread_local thread_holder holder;
        std::lock_guard lock(mutex_);
        decide_mode_locked();
        for (rcu_reader* r = head_.load(std::memory_order_acquire); r != nullptr; r = r->next)
            if (!r->in_use.load(std::memory_order_acquire)) {
                r->in_use.store(true, std::memory_order_relaxed);
                return *(holder.r = r);
            }
        auto* r = new rcu_reader; // once per thread beyond the most threads alive so far
        r->in_use.store(true, std::memory_order_relaxed);
        r->next = head_.load(std::memory_order_relaxed);
        head_.store(r, std::memory_order_release);
        return *(holder.r = r);
    }

    void decide_mode() {
        if (mode_.load(std::memory_order_acquire) == undecided) {
            std::lock_guard lock(mutex_);
            decide_mode_locked();
        }
    }
    // Decided once, before the first reader registers and before the first grace period, so a
    // reader never sees the mode change under it.
    void decide_mode_locked() noexcept {
        if (mode_.load(std::memory_order_relaxed) != undecided)
            return;
        mode m = symmetric;
#if defined(BULWARK_DETAIL_HAS_MEMBARRIER)
        const long cmds = ::syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
            ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
            m = asymmetric;
#endif
        mode_.store(m, std::memory_order_seq_cst);
    }

    void full_barrier_everywhere() noexcept {
#if defined(BULWARK_DETAIL_HAS_MEMBARRIER)
        if (mode_.load(std::memory_order_relaxed) == asymmetric &&
            ::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
            // After a successful registration the kernel documents no failure; the fence keeps the
            // symmetric guarantee if one came anyway.
#endif
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }

    static rcu_domain domain_;
    // This thread's record; constant-initialised and trivially destructible, so reading it
    // needs no thread-local guard (the holder that recycles the record at thread exit is
    // touched only on a thread's first read).
    static inline thread_local rcu_reader* mine_ = nullptr;

    std::mutex mutex_; // taking records and deciding the mode (cold); never held while waiting
    std::atomic<rcu_reader*> head_{nullptr};
    std::atomic<std::uint64_t> gp_{1};
    std::atomic<mode> mode_{undecided};
};

inline constinit rcu_domain rcu_domain::domain_{};

/// A registry's read sections: `enter` / `leave` around a read, `synchronize` after a
/// publication. **Cost (reader):** a thread-local load, a counter load and two plain stores in,
/// one release store out; no atomic read-modify-write and, with membarrier, no fence
/// instruction. Deeper than 8 nested sections on one thread: a seq_cst counter (the old cost).
class read_epoch {
public:
    /// Enter a read section; returns the token to pass to `leave`.
    std::size_t enter() noexcept {
        const std::size_t d = rcu_domain::instance().enter(this);
        if (d == rcu_reader::depth) [[unlikely]]
            deep_.fetch_add(1, std::memory_order_seq_cst);
        return d;
    }
    void leave(std::size_t d) noexcept {
        if (d == rcu_reader::depth) [[unlikely]]
            deep_.fetch_sub(1, std::memory_order_release);
        rcu_domain::instance().leave(d);
    }
    /// Writer side (serialized by the caller's lock), after publishing the new pointer with
    /// seq_cst.
    void synchronize() {
        rcu_domain::instance().synchronize(this);
        // Deep sections counted themselves (seq_cst) before loading the pointer.
        while (deep_.load(std::memory_order_acquire) != 0)
            std::this_thread::yield();
    }

private:
    std::atomic<std::size_t> deep_{0};
};

} // namespace bulwark::detail
