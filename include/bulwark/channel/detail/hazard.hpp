#pragma once
/// \file
/// Hazard slots (Michael, "Hazard Pointers", 2004) protecting the copy-on-write subscriber
/// snapshots of the multi-threaded bus: a publisher announces the snapshot it reads in a slot of
/// its own thread record (one store, no shared-cache-line write, no lock, no allocation); a
/// writer frees a replaced snapshot only when no slot holds it.
///
/// The store-load fence a reader needs between announcing a snapshot and re-reading the head is
/// made asymmetric where Linux allows it (as folly's hazptr does): readers only stop the compiler
/// from reordering, and writers — rare — run `membarrier(PRIVATE_EXPEDITED)`, which executes a
/// full fence on every running thread of the process. Elsewhere (or under TSan, which does not
/// model it) readers store with `seq_cst` instead.
///
/// Each thread owns one record of `depth` slots, so publishing from inside a handler (nested
/// dispatch) takes the next slot. Records are never freed; a record whose thread ended is reused.

#include <atomic>
#include <cstddef>
#include <stdexcept>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define BULWARK_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BULWARK_DETAIL_TSAN 1
#endif
#endif

namespace bulwark::detail {

/// Decides (once) whether writers can fence every reader: registers with membarrier.
[[gnu::noinline, gnu::cold]] inline bool decide_asymmetric_fences() noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(BULWARK_DETAIL_TSAN)
    static const bool ok = [] {
        long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
               syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    }();
    return ok;
#else
    return false;
#endif
}

/// The decision cached in a constant-initialised word (0 = not decided, 1 = yes, 2 = no), so a
/// publish reads it with one plain load instead of a function-local static's guard.
inline constinit std::atomic<int> asymmetric_fences_state{0};

/// True when writers can fence every reader (`membarrier` registered); decided once.
inline bool asymmetric_fences() noexcept {
    int st = asymmetric_fences_state.load(std::memory_order_relaxed);
    if (st == 0) [[unlikely]] {
        st = decide_asymmetric_fences() ? 1 : 2;
        asymmetric_fences_state.store(st, std::memory_order_relaxed);
    }
    return st == 1;
}

/// The writer's side of the fence: after publishing a new head, before scanning the slots.
inline void heavy_fence() noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(BULWARK_DETAIL_TSAN)
    if (asymmetric_fences() &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
#endif
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

struct hazard_record {
    static constexpr std::size_t depth = 64;
    std::atomic<const void*> slots[depth]{};
    std::atomic<bool> taken{true};
    hazard_record* next = nullptr; // immutable once published
    std::size_t used = 0;          // slots in use; touched only by the owning thread
};

/// The process-wide list of thread records.
class hazard_domain {
public:
    static hazard_domain& instance() noexcept {
        static hazard_domain d;
        return d;
    }
    hazard_record* head() const noexcept { return head_.load(std::memory_order_acquire); }

    hazard_record* acquire() {
        for (hazard_record* r = head(); r != nullptr; r = r->next) {
            bool free = false;
            if (!r->taken.load(std::memory_order_relaxed) &&
                r->taken.compare_exchange_strong(free, true, std::memory_order_acquire))
                return r;
        }
        auto* r = new hazard_record;
        hazard_record* h = head_.load(std::memory_order_relaxed);
        do {
            r->next = h;
        } while (!head_.compare_exchange_weak(h, r, std::memory_order_release,
                                              std::memory_order_relaxed));
        return r;
    }
    static void release(hazard_record* r) noexcept {
        r->used = 0;
        r->taken.store(false, std::memory_order_release);
    }

    /// True when any slot of any thread holds `p` (call after publishing the replacement and
    /// `heavy_fence()`).
    bool protects(const void* p) const noexcept {
        for (hazard_record* r = head(); r != nullptr; r = r->next)
            for (const auto& s : r->slots)
                if (s.load(std::memory_order_seq_cst) == p)
                    return true;
        return false;
    }

private:
    hazard_domain() = default;
    std::atomic<hazard_record*> head_{nullptr};
};

struct hazard_owner {
    hazard_record* rec = nullptr;
    ~hazard_owner();
};

inline thread_local hazard_record* tls_hazard = nullptr; // trivial: no TLS guard on the hot path

inline hazard_owner::~hazard_owner() {
    if (rec != nullptr) {
        tls_hazard = nullptr; // the record may now go to another thread
        hazard_domain::release(rec);
    }
}

[[gnu::noinline]] inline hazard_record* acquire_thread_record() {
    static thread_local hazard_owner owner; // returns the record when the thread ends
    owner.rec = hazard_domain::instance().acquire();
    tls_hazard = owner.rec;
    return owner.rec;
}

/// Protects the value of an atomic pointer for the guard's lifetime.
template <class T>
class hazard_guard {
public:
    explicit hazard_guard(const std::atomic<T*>& src) {
        hazard_record* r = tls_hazard;
        if (r == nullptr) [[unlikely]]
            r = acquire_thread_record();
        const std::size_t used = r->used;
        if (used == hazard_record::depth) [[unlikely]]
            too_deep();
        std::atomic<const void*>* slot = &r->slots[used];
        T* p = src.load(std::memory_order_acquire);
        if (p == nullptr) { // nothing to protect: the slot stays free
            slot_ = nullptr;
            ptr_ = nullptr;
            return;
        }
        const bool light = asymmetric_fences();
        for (;;) {
            T* again;
            if (light) [[likely]] {
                slot->store(p, std::memory_order_relaxed);
                std::atomic_signal_fence(std::memory_order_seq_cst); // the writer fences the CPU
                again = src.load(std::memory_order_acquire);
            } else {
                slot->store(p, std::memory_order_seq_cst);
                again = src.load(std::memory_order_seq_cst);
            }
            if (again == p) [[likely]]
                break;
            p = again;
            if (p == nullptr) {
                slot->store(nullptr, std::memory_order_relaxed);
                slot_ = nullptr;
                ptr_ = nullptr;
                return;
            }
        }
        r->used = used + 1;
        slot_ = slot;
        ptr_ = p;
    }
    hazard_guard(const hazard_guard&) = delete;
    hazard_guard& operator=(const hazard_guard&) = delete;
    // The thread's record is found again through the thread-local pointer (one %fs load)
    // rather than kept in the guard: a smaller guard stays in registers across the handlers'
    // calls.
    ~hazard_guard() {
        if (slot_ != nullptr) {
            slot_->store(nullptr, std::memory_order_release);
            --tls_hazard->used;
        }
    }
    T* get() const noexcept { return ptr_; }

private:
    [[noreturn, gnu::noinline, gnu::cold]] static void too_deep() {
        throw std::length_error("bulwark::bus: publishing nested more than 64 levels deep "
                                "inside handlers (a publish loop?)");
    }

    std::atomic<const void*>* slot_;
    T* ptr_;
};

} // namespace bulwark::detail
