#pragma once
/// \file
/// `manual_clock`: deterministic time for tests. Time moves only when a test advances it, and
/// due timers run in order on the advancing thread, so tests never sleep.

#include <bulwark/core/clock.hpp>
#include <bulwark/runtime/detail/clock_service.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace bulwark {

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

static_assert(scheduler<manual_clock> && sleeper<manual_clock>);

} // namespace bulwark
