#pragma once
/// \file
/// The lazily started background thread behind `steady_clock`'s timers. No public name.

#include <bulwark/runtime/detail/clock_service.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace bulwark {

namespace detail {

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

} // namespace bulwark
