#pragma once
/// \file
/// The lock-free core of bulwark's bounded queues: Dmitry Vyukov's bounded MPMC ring (one
/// sequence number per slot), with a single-consumer variant and a "closed" bit in the enqueue
/// position so that closing and counting what was accepted are exact and cost nothing per push.

#include <atomic>
#include <bit>
#include <bulwark/detail/enum_text.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <bulwark/detail/validate.hpp>

namespace bulwark {

/// What a queue's `try_push` did (`mpmc_queue`, `mpsc_queue`, the lanes of `async_channel`).
enum class push_status : unsigned char {
    ok,     ///< the value is in the queue
    full,   ///< no free slot; the value was not touched
    closed, ///< the queue was closed; the value was not touched
};

/// The enumerator's name ("ok", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(push_status v) noexcept {
    switch (v) {
    case push_status::ok:
        return "ok";
    case push_status::full:
        return "full";
    case push_status::closed:
        return "closed";
    }
    return "unknown";
}

} // namespace bulwark

namespace bulwark::detail {

/// The largest ring `bounded_ring` builds: above it `std::bit_ceil` could overflow. The public
/// limit is `bulwark::max_channel_capacity` (async_channel.hpp), asserted equal there.
inline constexpr std::size_t max_ring_capacity = std::size_t{1} << 30;

/// The size we pad hot atomics to, so producers and consumers do not share a cache line.
inline constexpr std::size_t cache_line = 64;

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
/// (and is counted by it) or fails its CAS and sees the flag. Bit 62 is the "a consumer sleeps"
/// flag: the push CAS reads and clears it, so waking a sleeping consumer costs a publish
/// nothing while consumers are awake (no fence, no extra load).
template <class T, bool MultiConsumer>
class bounded_ring {
    static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
    static constexpr std::uint64_t sleep_bit = std::uint64_t{1} << 62;
    static constexpr std::uint64_t pos_mask = sleep_bit - 1;

    struct slot {
        std::atomic<std::uint64_t> seq{0};
        alignas(T) unsigned char storage[sizeof(T)];
        T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };

public:
    /// A ring of at least `capacity` slots (rounded up to a power of two, at least 2).
    /// Throws `invalid_argument_error` above `max_ring_capacity` (2^30): `std::bit_ceil` of a
    /// larger value could overflow (to 0 on SIZE_MAX, making a 1-slot ring), and the array
    /// would not fit anyway.
    explicit bounded_ring(std::size_t capacity)
        : mask_(checked_slots(capacity) - 1)
        , slots_(new slot[mask_ + 1]) {
        for (std::size_t i = 0; i <= mask_; ++i)
            slots_[i].seq.store(i, std::memory_order_relaxed);
    }
    static std::size_t checked_slots(std::size_t capacity) {
        require(capacity <= max_ring_capacity, "async_channel", "capacity", "<= 2^30", capacity);
        return std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity);
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
        bool sleepers = false;
        return try_push(std::forward<U>(v), sleepers);
    }

    /// As `try_push`; `sleepers` tells whether a consumer announced sleep (`prepare_sleep`)
    /// before this push: the caller must then `wake_sleepers()`. The push CAS clears the
    /// announcement, so a publish costs no extra fence or load to learn it.
    template <class U>
    push_status try_push(U&& v, bool& sleepers) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        std::uint64_t raw = enq_.load(std::memory_order_relaxed);
        std::uint64_t pos;
        slot* s;
        for (;;) {
            if (raw & closed_bit)
                return push_status::closed;
            pos = raw & pos_mask;
            s = &slots_[pos & mask_];
            std::uint64_t seq = s->seq.load(std::memory_order_acquire);
            auto dif = static_cast<std::int64_t>(seq - pos);
            if (dif == 0) {
                if (enq_.compare_exchange_weak(raw, pos + 1, std::memory_order_acq_rel,
                                               std::memory_order_relaxed))
                    break;
            } else if (dif < 0) {
                return push_status::full;
            } else {
                raw = enq_.load(std::memory_order_relaxed);
            }
        }
        ::new (static_cast<void*>(s->storage)) T(std::forward<U>(v));
        s->seq.store(pos + 1, std::memory_order_release);
        sleepers = (raw & sleep_bit) != 0;
        return push_status::ok;
    }

    /// A consumer about to sleep announces it; returns false when it must not sleep because a
    /// push already claimed a slot it has not popped. Then `wait_sleep(token)` sleeps until a
    /// push that saw the announcement, `close` or `interrupt_sleep` wakes it. (It waits on a
    /// 32-bit epoch: a futex word, not libstdc++'s proxy wait for 64-bit atomics.)
    bool prepare_sleep(std::uint32_t& token) noexcept {
        token = wake_epoch_.load(std::memory_order_acquire); // before announcing: no lost wake
        std::uint64_t old = enq_.fetch_or(sleep_bit, std::memory_order_acq_rel);
        return (old & pos_mask) == deq_.load(std::memory_order_acquire);
    }
    void wait_sleep(std::uint32_t token) const noexcept {
        wake_epoch_.wait(token, std::memory_order_acquire);
    }
    /// Wakes every consumer sleeping in `wait_sleep` (after a push saw `sleepers`).
    void wake_sleepers() noexcept {
        wake_epoch_.fetch_add(1, std::memory_order_acq_rel);
        wake_epoch_.notify_all();
    }
    /// Clears the announcement and wakes sleepers: for events other than a push (redelivery,
    /// stop). The caller makes its event visible first.
    void interrupt_sleep() noexcept {
        enq_.fetch_and(~sleep_bit, std::memory_order_acq_rel);
        wake_sleepers();
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
        std::uint64_t old = enq_.fetch_or(closed_bit, std::memory_order_acq_rel);
        wake_sleepers();
        return old & pos_mask;
    }
    bool closed() const noexcept { return enq_.load(std::memory_order_acquire) & closed_bit; }
    /// Pushes accepted so far (claimed slots; monotonic).
    std::uint64_t pushed() const noexcept {
        return enq_.load(std::memory_order_seq_cst) & pos_mask;
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
    std::atomic<std::uint32_t> wake_epoch_{0};
};

} // namespace bulwark::detail
