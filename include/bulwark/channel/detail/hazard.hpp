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
/// dispatch) takes another slot (a slot is in use while it holds a pointer). Records are never
/// freed; a record whose thread ended is reused.

#include <bulwark/runtime/detail/asymmetric_fence.hpp>

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

/// Decides (once) whether writers can fence every reader: the process's one registration with
/// membarrier (runtime/detail/asymmetric_fence.hpp, shared with the expiry service and the
/// registry's read sections).
[[gnu::noinline, gnu::cold]] inline bool decide_asymmetric_fences() noexcept {
    return asymmetric_fence::decide();
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
    if (asymmetric_fences())
        asymmetric_fence::heavy(true); // membarrier (a full fence if it ever failed)
    else
        std::atomic_thread_fence(std::memory_order_seq_cst);
}

/// The publish path's atomic loads and stores, always inlined. libstdc++'s `std::atomic<T>`
/// members are ordinary inline functions around always-inline ones, and GCC leaves them out of
/// line once a translation unit's inline budget is spent (seen in bench_channel: a call to
/// `atomic::load` in the middle of a publish). `std::atomic<T>` is standard-layout with the value
/// as its first member, so the builtins act on that value directly; `atomic_is_its_value`
/// checks what that relies on, at compile time, for every type used.
template <class T>
inline constexpr bool atomic_is_its_value =
    sizeof(std::atomic<T>) == sizeof(T) && alignof(std::atomic<T>) >= alignof(T) &&
    std::is_standard_layout_v<std::atomic<T>>&& std::atomic<T>::is_always_lock_free;

template <class T>
[[gnu::always_inline]] inline T load_acquire(const std::atomic<T>& a) noexcept {
#if defined(__GLIBCXX__)
    static_assert(atomic_is_its_value<T>, "hazard.hpp: std::atomic<T> is not laid out as T");
    return __atomic_load_n(reinterpret_cast<const T*>(&a), __ATOMIC_ACQUIRE);
#else
    return a.load(std::memory_order_acquire);
#endif
}
template <class T>
[[gnu::always_inline]] inline T load_relaxed(const std::atomic<T>& a) noexcept {
#if defined(__GLIBCXX__)
    static_assert(atomic_is_its_value<T>, "hazard.hpp: std::atomic<T> is not laid out as T");
    return __atomic_load_n(reinterpret_cast<const T*>(&a), __ATOMIC_RELAXED);
#else
    return a.load(std::memory_order_relaxed);
#endif
}
template <class T, class U>
[[gnu::always_inline]] inline void store_relaxed(std::atomic<T>& a, U v) noexcept {
#if defined(__GLIBCXX__)
    static_assert(atomic_is_its_value<T>, "hazard.hpp: std::atomic<T> is not laid out as T");
    __atomic_store_n(reinterpret_cast<T*>(&a), T(v), __ATOMIC_RELAXED);
#else
    a.store(T(v), std::memory_order_relaxed);
#endif
}
template <class T, class U>
[[gnu::always_inline]] inline void store_release(std::atomic<T>& a, U v) noexcept {
#if defined(__GLIBCXX__)
    static_assert(atomic_is_its_value<T>, "hazard.hpp: std::atomic<T> is not laid out as T");
    __atomic_store_n(reinterpret_cast<T*>(&a), T(v), __ATOMIC_RELEASE);
#else
    a.store(T(v), std::memory_order_release);
#endif
}
/// `std::atomic_signal_fence(seq_cst)`, always inlined: orders this thread's accesses for the
/// compiler only (the writer's `membarrier` fences the CPU).
[[gnu::always_inline]] inline void compiler_fence() noexcept {
#if defined(__GNUC__)
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}
/// The single-threaded policy's plain values: the same names, no atomicity.
template <class P>
[[gnu::always_inline]] inline auto load_acquire(const P& a) noexcept -> decltype(a.load()) {
    return a.load();
}

