#pragma once
/// \file
/// The lock-free core of bulwark's bounded queues: Dmitry Vyukov's bounded MPMC ring (one
/// sequence number per slot), with a single-consumer variant and a "closed" bit in the enqueue
/// position so that closing and counting what was accepted are exact and cost nothing per push.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

/// The size we pad hot atomics to, so producers and consumers do not share a cache line.
inline constexpr std::size_t cache_line = 64;

/// What `try_push` did.
enum class push_status : unsigned char {
    ok,     ///< the value is in the queue
    full,   ///< no free slot; the value was not touched
    closed, ///< the queue was closed; the value was not touched
};

/// A busy-wait hint for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

/// Vyukov's bounded ring. `MultiConsumer = false` pops without a CAS (one consumer thread).
///
/// Slot `i` holds sequence `s`: `s == pos` means free for the push at `pos`, `s == pos + 1`
/// means full for the pop at `pos`. Positions are 63-bit; bit 63 of the enqueue position is the
/// closed flag, so a push that races with `close()` either claims its slot before the close
/// (and is counted by it) or fails its CAS and sees the flag.
template <class T, bool MultiConsumer>
class bounded_ring {
    static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;

    struct slot {
        std::atomic<std::uint64_t> seq{0};
        alignas(T) unsigned char storage[sizeof(T)];
        T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };

public:
    /// A ring of at least `capacity` slots (rounded up to a power of two, at least 2).
    explicit bounded_ring(std::size_t capacity)
        : mask_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity) - 1)
        , slots_(new slot[mask_ + 1]) {
        for (std::size_t i = 0; i <= mask_; ++i)
            slots_[i].seq.store(i, std::memory_order_relaxed);
    }
    bounded_ring(const bounded_ring&) = delete;
    bounded_ring& operator=(const bounded_ring&) = delete;
    ~bounded_ring() {
        while (try_pop()) {
        }
    }

    /// Constructs `T` from `v` in the next free slot. `v` is left untouched unless `ok`.
    template <class U>
    push_status try_push(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        std::uint64_t pos = enq_.load(std::memory_order_relaxed);
        slot* s;
        for (;;) {
            if (pos & closed_bit)
                return push_status::closed;
            s = &slots_[pos & mask_];
            std::uint64_t seq = s->seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - pos);
            if (dif == 0) {
                if (enq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
                    break;
            } else if (dif < 0) {
                return push_status::full;
            } else {
                pos = enq_.load(std::memory_order_relaxed);
            }
        }
        ::new (static_cast<void*>(s->storage)) T(std::forward<U>(v));
        s->seq.store(pos + 1, std::memory_order_release);
        return push_status::ok;
    }

    /// Takes the oldest value, or nothing when the queue is (momentarily) empty.
    std::optional<T> try_pop() noexcept(std::is_nothrow_move_constructible_v<T>) {
        std::optional<T> out;
        pop_into<!MultiConsumer>(out);
        return out;
    }

    /// Moves the oldest value into `out` (which must be empty); false when empty.
    /// `Single = true` skips the CAS: only valid while no other thread pops concurrently.
    template <bool Single = !MultiConsumer>
    bool pop_into(std::optional<T>& out) noexcept(std::is_nothrow_move_constructible_v<T>) {
        std::uint64_t pos = deq_.load(std::memory_order_relaxed);
        slot* s;
        for (;;) {
            s = &slots_[pos & mask_];
            std::uint64_t seq = s->seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - (pos + 1));
            if (dif == 0) {
                if constexpr (Single) {
                    deq_.store(pos + 1, std::memory_order_relaxed);
                    break;
                } else {
                    if (deq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
                        break;
                }
            } else if (dif < 0) {
                return false;
            } else {
                pos = deq_.load(std::memory_order_relaxed);
            }
        }
        out.emplace(std::move(*s->ptr()));
        s->ptr()->~T();
        s->seq.store(pos + mask_ + 1, std::memory_order_release);
        return true;
    }

    /// Refuses every later push; returns how many pushes were ever accepted (exact).
    std::uint64_t close() noexcept {
        return enq_.fetch_or(closed_bit, std::memory_order_acq_rel) & ~closed_bit;
    }
    bool closed() const noexcept { return enq_.load(std::memory_order_acquire) & closed_bit; }
    /// Pushes accepted so far (claimed slots; monotonic).
    std::uint64_t pushed() const noexcept {
        return enq_.load(std::memory_order_seq_cst) & ~closed_bit;
    }
    /// Pops completed so far (monotonic).
    std::uint64_t popped() const noexcept { return deq_.load(std::memory_order_seq_cst); }
    std::size_t capacity() const noexcept { return mask_ + 1; }
    /// A snapshot; exact only when no thread is pushing or popping.
    std::size_t size_approx() const noexcept {
        auto p = pushed(), q = popped();
        return p > q ? static_cast<std::size_t>(p - q) : 0;
    }

private:
    const std::size_t mask_;
    const std::unique_ptr<slot[]> slots_;
    alignas(cache_line) std::atomic<std::uint64_t> enq_{0};
    alignas(cache_line) std::atomic<std::uint64_t> deq_{0};
};

} // namespace bulwark::detail
