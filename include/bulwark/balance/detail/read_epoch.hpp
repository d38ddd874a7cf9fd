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
/// A thread's record holds 8 sections at once (nested, or ended in any order): a section takes
/// the first free entry (`ctr == 0`; only the owning thread writes its entries, so its own
/// relaxed load is exact). More than 8 at once take another record, linked from the thread's
/// first and in the writers' list like any other (so every section, however deep, is an entry
/// and ending one never branches). The argument above holds for them unchanged: a record is
/// pushed on the list before its thread's R1, so in case (a) the barrier makes the push visible
/// to W4's walk as well. Records are never freed: a thread's records are recycled by a later
/// thread, so a writer walks the list without a lock.
///
/// The fast path, what a pick pays: a thread-local pointer to the thread's first entry, a test
/// that it is free, two plain stores (owner, count) and one load (the count) — no call, no
/// nesting counter, no mode test. The pointer leads to the first entry only once the thread is
/// registered in asymmetric mode; before that (and in symmetric mode) it leads to a constant
/// entry that is never free, so the test sends the section out of line, where registration,
/// the fence of symmetric mode, nesting and extra records live. Ending a section is one
/// release store to its entry (the token `enter` returned).

#include <bulwark/runtime/detail/asymmetric_fence.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

namespace bulwark::detail {

/// The stripe of the calling thread (threads are spread round robin over the stripes); kept for
/// other striped counters.
inline std::size_t read_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

/// One thread's reader record. Each entry describes one open read section of the thread: the
/// registry it reads (`owner`) and the grace-period count it began in (`ctr`, 0 = free).
/// Written only by its thread; read by writers.
struct rcu_reader {
    static constexpr std::size_t depth = 8;
    struct entry {
        std::atomic<const void*> owner{nullptr};
        std::atomic<std::uint64_t> ctr{0};
    };
    entry entries[depth];
    std::atomic<bool> in_use{false}; // a thread owns it (else a new thread may take it)
    rcu_reader* next = nullptr;      // immutable once the record is in the list
    rcu_reader* more = nullptr;      // the owning thread's only: its next record, when 8 are open
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

    /// The entry the fast path tries: the calling thread's first entry once it is registered
    /// in asymmetric mode, else an entry that is never free.
    static rcu_reader::entry* first_entry() noexcept { return first_; }