struct hazard_record {
    static constexpr std::size_t depth = 64;
    // A slot is in use while it holds a pointer: nesting needs no counter. Slot 0 is the one a
    // publish that is not nested takes.
    std::atomic<const void*> slots[depth]{};
    std::atomic<bool> taken{true};
    hazard_record* next = nullptr; // immutable once published
};

/// The process-wide list of thread records.
class hazard_domain {
public:
    static hazard_domain& instance() noexcept {
        static hazard_domain d;
        return d;
    }
    hazard_record* head() const noexcept { return head_.load(std::memory_order_acquire); }

    /// A record for the calling thread: a free one taken, or a new one pushed. Both are
    /// sequentially consistent and followed by a full fence, before the thread loads any list
    /// head: `alone` relies on it (the other side of that Dekker pair is a writer's exchange of
    /// the head, then its loads of the records).
    hazard_record* acquire() {
        for (hazard_record* r = head(); r != nullptr; r = r->next) {
            bool free = false;
            if (!r->taken.load(std::memory_order_relaxed) &&
                r->taken.compare_exchange_strong(free, true, std::memory_order_seq_cst)) {
                std::atomic_thread_fence(std::memory_order_seq_cst);
                return r;
            }
        }
        auto* r = new hazard_record;
        hazard_record* h = head_.load(std::memory_order_relaxed);
        do {
            r->next = h;
        } while (!head_.compare_exchange_weak(h, r, std::memory_order_seq_cst,
                                              std::memory_order_relaxed));
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return r;
    }

