#pragma once
/// \file
/// The one "when all branches are done" latch of bulwark's coroutines: the timeout race
/// (policy/timeout/race.hpp) and `when_all` / `when_any` (runtime/when.hpp) both await it.

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>

namespace bulwark::detail {

/// Counts running branches; the parent awaits it once, at the end (a "when_all" latch).
class join_latch {
public:
    /// Registers a branch about to start.
    void add() noexcept { pending_.fetch_add(1, std::memory_order_relaxed); }

    /// A branch is done: returns the parent to resume if it was the last one.
    std::coroutine_handle<> arrive() noexcept {
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            return parent_;
        return std::noop_coroutine();
    }

    /// `co_await latch.wait()`: resumes when every branch has arrived. Awaited once.
    auto wait() noexcept {
        struct awaiter {
            join_latch* self;
            bool await_ready() const noexcept {
                return self->pending_.load(std::memory_order_acquire) == 1;
            }
            bool await_suspend(std::coroutine_handle<> h) noexcept {
                self->parent_ = h;
                return self->pending_.fetch_sub(1, std::memory_order_acq_rel) != 1;
            }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

private:
    std::atomic<std::size_t> pending_{1}; // 1 = the parent itself
    std::coroutine_handle<> parent_{};
};

/// The promise core of a branch: an eagerly started coroutine that, when it ends, frees its own
/// frame and then arrives at `latch` (so nothing of the branch is touched after its arrival).
/// The branch types of the timeout race and of `when_all` / `when_any` derive from it; each sets
/// `latch` and makes its return object.
struct latch_branch_promise {
    join_latch* latch = nullptr;

    std::suspend_never initial_suspend() noexcept { return {}; }
    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
            join_latch* l = h.promise().latch;
            h.destroy(); // nothing of this branch is touched after its arrival
            return l->arrive();
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); } // bodies catch everything
};

} // namespace bulwark::detail
