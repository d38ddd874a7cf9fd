#pragma once
/// \file
/// Running bulwark's coroutines on a Boost.Asio executor (an `io_context` run by N threads, a
/// strand, any `any_io_executor`):
///
/// - `asio_scheduler`: bulwark's `scheduler` whose timers are `steady_timer`s on that executor.
///   `any_clock{sched.service()}` as the `.clock` of a policy puts its sleeps (retry backoff,
///   timeouts, hedge delays, rate-limiter waits) there, so the coroutine continues on the
///   executor, never on bulwark's own timer thread.
/// - `start_on(ex, task, token)`: starts a `task` on the executor and delivers its result through
///   an Asio completion token (a callback, `boost::asio::use_future`, ...).
/// - `resume_on(ex)`: `co_await bulwark::resume_on(ex)` moves the coroutine onto the executor.
///
/// Not part of the umbrella header (Asio is a heavy include). See docs/core.md, "Executors".

#include <utility> // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <coroutine>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

namespace bulwark {

/// Real time, with timers on an Asio executor. Models `clock`, `sleeper` and `scheduler`;
/// `any_clock{sched.service()}` makes it the clock of a policy.
///
/// **Where coroutines continue:** an async sleep resumes its coroutine from a handler on the
/// executor, both when the time elapses and when the sleep is stopped through its stop token (a
/// stop requested on any thread cancels the timer; the handler then resumes the sleeper on the
/// executor). So with this clock in every policy, a call started on the executor (`start_on`)
/// continues only on the threads that run the executor.
///
/// **Thread safety:** all members are thread-safe. **Allocation:** one timer per pending async
/// sleep. The executor's execution context must outlive every pending sleep and keep running
/// while one is pending (a sleep that is stopped still needs one turn of the executor to resume).
/// A synchronous `sleep_for` blocks the calling thread, as `steady_clock`'s does.
class asio_scheduler {
    class service_impl;

public:
    /// The executor of every timer: the io_context's, a strand, or any other.
    using executor_type = boost::asio::any_io_executor;

    /// Timers on `io` (run it on as many threads as you like).
    explicit asio_scheduler(boost::asio::io_context& io)
        : asio_scheduler(executor_type{io.get_executor()}) {}
    /// Timers on `ex` (a strand serialises the continuations of the sleepers).
    explicit asio_scheduler(executor_type ex)
        : svc_(std::make_shared<service_impl>(std::move(ex))) {}

    static time_point now() noexcept { return std::chrono::steady_clock::now(); }
    bool sleep_for(duration d, const std::stop_token& st) const {
        return steady_clock::sleep_for(d, st);
    }
    detail::sleep_awaiter async_sleep_for(duration d, std::stop_token st) const {
        return detail::sleep_awaiter{svc_.get(), d, std::move(st)};
    }
    /// The erased service: `any_clock{sched.service()}` is the `.clock` of a policy.
    std::shared_ptr<detail::clock_service> service() const noexcept { return svc_; }
    /// `any_clock{service()}`, spelt shorter.
    any_clock clock() const noexcept { return any_clock{svc_}; }
    /// The executor the timers run on.
    const executor_type& get_executor() const noexcept { return svc_->executor(); }

private:
    class service_impl final : public detail::clock_service,
                               public std::enable_shared_from_this<service_impl> {
    public:
        explicit service_impl(executor_type ex)
            : ex_(std::move(ex)) {}
        const executor_type& executor() const noexcept { return ex_; }
        time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
        bool sleep_for(duration d, const std::stop_token& st) override {
            return steady_clock::sleep_for(d, st);
        }
        void schedule(detail::timer_node* n) override {
            auto timer = std::make_unique<boost::asio::steady_timer>(ex_, n->due);
            // Armed under the lock: cancel() on another thread touches the same timer object.
            std::lock_guard lock(mutex_);
            boost::asio::steady_timer& t = *timer;
            timers_.emplace(n, entry{std::move(timer), false});
            t.async_wait([self = shared_from_this(), n](const boost::system::error_code& ec) {
                self->on_timer(n, ec);
            });
        }
        // Never wakes the waiter on the cancelling thread: it marks the node stopped and cancels
        // the timer, whose handler resumes the waiter (as stopped) on the executor.
        bool cancel(detail::timer_node* n) noexcept override {
            std::lock_guard lock(mutex_);
            auto it = timers_.find(n);
            if (it == timers_.end())
                return false; // the handler already took it: it fires
            it->second.stopped = true;
            it->second.timer->cancel();
            return false;
        }

    private:
        struct entry {
            std::unique_ptr<boost::asio::steady_timer> timer;
            bool stopped;
        };
        void on_timer(detail::timer_node* n, const boost::system::error_code& ec) noexcept {
            entry mine;
            {
                std::lock_guard lock(mutex_);
                auto it = timers_.find(n);
                if (it == timers_.end())
                    return;
                mine = std::move(it->second);
                timers_.erase(it);
            }
            if (mine.stopped || ec)
                n->abort(n);
            else
                n->fire(n);
        }

        executor_type ex_;
        std::mutex mutex_;
        std::map<detail::timer_node*, entry> timers_;
    };

