#pragma once
/// \file
/// A minimal lazy coroutine `task<T>`, `spawn` (start now, poll later) and `sync_wait`.
///
/// The coroutine driver of every policy (`async_execute`) returns a `task`. It is deliberately
/// small: lazy start, symmetric transfer to the awaiting coroutine, exceptions carried to the
/// awaiter. A task has no executor: it continues on the thread that resumes it. Running tasks on
/// an Asio executor (`start_on`, `resume_on`, timers there) lives in `runtime/asio_scheduler.hpp`;
/// `when_all` / `when_any` in `runtime/when.hpp`.

#include <atomic>
#include <concepts>
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace bulwark {

template <class T = void>
class task;

namespace detail {

struct task_promise_base {
    std::coroutine_handle<> continuation = std::noop_coroutine();

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
            return h.promise().continuation;
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
};

template <class T>
struct task_promise : task_promise_base {
    std::variant<std::monostate, T, std::exception_ptr> result;

    task<T> get_return_object() noexcept;

    template <class U = T>
    requires std::convertible_to<U&&, T>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        result.template emplace<1>(std::forward<U>(value));
    }
    void unhandled_exception() noexcept { result.template emplace<2>(std::current_exception()); }

    T take() {
        if (result.index() == 2)
            std::rethrow_exception(std::get<2>(result));
        return std::move(std::get<1>(result));
    }
};

template <>
struct task_promise<void> : task_promise_base {
    std::exception_ptr error;

    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
    void take() {
        if (error)
            std::rethrow_exception(error);
    }
};

} // namespace detail

/// A lazily started coroutine producing a `T`.
///
/// **Failure semantics:** an exception escaping the coroutine is rethrown by `co_await`.
/// **Thread safety:** a task is awaited once, by one awaiter. Move-only.
/// **Allocation:** one coroutine frame per task (compilers may elide it when awaited directly).
template <class T>
class [[nodiscard]] task {
public:
    using promise_type = detail::task_promise<T>;
    using value_type = T;
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    explicit task(handle_type h) noexcept
        : h_(h) {}
    task(task&& other) noexcept
        : h_(std::exchange(other.h_, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { reset(); }

    /// True once the coroutine has run to completion.
    bool done() const noexcept { return !h_ || h_.done(); }
    /// False for a default-constructed or moved-from task.
    bool valid() const noexcept { return static_cast<bool>(h_); }

    /// `co_await std::move(t)`: starts the task and resumes the awaiter when it ends.
    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type h;
            bool await_ready() const noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
                h.promise().continuation = awaiting;
                return h;
            }
            T await_resume() { return h.promise().take(); }
        };
        return awaiter{h_};
    }

    /// Low-level access for drivers (`spawn`, `sync_wait`).
    handle_type handle() const noexcept { return h_; }

private:
    void reset() noexcept {
        if (h_)
            h_.destroy();
        h_ = {};
    }
    handle_type h_{};
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

/// The result type of `spawn`: a task started eagerly on the calling thread, which ran until its
/// first suspension; it continues on whichever thread resumes it (a `manual_clock`'s
/// `advance`, a timer thread, an executor).
///
/// Used with `manual_clock`: spawn, advance the clock, then check `done()` and `get()`.
/// **Thread safety:** `done()` may be polled while another thread finishes the task only if that
/// thread's work happens-before the poll (a manual clock advanced on this thread); on real time,
/// use `sync_wait` or `start_on` instead. **Ownership:** move-only; destroying it before `done()`
/// destroys the suspended coroutine (its pending sleeps must not fire afterwards).
template <class T>
class [[nodiscard]] spawned {
public:
    /// Starts `t` now (see `spawn`).
    explicit spawned(task<T> t)
        : task_(std::move(t)) {
        if (task_.valid())
            task_.handle().resume();
    }
    /// True once the task has run to completion.
    bool done() const noexcept { return task_.done(); }
    /// The result; rethrows the coroutine's exception. Precondition: `done()`.
    T get() { return task_.handle().promise().take(); }

private:
    task<T> task_;
};

/// Starts `t` now on this thread; returns the running task as a `spawned<T>`.
template <class T>
spawned<T> spawn(task<T> t) {
    return spawned<T>{std::move(t)};
}

namespace detail {

/// A coroutine that starts at once and frees its frame when it ends (fire-and-forget timers:
/// redeliveries, watchdogs). Its body must not throw.
struct detached {
    struct promise_type {
        detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

struct sync_wait_task {
    struct promise_type {
        std::atomic<bool>* done = nullptr;
        sync_wait_task get_return_object() noexcept {
            return sync_wait_task{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct final_awaiter {
            bool await_ready() noexcept { return false; }
            void await_suspend(std::coroutine_handle<promise_type> self) noexcept {
                std::atomic<bool>* flag = self.promise().done;
                flag->store(true, std::memory_order_release);
                flag->notify_one(); // the frame may be gone after this line: touch nothing
            }
            void await_resume() noexcept {}
        };
        final_awaiter final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};

} // namespace detail

/// Runs `t` to completion, blocking this thread until it finishes (it may finish on another
/// thread, e.g. a timer thread). Rethrows the task's exception.
///
/// **Time and cancellation:** do not use with a `manual_clock` that only this thread advances;
/// use `spawn` there.
template <class T>
T sync_wait(task<T> t) {
    std::atomic<bool> done{false};
    using result_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
    std::variant<std::monostate, result_t, std::exception_ptr> out;
    auto runner = [](task<T>& inner, decltype(out)& slot) -> detail::sync_wait_task {
        try {
            if constexpr (std::is_void_v<T>) {
                co_await std::move(inner);
                slot.template emplace<1>();
            } else {
                slot.template emplace<1>(co_await std::move(inner));
            }
        } catch (...) {
            slot.template emplace<2>(std::current_exception());
        }
    };
    detail::sync_wait_task w = runner(t, out);
    w.h.promise().done = &done;
    w.h.resume();
    done.wait(false, std::memory_order_acquire);
    w.h.destroy();
    if (out.index() == 2)
        std::rethrow_exception(std::get<2>(out));
    if constexpr (!std::is_void_v<T>)
        return std::move(std::get<1>(out));
}

} // namespace bulwark
