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
/// Where membarrier is unavailable (not Linux, an old kernel, a seccomp filter refusing it) or
/// under ThreadSanitizer (which cannot see its ordering), readers use a `seq_cst` fence instead,
/// and the writer does too: the classic symmetric form, as correct and as costly as before.
///
/// One domain serves every registry of the process: a writer waits for readers of any
/// registry, which hold their section only for the nanoseconds of one pick.

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

class rcu_domain;

/// One thread's reader state: `ctr` is 0 outside a read section, else the grace-period count
/// the outermost section started in. Written only by its thread; read by writers.
struct rcu_reader {
    std::atomic<std::uint64_t> ctr{0};
    std::uint32_t nesting = 0;
    rcu_reader* prev = nullptr;
    rcu_reader* next = nullptr;
    bool linked = false;
};

/// The process's reader list and grace-period counter.
class rcu_domain {
public:
    enum mode : int { undecided, asymmetric, symmetric };

    static rcu_domain& instance() noexcept { return domain_; }

    /// The calling thread's record (registered on its first read section: one lock, once per
    /// thread; the record is unlinked when the thread exits).
    static rcu_reader& self() noexcept {
        if (mine_ == nullptr) [[unlikely]]
            mine_ = &register_thread();
        return *mine_;
    }

    void enter() noexcept {
        rcu_reader& r = self();
        if (r.nesting++ == 0) {
            r.ctr.store(gp_.load(std::memory_order_relaxed), std::memory_order_relaxed);
            // The store above must be ordered before the caller's load of the published pointer.
            if (mode_.load(std::memory_order_relaxed) == asymmetric)
                std::atomic_signal_fence(std::memory_order_seq_cst); // the writer's membarrier
                                                                     // is the hardware half
            else
                std::atomic_thread_fence(std::memory_order_seq_cst);
        }
    }
    void leave() noexcept {
        rcu_reader& r = self();
        if (--r.nesting == 0)
            r.ctr.store(0, std::memory_order_release); // the writer's acquire pairs with it
    }

    /// After the caller published a new pointer (seq_cst): waits until every read section that
    /// may have loaded the older pointer has ended.
    void synchronize() noexcept {
        std::lock_guard lock(mutex_);
        decide_mode_locked();
        full_barrier_everywhere();
        const std::uint64_t now = gp_.fetch_add(1, std::memory_order_seq_cst) + 1;
        for (rcu_reader* r = head_; r != nullptr; r = r->next) {
            // A section that began before the increment carries an older count; one that began
            // after it loaded the new pointer (the barrier above ordered the publication first).
            for (unsigned spins = 0;; ++spins) {
                const std::uint64_t c = r->ctr.load(std::memory_order_acquire);
                if (c == 0 || c >= now)
                    break;
                if (spins > 64)
                    std::this_thread::yield();
            }
        }
    }

    /// Which fence readers use (decided at the first registration or update).
    mode current_mode() const noexcept { return mode_.load(std::memory_order_relaxed); }

private:
    constexpr rcu_domain() noexcept = default;

    struct thread_record {
        rcu_reader r;
        ~thread_record() {
            domain_.unlink(r);
            mine_ = nullptr;
        }
    };

    static rcu_reader& register_thread() noexcept {
        thread_local thread_record rec;
        domain_.link(rec.r);
        return rec.r;
    }

    void link(rcu_reader& r) noexcept {
        std::lock_guard lock(mutex_);
        decide_mode_locked();
        r.next = head_;
        if (head_ != nullptr)
            head_->prev = &r;
        head_ = &r;
        r.linked = true;
    }
    void unlink(rcu_reader& r) noexcept {
        std::lock_guard lock(mutex_);
        if (!r.linked)
            return;
        (r.prev != nullptr ? r.prev->next : head_) = r.next;
        if (r.next != nullptr)
            r.next->prev = r.prev;
        r.linked = false;
    }

    // Decided once, before any reader exists and before any grace period, so a reader never
    // sees the mode change under it.
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
            // A failure after a successful registration cannot happen (the kernel documents none
            // but EINVAL for an unregistered process); the fence keeps the symmetric guarantee.
#endif
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }

    static rcu_domain domain_;
    // This thread's record; constant-initialised and trivially destructible, so reading it
    // needs no thread-local guard (the record itself, with its unlinking destructor, is touched
    // only on a thread's first read).
    static inline thread_local rcu_reader* mine_ = nullptr;

    std::mutex mutex_; // guards the list; writers hold it through a grace period
    rcu_reader* head_ = nullptr;
    std::atomic<std::uint64_t> gp_{1};
    std::atomic<mode> mode_{undecided};
};

inline constinit rcu_domain rcu_domain::domain_{};

/// A registry's handle on the domain: `enter` / `leave` around a read, `synchronize` after a
/// publication. **Cost (reader):** a thread-local load, a counter load and a plain store in, a
/// release store out; no atomic read-modify-write and, with membarrier, no fence instruction.
class read_epoch {
public:
    /// Enter a read section; returns the token to pass to `leave`.
    std::size_t enter() noexcept {
        rcu_domain::instance().enter();
        return 0;
    }
    void leave(std::size_t) noexcept { rcu_domain::instance().leave(); }
    /// Writer side, after publishing the new pointer with seq_cst.
    void synchronize() noexcept { rcu_domain::instance().synchronize(); }
};

} // namespace bulwark::detail
