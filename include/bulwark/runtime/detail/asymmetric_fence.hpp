#pragma once
/// \file
/// An asymmetric fence for a Dekker-style handshake between a frequent side (a caller's success
/// path) and a rare one (a background thread): the frequent side pairs a plain store and a later
/// load with a compiler barrier only; the rare side runs `membarrier(MEMBARRIER_CMD_PRIVATE_
/// EXPEDITED)`, which makes every running thread of the process execute a full memory barrier
/// (a thread that is not running passes a context switch, itself a full barrier, before it runs
/// again). No public name.
///
/// **The guarantee (store buffering excluded):** the frequent side does (F1) store A, compiler
/// barrier, (F2) load B; the rare side does (R1) store B, (R2) `heavy()`, (R3) load A. Then F2
/// sees R1's store or R3 sees F1's (or both). Proof: the barrier that R2 forces on the frequent
/// thread falls either after F1 in its program order — F1 is then globally visible before R2
/// returns, so R3 sees it — or before F1, hence before F2; R1 was visible before R2 began
/// (the system call is a full barrier on the rare side), so F2 sees it. This is the argument of
/// `balance/detail/read_epoch.hpp` (userspace RCU's "memb" flavour) for a single pair of words.
///
/// Where membarrier is unavailable (not Linux, an old kernel, a seccomp filter refusing it) or
/// under ThreadSanitizer (which cannot see the barrier the kernel forces), both sides use
/// sequentially consistent operations instead (`frequent_store` / `frequent_load` choose the
/// order): the classic symmetric Dekker, as correct and as costly as an atomic
/// read-modify-write.
///
/// This is the process's one membarrier registration: the expiry service, the registry's read
/// sections (`balance/detail/read_epoch.hpp`) and the bus's hazard slots
/// (`channel/detail/hazard.hpp`) all decide their mode through `decide()`.

#include <atomic>

#if defined(__linux__) && __has_include(<linux/membarrier.h>) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if !__has_feature(thread_sanitizer)
#define BULWARK_DETAIL_ASYMMETRIC_FENCE 1
#endif
#else
#define BULWARK_DETAIL_ASYMMETRIC_FENCE 1
#endif
#endif
#if defined(BULWARK_DETAIL_ASYMMETRIC_FENCE)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace bulwark::detail {

/// The process-wide choice between the asymmetric (membarrier) and the symmetric (seq_cst) form.
/// Decided once by `decide()`, before any frequent side runs; it never changes afterwards.
class asymmetric_fence {
public:
    /// Registers the process for expedited membarriers (once; later calls return the choice).
    /// Call it before handing the mode to a frequent side (under a lock or a static init).
    static bool decide() noexcept {
        static const bool asym = [] {
#if defined(BULWARK_DETAIL_ASYMMETRIC_FENCE)
            const long cmds = ::syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
            return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                   ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
            return false;
#endif
        }();
        return asym;
    }

    /// The frequent side's store (F1): release when asymmetric (the compiler barrier `light()`
    /// follows it), seq_cst otherwise. Two stores with constant orders behind a branch, never
    /// one store with a computed order: GCC compiles an order it cannot see at compile time as
    /// seq_cst (an `xchg` on x86, about 3 ns), which is what the asymmetric form exists to avoid.
    template <class T>
    [[gnu::always_inline]] static void frequent_store(std::atomic<T>& a, T v, bool asym) noexcept {
        if (asym) [[likely]]
            a.store(v, std::memory_order_release);
        else
            a.store(v, std::memory_order_seq_cst);
    }
    /// The frequent side's load (F2): relaxed when asymmetric, seq_cst otherwise (see above).
    template <class T>
    [[gnu::always_inline]] static T frequent_load(const std::atomic<T>& a, bool asym) noexcept {
        if (asym) [[likely]]
            return a.load(std::memory_order_relaxed);
        return a.load(std::memory_order_seq_cst);
    }
    /// Between F1 and F2 on the frequent side: a compiler barrier (emits no instruction; in the
    /// symmetric mode both operations are seq_cst and it is not needed).
    static void light() noexcept {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    /// R2 on the rare side: membarrier when asymmetric; otherwise nothing (the rare side's own
    /// operations are seq_cst: use `std::memory_order_seq_cst` for R1 and R3).
    static void heavy(bool asym) noexcept {
#if defined(BULWARK_DETAIL_ASYMMETRIC_FENCE)
        // After a successful registration the kernel documents no failure; a full fence keeps
        // the rare side's half if one came anyway.
        if (asym && ::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
            std::atomic_thread_fence(std::memory_order_seq_cst);
#else
        (void)asym;
#endif
    }
};

} // namespace bulwark::detail