    std::shared_ptr<service_impl> svc_;
};

static_assert(scheduler<asio_scheduler> && sleeper<asio_scheduler>);

namespace detail {

template <class T>
struct start_on_signature {
    using type = void(std::exception_ptr, T);
};
template <>
struct start_on_signature<void> {
    using type = void(std::exception_ptr);
};

// A member function: clang 14 with -fsanitize=function cannot assemble some inline non-member
// coroutines (see policy/timeout/race.hpp).
struct start_on_runner {
    template <class T, class Handler, class Executor>
    detached run(task<T> t, Handler handler, Executor ex) {
        std::exception_ptr error;
        using slot_type = std::conditional_t<std::is_void_v<T>, bool, T>;
        std::optional<slot_type> value;
        {
            // The task (and any exception it holds) is destroyed before the handler runs: the
            // handler's side (a future's waiter) owns the only reference afterwards.
            task<T> job = std::move(t);
            try {
                if constexpr (std::is_void_v<T>) {
                    co_await std::move(job);
                    value.emplace(true);
                } else {
                    value.emplace(co_await std::move(job));
                }
            } catch (...) {
                error = std::current_exception();
            }
        }
        auto where = boost::asio::get_associated_executor(handler, ex);
        boost::asio::dispatch(
            where, [h = std::move(handler), e = std::move(error), v = std::move(value)]() mutable {
                if constexpr (std::is_void_v<T>)
                    std::move(h)(std::move(e));
                else if (v)
                    std::move(h)(std::move(e), std::move(*v));
                else
                    std::move(h)(std::move(e), T{});
            });
    }
};

} // namespace detail

/// Starts `t` on `ex` (posted: it never runs inline on the calling thread) and completes
/// `token` with `(std::exception_ptr, T)` — `(std::exception_ptr)` for `task<void>` — on the
/// token's associated executor (by default `ex`).
///
/// The task's first step runs on `ex`; where it continues after a suspension is decided by what
/// it awaits: give its policies `.clock = sched.clock()` (an `asio_scheduler` on the same
/// executor) and await I/O that completes on the executor, and every continuation runs there.
/// ```cpp
/// auto result = bulwark::start_on(io.get_executor(), client.async_execute(op),
///                                 boost::asio::use_future).get();
/// ```
/// **Failure semantics:** an exception escaping the task is the handler's `exception_ptr`; the
/// value is then `T{}` (so `T` must be default-constructible, as with `boost::asio::co_spawn`).
/// **Allocation:** one coroutine frame that owns the task and the handler, plus what the
/// executor allocates for a posted function.
template <class T, class Executor, class CompletionToken>
auto start_on(const Executor& ex, task<T> t, CompletionToken&& token) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "bulwark::start_on: the task's value type must be default-constructible (it is "
                  "passed with the exception_ptr when the task throws)");
    return boost::asio::async_initiate<CompletionToken,
                                       typename detail::start_on_signature<T>::type>(
        [ex](auto handler, task<T> inner) {
            boost::asio::post(ex, [ex, h = std::move(handler), job = std::move(inner)]() mutable {
                detail::start_on_runner{}.run(std::move(job), std::move(h), ex);
            });
        },
        token, std::move(t));
}

/// `co_await bulwark::resume_on(ex)`: suspends and continues on `ex` (always posted, so it also
/// leaves the current thread when that thread already runs `ex`). Use it after awaiting
/// something that completes elsewhere (a transport's own thread) to come back to your executor.
///
/// The executor's context must keep running: a coroutine whose continuation is discarded (the
/// io_context destroyed first) never resumes.
template <class Executor>
auto resume_on(Executor ex) {
    struct awaiter {
        Executor ex;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            boost::asio::post(ex, [h]() { h.resume(); });
        }
        void await_resume() const noexcept {}
    };
    return awaiter{std::move(ex)};
}

} // namespace bulwark
