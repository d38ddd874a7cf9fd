#pragma once
/// \file
/// The state core of `bulkhead`: lock-free permits on the fast path, and a queue of waiters
/// (each woken through its own stop source, so one mechanism serves a blocked thread and a
/// suspended coroutine, on real or manual time).

#include <bulwark/core/context.hpp>
#include <bulwark/runtime/any_clock.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <stop_token>

namespace bulwark::detail {

/// One wait of a caller for a permit (on the caller's stack or coroutine frame). Woken by a
/// releaser, or by the caller's own stop request, through `wake`.
struct bulkhead_waiter {
    struct forward {
        std::stop_source* target;
        void operator()() const noexcept { target->request_stop(); }
    };
    explicit bulkhead_waiter(std::stop_token caller)
        : on_caller_stop(std::move(caller), forward{&wake}) {}
    bulkhead_waiter(const bulkhead_waiter&) = delete;

    std::stop_source wake{};
    std::stop_callback<forward> on_caller_stop;
    bulkhead_waiter* prev = nullptr;
    bulkhead_waiter* next = nullptr;
    bool linked = false;
};

class bulkhead_state {
public:
    bulkhead_state(std::size_t max_concurrent, std::size_t max_queued) noexcept
        : max_concurrent_(max_concurrent)
        , max_queued_(max_queued) {}

    /// Takes a permit if one is free (lock-free; barging: a newcomer may beat a woken waiter,
    /// like resilience4j's bulkhead with fair call handling off).
    /// (seq_cst reads: a queued caller's re-check must see a release that missed its queue
    /// entry — the other half of the handshake in `release`; free on x86, where the CAS is a
    /// full barrier anyway and loads are plain.)
    [[gnu::always_inline]] bool try_acquire() noexcept {
        std::size_t cur = active_.load(std::memory_order_seq_cst);
        while (cur < max_concurrent_.load(std::memory_order_relaxed))
            if (active_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst,
                                              std::memory_order_seq_cst))
                return true;
        return false;
    }

    /// Returns a permit and wakes the first waiter, if any.
    [[gnu::always_inline]] void release() noexcept {
        active_.fetch_sub(1, std::memory_order_seq_cst);
        // Pairs with the seq_cst increment in try_enqueue: either a waiter's re-check after
        // linking sees the free permit, or this load sees the waiter (no lost wake-up).
        if (queued_.load(std::memory_order_seq_cst) != 0)
            wake_one();
    }

    /// Reserves a place in the queue (bounded by max_queued).
    bool try_enqueue() noexcept {
        std::size_t cur = queued_.load(std::memory_order_relaxed);
        while (cur < max_queued_)
            if (queued_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst,
                                              std::memory_order_relaxed))
                return true;
        return false;
    }
    void leave_queue() noexcept { queued_.fetch_sub(1, std::memory_order_seq_cst); }

    /// Links `w` at the back, then re-checks for a permit. True: acquired (and unlinked).
    bool link_and_try(bulkhead_waiter& w) {
        {
            std::lock_guard lock(mutex_);
            w.prev = tail_;
            w.next = nullptr;
            (tail_ != nullptr ? tail_->next : head_) = &w;
            tail_ = &w;
            w.linked = true;
        }
        if (!try_acquire())
            return false;
        unlink(w);
        return true;
    }

    /// Unlinks `w` after a wait (a releaser may have unlinked it already, to wake it). The
    /// caller then tries for a permit before leaving, so a wake-up is never lost.
    void unlink(bulkhead_waiter& w) noexcept {
        std::lock_guard lock(mutex_);
        if (w.linked)
            remove(w);
    }

    std::size_t active() const noexcept { return active_.load(std::memory_order_relaxed); }
    std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }
    std::size_t max_concurrent() const noexcept {
        return max_concurrent_.load(std::memory_order_relaxed);
    }
    /// Moves the limit (an adaptive limit drives it). A raise wakes as many waiters as it
    /// frees permits; a cut never cancels calls that hold a permit.
    void set_max_concurrent(std::size_t n) {
        const std::size_t old = max_concurrent_.exchange(n, std::memory_order_seq_cst);
        for (std::size_t i = old; i < n && queued_.load(std::memory_order_seq_cst) != 0; ++i)
            wake_one();
    }

private:
    [[gnu::noinline]] void wake_one() {
        std::stop_source wake{std::nostopstate};
        {
            std::lock_guard lock(mutex_);
            if (head_ == nullptr)
                return;
            bulkhead_waiter* w = head_;
            remove(*w);
            wake = w->wake; // a copy keeps the state alive if the waiter leaves meanwhile
        }
        wake.request_stop(); // outside the lock: it may resume a coroutine inline
    }
    void remove(bulkhead_waiter& w) noexcept {
        (w.prev != nullptr ? w.prev->next : head_) = w.next;
        (w.next != nullptr ? w.next->prev : tail_) = w.prev;
        w.prev = w.next = nullptr;
        w.linked = false;
    }

    std::atomic<std::size_t> max_concurrent_; // moved only by set_max_concurrent
    const std::size_t max_queued_;
    alignas(64) std::atomic<std::size_t> active_{0};
    alignas(64) std::atomic<std::size_t> queued_{0};
    std::mutex mutex_; // guards the waiter list only (never taken on the fast path)
    bulkhead_waiter* head_ = nullptr;
    bulkhead_waiter* tail_ = nullptr;
};

/// Returns a bulkhead permit at scope exit.
class bulkhead_permit {
public:
    explicit bulkhead_permit(bulkhead_state& s) noexcept
        : s_(&s) {}
    bulkhead_permit(const bulkhead_permit&) = delete;
    bulkhead_permit& operator=(const bulkhead_permit&) = delete;
    ~bulkhead_permit() { s_->release(); }

private:
    bulkhead_state* s_;
};

} // namespace bulwark::detail