    /// True when no thread other than the owner of `mine` (null: no owner) holds a record. Call
    /// after exchanging a list's head (seq_cst): no other thread can then read a snapshot the
    /// exchange replaced, since a thread takes its record (`acquire`) before it loads a head, and
    /// one that let its record go has stopped reading (its release store is what this reads).
    /// A writer on a bus that one thread publishes on thus reclaims at once, without the
    /// process-wide fence.
    bool alone(const hazard_record* mine) const noexcept {
        for (hazard_record* r = head_.load(std::memory_order_seq_cst); r != nullptr; r = r->next)
            if (r != mine && r->taken.load(std::memory_order_seq_cst))
                return false;
        return true;
    }
    static void release(hazard_record* r) noexcept {
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

/// What every slot of every thread holds, read in one pass (call after publishing the
/// replacement and `heavy_fence()`), so that a writer checking many retired snapshots reads
/// the slots once instead of once per snapshot: a reclaim of 64 snapshots with a few threads'
/// records was tens of thousands of loads. Slots are nearly always empty; should more than
/// `capacity` hold a pointer, `holds` scans the slots again for each pointer (`protects`),
/// which is as correct: a later read can only find a slot emptied, or holding a pointer that a
/// reader will find replaced when it validates.
class hazard_scan {
public:
    static constexpr std::size_t capacity = 32;
    /// Every thread's slots.
    explicit hazard_scan(const hazard_domain& d) noexcept
        : domain_(&d) {
        for (hazard_record* r = d.head(); r != nullptr && !overflow_; r = r->next)
            add(*r);
    }
    /// Only `mine`'s slots (null: none), when `d.alone(mine)`: the calling thread's own, which
    /// it may hold while it writes from inside a handler.
    hazard_scan(const hazard_domain& d, const hazard_record* mine) noexcept
        : domain_(&d) {
        if (mine != nullptr)
            add(*mine);
    }
    /// True when a slot held `p` at the scan.
    bool holds(const void* p) const noexcept {
        if (overflow_) [[unlikely]]
            return domain_->protects(p);
        for (std::size_t i = 0; i < n_; ++i)
            if (held_[i] == p)
                return true;
        return false;
    }

private:
    void add(const hazard_record& r) noexcept {
        for (const auto& s : r.slots)
            if (const void* p = s.load(std::memory_order_seq_cst); p != nullptr) {
                if (n_ == capacity) {
                    overflow_ = true;
                    return;
                }
                held_[n_++] = p;
            }
    }

    const hazard_domain* domain_;
    const void* held_[capacity];
    std::size_t n_ = 0;
    bool overflow_ = false;
};

struct hazard_owner {
    hazard_record* rec = nullptr;
    ~hazard_owner();
};

/// This thread's record, set only when readers may take the light path (writers fence with
/// `membarrier`): so one load and one test decide both "has a record" and "light protocol".
/// Trivial, so reading it costs no TLS guard.
inline thread_local hazard_record* tls_hazard = nullptr;

/// The thread's record holder (returns the record to the domain when the thread ends).
inline hazard_owner& thread_hazard_owner() noexcept {
    static thread_local hazard_owner owner;
    return owner;
}

inline hazard_owner::~hazard_owner() {
    if (rec != nullptr) {
        tls_hazard = nullptr; // the record may now go to another thread
        hazard_domain::release(std::exchange(rec, nullptr)); // a later publish takes a new one
    }
}

/// The calling thread's record, acquired on first use; publishes it to `tls_hazard` when the
/// light protocol is available.
[[gnu::noinline]] inline hazard_record* acquire_thread_record() {
    hazard_owner& owner = thread_hazard_owner();
    if (owner.rec == nullptr)
        owner.rec = hazard_domain::instance().acquire();
    if (asymmetric_fences())
        tls_hazard = owner.rec;
    return owner.rec;
}

/// Protects the value of an atomic pointer for the guard's lifetime.
///
/// The common case — a publish that is not nested, on a thread that published before, with
/// asymmetric fences — takes slot 0 of the thread's record with no counter: a slot is in use
/// exactly while it holds a non-null pointer. A nested publish finds slot 0 taken and takes the
/// first free slot out of line. A null value protects nothing and may share a slot.
template <class T>
class hazard_guard {
public:
    [[gnu::always_inline]] explicit hazard_guard(const std::atomic<T*>& src) {
        hazard_record* r = tls_hazard;
        if (r != nullptr && load_relaxed(r->slots[0]) == nullptr) [[likely]] {
            std::atomic<const void*>* slot = &r->slots[0];
            T* p = load_acquire(src);
            for (;;) {
                store_relaxed(*slot, p);
                compiler_fence(); // the writer fences the CPU
                T* again = load_acquire(src);
                if (again == p) [[likely]]
                    break;
                p = again;
            }
            slot_ = slot;
            ptr_ = p;
        } else {
            // Returned in registers: the guard itself need not live in memory.
            auto [slot, p] = protect_slow(src);
            slot_ = slot;
            ptr_ = p;
        }
    }
    hazard_guard(const hazard_guard&) = delete;
    hazard_guard& operator=(const hazard_guard&) = delete;
    [[gnu::always_inline]] ~hazard_guard() { store_release(*slot_, nullptr); }
    T* get() const noexcept { return ptr_; }

private:
    /// The first publish of a thread, a nested publish, or readers without asymmetric fences.
    struct taken {
        std::atomic<const void*>* slot;
        T* ptr;
    };
    [[gnu::noinline]] static taken protect_slow(const std::atomic<T*>& src) {
        hazard_record* r = acquire_thread_record();
        std::atomic<const void*>* slot = nullptr;
        for (auto& s : r->slots)
            if (s.load(std::memory_order_relaxed) == nullptr) {
                slot = &s;
                break;
            }
        if (slot == nullptr) [[unlikely]]
            too_deep();
        const bool light = asymmetric_fences();
        T* p = src.load(std::memory_order_acquire);
        for (;;) {
            T* again;
            if (light) {
                slot->store(p, std::memory_order_relaxed);
                std::atomic_signal_fence(std::memory_order_seq_cst);
                again = src.load(std::memory_order_acquire);
            } else {
                slot->store(p, std::memory_order_seq_cst);
                again = src.load(std::memory_order_seq_cst);
            }
            if (again == p)
                break;
            p = again;
        }
        return {slot, p};
    }
    [[noreturn, gnu::noinline, gnu::cold]] static void too_deep() {
        throw std::length_error("bulwark::bus: publishing nested more than 64 levels deep "
                                "inside handlers (a publish loop?)");
    }

    std::atomic<const void*>* slot_;
    T* ptr_;
};

} // namespace bulwark::detail
