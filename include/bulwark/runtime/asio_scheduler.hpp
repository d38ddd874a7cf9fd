#pragma once
/// \file
/// `asio_scheduler`: bulwark's `scheduler` on a Boost.Asio `io_context`. Async sleeps arm a
/// `steady_timer` and resume the sleeping coroutine on the io_context's thread(s).
///
/// Not part of the umbrella header (Asio is a heavy include).

#include <utility> // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <bulwark/runtime/any_clock.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <mutex>

namespace bulwark {

/// Real time, with timers on an Asio `io_context`. Models `clock`, `sleeper` and `scheduler`;
/// `any_clock{sched.service()}` makes it the clock of a policy.
///
/// **Thread safety:** all members are thread-safe. **Allocation:** one timer per pending async
/// sleep. The io_context must outlive every pending sleep.
class asio_scheduler {
    class service_impl;

public:
    explicit asio_scheduler(boost::asio::io_context& io)
        : svc_(std::make_shared<service_impl>(io)) {}

    static time_point now() noexcept { return std::chrono::steady_clock::now(); }
    bool sleep_for(duration d, const std::stop_token& st) const {
        return steady_clock::sleep_for(d, st);
    }
    detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) const {
        return detail::sleep_awaiter{svc_.get(), d, std::move(st)};
    }
    std::shared_ptr<detail::clock_service> service() const noexcept { return svc_; }

private:
    class service_impl final : public detail::clock_service {
    public:
        explicit service_impl(boost::asio::io_context& io)
            : io_(io) {}
        time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
        bool sleep_for(duration d, const std::stop_token& st) override {
            return steady_clock::sleep_for(d, st);
        }
        void schedule(detail::timer_node* n) override {
            auto timer = std::make_unique<boost::asio::steady_timer>(io_, n->due);
            auto* t = timer.get();
            {
                std::lock_guard lock(mutex_);
                timers_.emplace(n, std::move(timer));
            }
            t->async_wait([this, n](const boost::system::error_code&) {
                // Fire unless cancel() already took the node (it then resumes the waiter itself).
                std::unique_ptr<boost::asio::steady_timer> mine;
                {
                    std::lock_guard lock(mutex_);
                    auto it = timers_.find(n);
                    if (it == timers_.end())
                        return;
                    mine = std::move(it->second);
                    timers_.erase(it);
                }
                n->fire(n);
            });
        }
        bool cancel(detail::timer_node* n) noexcept override {
            std::unique_ptr<boost::asio::steady_timer> timer;
            {
                std::lock_guard lock(mutex_);
                auto it = timers_.find(n);
                if (it == timers_.end())
                    return false;
                timer = std::move(it->second);
                timers_.erase(it);
            }
            // Destroying the timer cancels its wait; the handler then runs with operation_aborted,
            // finds no node and does nothing. Only this thread touches the timer object now.
            timer.reset();
            return true;
        }

    private:
        boost::asio::io_context& io_;
        std::mutex mutex_;
        std::map<detail::timer_node*, std::unique_ptr<boost::asio::steady_timer>> timers_;
    };

    std::shared_ptr<service_impl> svc_;
};

static_assert(scheduler<asio_scheduler> && sleeper<asio_scheduler>);

} // namespace bulwark
