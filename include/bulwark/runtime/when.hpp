#pragma once
/// \file
/// `when_all(task...)` and `when_any(stop, task...)`: await several bulwark tasks at once.
///
/// Both are structured: they start every task on the awaiting thread (each runs until its first
/// suspension, in argument order) and complete only after *every* task has finished, so no task
/// outlives the call or the state it references. The awaiting coroutine continues on the thread
/// that finished the last task (with an `asio_scheduler` clock: a thread of the executor).

#include <bulwark/runtime/detail/join_latch.hpp>
#include <bulwark/runtime/task.hpp>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace bulwark {

/// What `when_all` / `when_any` hold for a `task<T>`: `T`, or `std::monostate` for `task<void>`.
template <class T>
using when_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

/// An eagerly started coroutine, a member function of a state that has a `join_latch latch`:
/// it arrives at that latch when it ends and frees its own frame first.
struct when_branch {
    struct promise_type : latch_branch_promise {
        template <class State, class... A>
        explicit promise_type(State& s, A&...) noexcept {
            latch = &s.latch;
        }
        when_branch get_return_object() noexcept { return {}; }
    };
};

/// The state of one `when_all`, in its frame; branches are its member functions.
template <class... Ts>
struct when_all_state {
    static constexpr std::size_t count = sizeof...(Ts);
    join_latch latch{};
    std::tuple<std::optional<when_value_t<Ts>>...> values{};
    std::array<std::exception_ptr, count> errors{};
    std::stop_source* stop = nullptr;
    std::atomic<bool> failed{false};

    template <std::size_t I, class T>
    when_branch run(task<T> t) {
        try {
            std::optional<when_value_t<T>>& slot = std::get<I>(values);
            if constexpr (std::is_void_v<T>) {
                co_await std::move(t);
                slot.emplace();
            } else {
                slot.emplace(co_await std::move(t));
            }
        } catch (...) {
            errors[I] = std::current_exception();
            if (stop != nullptr && !failed.exchange(true, std::memory_order_acq_rel))
                stop->request_stop();
        }
    }

    template <std::size_t... I>
    void start(std::tuple<task<Ts>...>& tasks, std::index_sequence<I...>) {
        ((latch.add(), run<I>(std::move(std::get<I>(tasks)))), ...);
    }

    template <std::size_t... I>
    std::tuple<when_value_t<Ts>...> take(std::index_sequence<I...>) {
        for (std::exception_ptr& e : errors)
            if (e)
                std::rethrow_exception(e);
        return std::tuple<when_value_t<Ts>...>{std::move(*std::get<I>(values))...};
    }
};

/// The state of one `when_any`.
template <class... Ts>
struct when_any_state {
    using result_type = std::variant<when_value_t<Ts>...>;
    join_latch latch{};
    std::stop_source stop;
    std::atomic<bool> decided{false};
    std::optional<result_type> result{};
    std::exception_ptr error{};

    explicit when_any_state(std::stop_source s) noexcept
        : stop(std::move(s)) {}

    template <std::size_t I, class T>
    when_branch run(task<T> t) {
        std::optional<when_value_t<T>> slot;
        std::exception_ptr failure;
        try {
            if constexpr (std::is_void_v<T>) {
                co_await std::move(t);
                slot.emplace();
            } else {
                slot.emplace(co_await std::move(t));
            }
        } catch (...) {
            failure = std::current_exception();
        }
        if (decided.exchange(true, std::memory_order_acq_rel))
            co_return; // a loser: its value or exception is dropped
        if (failure)
            error = failure;
        else
            result.emplace(std::in_place_index<I>, std::move(*slot));
        stop.request_stop(); // tell the others to give up
    }

    template <std::size_t... I>
    void start(std::tuple<task<Ts>...>& tasks, std::index_sequence<I...>) {
        ((latch.add(), run<I>(std::move(std::get<I>(tasks)))), ...);
    }
};

// Member functions: clang 14 with -fsanitize=function cannot assemble some inline non-member
// coroutines (see policy/timeout/race.hpp). The object is an empty temporary; `this` is unused.
struct when_driver {
    template <class... Ts>
    task<std::tuple<when_value_t<Ts>...>> all(std::optional<std::stop_source> stop,
                                              task<Ts>... ts) {
        std::tuple<task<Ts>...> tasks{std::move(ts)...};
        when_all_state<Ts...> state;
        state.stop = stop ? &*stop : nullptr;
        state.start(tasks, std::index_sequence_for<Ts...>{});
        co_await state.latch.wait();
        co_return state.take(std::index_sequence_for<Ts...>{});
    }
    template <class... Ts>
    task<std::variant<when_value_t<Ts>...>> any(std::stop_source stop, task<Ts>... ts) {
        std::tuple<task<Ts>...> tasks{std::move(ts)...};
        when_any_state<Ts...> state{std::move(stop)};
        state.start(tasks, std::index_sequence_for<Ts...>{});
        co_await state.latch.wait();
        if (state.error)
            std::rethrow_exception(state.error);
        co_return std::move(*state.result);
    }
};

} // namespace detail

/// Awaits every task; yields their values in argument order (`std::monostate` for
/// `task<void>`): `auto [a, b] = co_await bulwark::when_all(fetch_a(), fetch_b());`.
///
/// **Failure semantics:** waits for every task even when one throws, then rethrows the exception
/// of the first failed task in argument order. It cannot stop the others by itself (a task has
/// no stop token); use the overload that takes a `std::stop_source` for that.
/// **Allocation:** one coroutine frame for `when_all` and one per task branch.
template <class... Ts>
task<std::tuple<when_value_t<Ts>...>> when_all(task<Ts>... tasks) {
    static_assert(sizeof...(Ts) >= 1, "bulwark::when_all: give it at least one task");
    return detail::when_driver{}.all(std::nullopt, std::move(tasks)...);
}

/// `when_all` that requests stop on `stop` as soon as one task throws, so the others (made with
/// `stop.get_token()`) can give up early; it still waits for all of them.
template <class... Ts>
task<std::tuple<when_value_t<Ts>...>> when_all(std::stop_source stop, task<Ts>... tasks) {
    static_assert(sizeof...(Ts) >= 1, "bulwark::when_all: give it at least one task");
    return detail::when_driver{}.all(std::optional<std::stop_source>{std::move(stop)},
                                     std::move(tasks)...);
}

/// Awaits the first task to finish; yields a `std::variant` whose `index()` is the winner's
/// position and whose alternative holds its value (`std::monostate` for `task<void>`).
///
/// ```cpp
/// std::stop_source losers;
/// auto first = co_await bulwark::when_any(losers, ask(a, losers.get_token()),
///                                         ask(b, losers.get_token()));
/// ```
/// **Cancellation:** when the first task finishes, `stop.request_stop()` is called; the others
/// should be made with `stop.get_token()` (bulwark's sleeps, `context`s built on it and
/// transports observe it) and return promptly. `when_any` still waits for all of them, so a
/// loser that ignores the token delays it.
/// **Failure semantics:** the first task to finish wins whether it returned or threw; a winner's
/// exception is rethrown; the losers' values and exceptions are dropped.
template <class... Ts>
task<std::variant<when_value_t<Ts>...>> when_any(std::stop_source stop, task<Ts>... tasks) {
    static_assert(sizeof...(Ts) >= 1, "bulwark::when_any: give it at least one task");
    return detail::when_driver{}.any(std::move(stop), std::move(tasks)...);
}

} // namespace bulwark
