#pragma once
/// \file
/// Timer machinery shared by every clock: the erased `clock_service`, the ordered timer queue
/// and the awaitable sleep. No public name.

#include <bulwark/core/clock.hpp>

#include <boost/intrusive/set.hpp>

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>

namespace bulwark {

namespace detail {

/// One pending timer, embedded in the awaiter (or timeout frame) that waits for it (stable
/// address while queued). Intrusive: queueing it allocates nothing.
struct timer_node : boost::intrusive::set_base_hook<> {
    time_point due{};
    std::uint64_t seq = 0;
    void (*fire)(timer_node*) noexcept = nullptr;
    /// Resumes the waiter as stopped. A service whose `cancel` returns false for a queued node
    /// (it resumes waiters on its own executor, `asio_scheduler`) calls this one later instead.
    void (*abort)(timer_node*) noexcept = nullptr;
};

struct timer_order {
    bool operator()(const timer_node& a, const timer_node& b) const noexcept {
        return a.due != b.due ? a.due < b.due : a.seq < b.seq;
    }
};

/// The erased core behind `any_clock` and the async sleeps: a time source with timers.
///
/// `cancel` returns true when the node was still queued (the caller then owns the wake-up, on
/// the cancelling thread); false when the service will wake the waiter itself: the timer is
/// already firing (`fire`), or the service resumes cancelled waiters on its own executor
/// (`abort`, `asio_scheduler`).
class clock_service {
public:
    virtual ~clock_service() = default;
    virtual time_point now() const noexcept = 0;
    virtual bool sleep_for(duration d, const std::stop_token& st) = 0;
    virtual void schedule(timer_node* node) = 0;
    virtual bool cancel(timer_node* node) noexcept = 0;
};

/// An ordered set of timers guarded by one mutex; shared by the manual clock and the timer
/// thread. An intrusive tree (the nodes live with their waiters): no allocation per timer.
class timer_queue {
public:
    void push(timer_node* n) {
        n->seq = next_seq_++;
        timers_.insert(*n);
    }
    bool remove(timer_node* n) noexcept {
        if (!n->is_linked())
            return false;
        timers_.erase(timers_.iterator_to(*n));
        return true;
    }
    timer_node* pop_due(time_point t) noexcept {
        if (timers_.empty() || timers_.begin()->due > t)
            return nullptr;
        timer_node* n = &*timers_.begin();
        timers_.erase(timers_.begin());
        return n;
    }
    std::optional<time_point> next_due() const noexcept {
        if (timers_.empty())
            return std::nullopt;
        return timers_.begin()->due;
    }
    std::size_t size() const noexcept { return timers_.size(); }

private:
    boost::intrusive::set<timer_node, boost::intrusive::compare<timer_order>> timers_;
    std::uint64_t next_seq_ = 0;
};

/// Awaitable sleep on a clock_service; cancelled by a stop token.
class sleep_awaiter : private timer_node {
public:
    sleep_awaiter(clock_service* svc, duration d, std::stop_token st) noexcept
        : svc_(svc)
        , delay_(d)
        , stop_(std::move(st)) {}
    sleep_awaiter(sleep_awaiter&&) = delete;

    bool await_ready() const noexcept {
        return delay_ <= duration::zero() || stop_.stop_requested();
    }

    // Arbitration: the service's queue decides between the timer firing and a stop (exactly one
    // of them calls complete()); `state_` decides who resumes. If completion happens while
    // await_suspend is still running (a fast timer, or a stop on another thread), await_suspend
    // returns false and the coroutine continues on this thread; otherwise the completer resumes it.
    bool await_suspend(std::coroutine_handle<> h) {
        waiter_ = h;
        due = saturating_add(svc_->now(), delay_);
        fire = [](timer_node* n) noexcept { static_cast<sleep_awaiter*>(n)->complete(true); };
        abort = [](timer_node* n) noexcept { static_cast<sleep_awaiter*>(n)->complete(false); };
        svc_->schedule(this);
        if (stop_.stop_possible())
            on_stop_.emplace(stop_, canceller{this});
        int expected = running;
        return state_.compare_exchange_strong(expected, suspended, std::memory_order_acq_rel);
    }

    bool await_resume() noexcept {
        on_stop_.reset();
        if (delay_ <= duration::zero())
            return !stop_.stop_requested();
        return elapsed_;
    }

private:
    struct canceller {
        sleep_awaiter* self;
        void operator()() const noexcept {
            if (self->svc_->cancel(self))
                self->complete(false);
        }
    };

    void complete(bool elapsed) noexcept {
        elapsed_ = elapsed;
        int expected = running;
        if (state_.compare_exchange_strong(expected, completed_early, std::memory_order_acq_rel))
            return; // await_suspend is still running: it will not suspend
        waiter_.resume();
    }

    static constexpr int running = 0, suspended = 1, completed_early = 2;
    std::atomic<int> state_{running};
    clock_service* svc_;
    duration delay_;
    std::stop_token stop_;
    std::coroutine_handle<> waiter_{};
    bool elapsed_ = false;
    std::optional<std::stop_callback<canceller>> on_stop_;
};

} // namespace detail

} // namespace bulwark
