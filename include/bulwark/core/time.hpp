#pragma once
/// \file
/// Time: the `clock`, `sleeper` and `scheduler` concepts, `steady_clock` (real time),
/// `manual_clock` (deterministic time for tests) and `any_clock` (either, chosen at run time).
///
/// Every time-based behaviour of bulwark reads time through one of these, so tests never sleep:
/// they advance a `manual_clock`, which runs due timers in order on the advancing thread.

#include <bulwark/core/task.hpp>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

namespace bulwark {

/// The one duration and time-point type of bulwark (nanosecond ticks of the steady clock).
using duration = std::chrono::steady_clock::duration;
using time_point = std::chrono::steady_clock::time_point;

/// "No deadline".
inline constexpr time_point no_deadline = time_point::max();

/// `t + d`, saturating at `no_deadline` instead of overflowing.
constexpr time_point saturating_add(time_point t, duration d) noexcept {
    if (d <= duration::zero())
        return t + d;
    if (t >= time_point::max() - d)
        return time_point::max();
    return t + d;
}

/// A source of the current time.
template <class C>
concept clock = requires(const C& c) {
    { c.now() } -> std::same_as<time_point>;
};

/// Blocks the calling thread for a duration; returns false when woken by the stop token.
template <class S>
concept sleeper = requires(const S& s, duration d, const std::stop_token& st) {
    { s.sleep_for(d, st) } -> std::same_as<bool>;
};

/// A time source whose sleeps can be awaited (`co_await s.async_sleep_for(d, st)` yields
/// `true` when the time elapsed, `false` when the stop token fired first).
template <class S>
concept scheduler = clock<S> && requires(const S& s, duration d, std::stop_token st) {
    { s.async_sleep_for(d, st).await_ready() } -> std::same_as<bool>;
    { s.async_sleep_for(d, st).await_resume() } -> std::same_as<bool>;
};

namespace detail {

/// One pending timer, embedded in the awaiter that waits for it (stable address while queued).
struct timer_node {
    time_point due{};
    std::uint64_t seq = 0;
    void (*fire)(timer_node*) noexcept = nullptr;
};

struct timer_order {
    bool operator()(const timer_node* a, const timer_node* b) const noexcept {
        return a->due != b->due ? a->due < b->due : a->seq < b->seq;
    }
};

/// The erased core behind `any_clock` and the async sleeps: a time source with timers.
///
/// `cancel` returns true when the node was still queued (the caller then owns the wake-up);
/// false when the timer is already firing (the service will call `fire`).
class clock_service {
public:
    virtual ~clock_service() = default;
    virtual time_point now() const noexcept = 0;
    virtual bool sleep_for(duration d, const std::stop_token& st) = 0;
    virtual void schedule(timer_node* node) = 0;
    virtual bool cancel(timer_node* node) noexcept = 0;
};

/// An ordered set of timers guarded by one mutex; shared by the manual clock and the timer thread.
class timer_queue {
public:
    void push(timer_node* n) {
        n->seq = next_seq_++;
        timers_.insert(n);
    }
    bool remove(timer_node* n) noexcept { return timers_.erase(n) != 0; }
    timer_node* pop_due(time_point t) noexcept {
        if (timers_.empty() || (*timers_.begin())->due > t)
            return nullptr;
        timer_node* n = *timers_.begin();
        timers_.erase(timers_.begin());
        return n;
    }
    std::optional<time_point> next_due() const noexcept {
        if (timers_.empty())
            return std::nullopt;
        return (*timers_.begin())->due;
    }
    std::size_t size() const noexcept { return timers_.size(); }

private:
    std::set<timer_node*, timer_order> timers_;
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

/// A lazily started background thread that fires real-time timers (steady_clock's scheduler).
class timer_thread final : public clock_service {
public:
    static timer_thread& instance() {
        static timer_thread t;
        return t;
    }
    time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
    bool sleep_for(duration d, const std::stop_token& st) override {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        cv.wait_for(lock, st, d, [] { return false; });
        return !st.stop_requested();
    }
    void schedule(timer_node* n) override {
        {
            std::lock_guard lock(mutex_);
            queue_.push(n);
            if (!worker_.joinable())
                worker_ = std::jthread([this](std::stop_token st) { run(st); });
        }
        cv_.notify_one();
    }
    bool cancel(timer_node* n) noexcept override {
        bool removed;
        {
            std::lock_guard lock(mutex_);
            removed = queue_.remove(n);
        }
        if (removed)
            cv_.notify_one();
        return removed;
    }

private:
    timer_thread() = default;
    void run(std::stop_token st) {
        std::unique_lock lock(mutex_);
        while (!st.stop_requested()) {
            if (timer_node* n = queue_.pop_due(now())) {
                lock.unlock();
                n->fire(n);
                lock.lock();
                continue;
            }
            if (auto due = queue_.next_due()) {
                // Wake at the earliest due time, or as soon as the earliest timer changes (an
                // earlier one was scheduled, or it was cancelled): then recompute.
                const time_point d = *due;
                cv_.wait_until(lock, st, d, [&] {
                    auto next = queue_.next_due();
                    return !next || *next != d;
                });
            } else
                cv_.wait(lock, st, [this] { return queue_.size() != 0; });
        }
    }
    std::mutex mutex_;
    std::condition_variable_any cv_;
    timer_queue queue_;
    std::jthread worker_; // declared last: stopped and joined first
};

} // namespace detail

/// Real monotonic time. Models `clock`, `sleeper` and `scheduler` (timers on a shared background
/// thread started on first use).
///
/// **Thread safety:** all members are thread-safe. **Allocation:** none for `now`; one timer
/// entry per pending async sleep.
struct steady_clock {
    static time_point now() noexcept { return std::chrono::steady_clock::now(); }
    /// Sleeps `d` or until `st` is stopped; returns false when stopped.
    static bool sleep_for(duration d, const std::stop_token& st) {
        if (d <= duration::zero())
            return !st.stop_requested();
        return detail::timer_thread::instance().sleep_for(d, st);
    }
    static detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) {
        return detail::sleep_awaiter{&detail::timer_thread::instance(), d, std::move(st)};
    }
};

/// Deterministic time for tests: starts at `time_point{}` and moves only when told.
///
/// `advance(d)` runs every timer that falls due, in due-time order, on the calling thread, with
/// `now()` reading each timer's due time while it runs. A synchronous `sleep_for` advances the
/// clock itself (auto-advance, the default) so single-threaded tests never block; with
/// `auto_advance(false)` it blocks until another thread advances past its due time.
/// The clock records every synchronous sleep (`sleeps()`), so tests can assert delays.
///
/// Copies share one time line (a handle). **Thread safety:** all members are thread-safe.
class manual_clock {
    class state;

public:
    manual_clock()
        : state_(std::make_shared<state>()) {}