    /// Begins a read section of `owner` in `e`, the calling thread's free `first_entry()` (the
    /// inlined fast path: asymmetric mode, so a compiler barrier orders the stores before the
    /// caller's load of the published pointer; the writer's membarrier is the hardware half).
    void begin(rcu_reader::entry& e, const void* owner) noexcept {
        e.owner.store(owner, std::memory_order_relaxed);
        e.ctr.store(gp_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }

    /// Begins a read section of `owner` on any path: registers the thread on its first section,
    /// takes the first free entry of its records (another record when all are open) and fences
    /// as the mode requires. Returns the entry, the token for `leave`.
    [[gnu::noinline]] rcu_reader::entry* enter_slow(const void* owner) noexcept {
        for (rcu_reader* r = &self();; r = r->more) {
            for (rcu_reader::entry& e : r->entries)
                if (e.ctr.load(std::memory_order_relaxed) == 0) {
                    e.owner.store(owner, std::memory_order_relaxed);
                    e.ctr.store(gp_.load(std::memory_order_relaxed), std::memory_order_relaxed);
                    fence_after_entry();
                    return &e;
                }
            if (r->more == nullptr) {
                std::lock_guard lock(mutex_);
                r->more = &take_free_locked();
            }
        }
    }
    /// Ends the section of `e` (`begin`'s `first_entry()` or what `enter_slow` returned).
    static void leave(rcu_reader::entry& e) noexcept {
        e.ctr.store(0, std::memory_order_release); // pairs with the writer's acquire
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
    mode current_mode() const noexcept { return mode_.load(std::memory_order_relaxed); }

private:
    constexpr rcu_domain() noexcept = default;

    struct thread_holder {
        rcu_reader* r = nullptr;
        ~thread_holder() {
            first_ = &busy_;
            mine_ = nullptr;
            while (r != nullptr) { // the thread's records go back to the list, unlinked
                rcu_reader* more = r->more;
                r->more = nullptr;
                r->in_use.store(false, std::memory_order_release);
                r = more;
            }
        }
    };

    // The first read section of a thread (cold, kept out of line so that `enter` stays a few
    // instructions and inlines into every pick).
    [[gnu::noinline, gnu::cold]] static rcu_reader* register_thread() noexcept {
        mine_ = &domain_.take_record();
        // The mode is decided by now (take_record decides it first) and never changes.
        if (domain_.mode_.load(std::memory_order_relaxed) == asymmetric)
            first_ = &mine_->entries[0];
        return mine_;
    }

    void fence_after_entry() const noexcept {
        if (mode_.load(std::memory_order_relaxed) == asymmetric)
            asymmetric_fence::light();
        else
            std::atomic_thread_fence(std::memory_order_seq_cst); // no membarrier (or TSan)
    }

    rcu_reader& take_record() noexcept { // out of memory on a thread's first read: terminate
        thread_local thread_holder holder;
        std::lock_guard lock(mutex_);
        decide_mode_locked();
        return *(holder.r = &take_free_locked());
    }
    // A record no thread owns, or a new one (once per record beyond the most in use so far).
    rcu_reader& take_free_locked() noexcept {
        for (rcu_reader* r = head_.load(std::memory_order_acquire); r != nullptr; r = r->next)
            if (!r->in_use.load(std::memory_order_acquire)) {
                r->in_use.store(true, std::memory_order_relaxed);
                return *r;
            }
        auto* r = new rcu_reader;
        r->in_use.store(true, std::memory_order_relaxed);
        r->next = head_.load(std::memory_order_relaxed);
        head_.store(r, std::memory_order_release);
        return *r;
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
        // The process's one registration for expedited membarriers (shared with the expiry
        // service: runtime/detail/asymmetric_fence.hpp).
        mode_.store(asymmetric_fence::decide() ? asymmetric : symmetric, std::memory_order_seq_cst);
    }

    void full_barrier_everywhere() noexcept {
        if (mode_.load(std::memory_order_relaxed) == asymmetric)
            asymmetric_fence::heavy(true); // membarrier (a full fence if it ever failed)
        else
            std::atomic_thread_fence(std::memory_order_seq_cst);
    }

    static rcu_domain domain_;
    // This thread's record; constant-initialised and trivially destructible, so reading it
    // needs no thread-local guard (the holder that recycles the record at thread exit is
    // touched only on a thread's first read).
    static inline thread_local rcu_reader* mine_ = nullptr;
    // The fast path's entry (see `first_entry`), constant-initialised to `busy_`.
    static thread_local rcu_reader::entry* first_;
    static rcu_reader::entry busy_; // never free: ctr is never 0

    std::mutex mutex_; // taking records and deciding the mode (cold); never held while waiting
    std::atomic<rcu_reader*> head_{nullptr};
    std::atomic<std::uint64_t> gp_{1};
    std::atomic<mode> mode_{undecided};
};

inline constinit rcu_domain rcu_domain::domain_{};
inline constinit rcu_reader::entry rcu_domain::busy_{nullptr, ~std::uint64_t{0}};
inline constinit thread_local rcu_reader::entry* rcu_domain::first_ = &rcu_domain::busy_;

/// A registry's read sections: `enter` / `leave` around a read, `synchronize` after a
/// publication. **Cost (reader):** a thread-local load, a test, two plain stores and a counter
/// load in; one release store out; no call, no atomic read-modify-write and, with membarrier,
/// no fence instruction. A thread's first section, nested sections and symmetric mode take an
/// out-of-line path (a call; symmetric mode adds its seq_cst fence).
class read_epoch {
public:
    /// The token of a read section: its entry.
    using token = rcu_reader::entry*;

    /// Enter a read section; returns the token to pass to `leave`.
    token enter() noexcept {
        rcu_reader::entry* e = rcu_domain::first_entry();
        if (e->ctr.load(std::memory_order_relaxed) != 0) [[unlikely]]
            return rcu_domain::instance().enter_slow(this);
        rcu_domain::instance().begin(*e, this);
        return e;
    }
    void leave(token t) noexcept { rcu_domain::leave(*t); }
    /// Writer side (serialized by the caller's lock), after publishing the new pointer with
    /// seq_cst.
    void synchronize() { rcu_domain::instance().synchronize(this); }
};

} // namespace bulwark::detail