    time_point now() const noexcept { return state_->now(); }
    /// Moves time forward by `d`, firing due timers in order.
    void advance(duration d) const { state_->advance_to(saturating_add(state_->now(), d)); }
    /// Moves time forward to `t` (never backward), firing due timers in order.
    void advance_to(time_point t) const { state_->advance_to(t); }
    bool sleep_for(duration d, const std::stop_token& st) const { return state_->sleep_for(d, st); }
    detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) const {
        return detail::sleep_awaiter{state_.get(), d, std::move(st)};
    }
    /// Whether a synchronous `sleep_for` advances time itself (default) or waits for `advance`.
    void auto_advance(bool on) const { state_->auto_advance(on); }
    /// Every synchronous sleep requested so far, in order.
    std::vector<duration> sleeps() const { return state_->sleeps(); }
    /// Number of async sleeps waiting for time to pass.
    std::size_t pending_timers() const { return state_->pending(); }

    /// The shared core, for `any_clock`.
    std::shared_ptr<detail::clock_service> service() const noexcept { return state_; }

private:
    class state final : public detail::clock_service {
    public:
        time_point now() const noexcept override {
            return time_point{duration{now_.load(std::memory_order_acquire)}};
        }
        void advance_to(time_point target) {
            std::unique_lock lock(mutex_);
            for (;;) {
                detail::timer_node* n = queue_.pop_due(target);
                if (n == nullptr)
                    break;
                store_max(n->due);
                lock.unlock();
                n->fire(n);
                lock.lock();
            }
            store_max(target);
            lock.unlock();
            cv_.notify_all();
        }
        bool sleep_for(duration d, const std::stop_token& st) override {
            if (st.stop_requested())
                return false;
            time_point due = saturating_add(now(), d);
            bool automatic;
            {
                std::lock_guard lock(mutex_);
                sleeps_.push_back(d);
                automatic = auto_advance_;
            }
            if (automatic) {
                advance_to(due);
                return !st.stop_requested();
            }
            std::unique_lock lock(mutex_);
            cv_.wait(lock, st, [&] { return now() >= due; });
            return !st.stop_requested();
        }
        void schedule(detail::timer_node* n) override {
            std::lock_guard lock(mutex_);
            queue_.push(n);
        }
        bool cancel(detail::timer_node* n) noexcept override {
            std::lock_guard lock(mutex_);
            return queue_.remove(n);
        }
        void auto_advance(bool on) {
            std::lock_guard lock(mutex_);
            auto_advance_ = on;
        }
        std::vector<duration> sleeps() const {
            std::lock_guard lock(mutex_);
            return sleeps_;
        }
        std::size_t pending() const {
            std::lock_guard lock(mutex_);
            return queue_.size();
        }

    private:
        void store_max(time_point t) noexcept {
            auto ticks = t.time_since_epoch().count();
            auto cur = now_.load(std::memory_order_relaxed);
            while (cur < ticks &&
                   !now_.compare_exchange_weak(cur, ticks, std::memory_order_release))
                ;
        }
        std::atomic<duration::rep> now_{0};
        mutable std::mutex mutex_;
        std::condition_variable_any cv_;
        detail::timer_queue queue_;
        std::vector<duration> sleeps_;
        bool auto_advance_ = true;
    };

    std::shared_ptr<state> state_;
};

/// A clock chosen at run time: real time by default, or a `manual_clock`'s time line.
///
/// This is the clock field of bulwark's policies (`.clock = manual` in tests): the real clock
/// costs one predictable branch over `std::chrono::steady_clock::now()`.
/// Models `clock`, `sleeper` and `scheduler`. Copies share the same time line.
class any_clock {
public:
    any_clock() noexcept = default;
    any_clock(steady_clock) noexcept {}
    any_clock(const manual_clock& m)
        : svc_(m.service()) {}
    /// Any other time source with timers (e.g. `asio_scheduler::service()`).
    explicit any_clock(std::shared_ptr<detail::clock_service> svc) noexcept
        : svc_(std::move(svc)) {}

    time_point now() const noexcept {
        return svc_ ? svc_->now() : std::chrono::steady_clock::now();
    }
    bool sleep_for(duration d, const std::stop_token& st) const {
        return svc_ ? svc_->sleep_for(d, st) : steady_clock::sleep_for(d, st);
    }
    detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) const {
        return detail::sleep_awaiter{svc_ ? svc_.get() : &detail::timer_thread::instance(), d,
                                     std::move(st)};
    }
    /// True when this reads a time source other than the real clock's shared timer thread.
    bool is_manual() const noexcept { return static_cast<bool>(svc_); }

private:
    std::shared_ptr<detail::clock_service> svc_;
};

static_assert(scheduler<steady_clock> && sleeper<steady_clock>);
static_assert(scheduler<manual_clock> && sleeper<manual_clock>);
static_assert(scheduler<any_clock> && sleeper<any_clock>);

} // namespace bulwark
