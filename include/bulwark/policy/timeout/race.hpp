#pragma once
/// \file
/// Part of `policy/timeout.hpp` (also used by `hedge`): structured concurrency for the coroutine
/// drivers of `timeout` and `hedge`: a parent coroutine starts *branches* (an attempt, a timer)
/// that run concurrently, is told when any branch changes something (`race_event`), and never
/// leaves before every branch has finished (`join_latch`).
///
/// Branches reference state in the parent's frame; the latch is what makes that safe: a branch's
/// very last action is its arrival at the latch, and the parent resumes only after the last one.

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/detail/join_latch.hpp>
#include <bulwark/runtime/task.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <utility>

namespace bulwark::detail {

/// An auto-reset, level-style wake-up for one waiting parent: branches `signal()` after
/// publishing their result; the parent rescans the branches' flags after every wake-up, so
/// coalesced signals lose nothing.
class race_event {
public:
    void signal() noexcept {
        void* cur = state_.load(std::memory_order_acquire);
        for (;;) {
            if (cur == signalled())
                return;
            if (cur == nullptr) {
                if (state_.compare_exchange_weak(cur, signalled(), std::memory_order_acq_rel))
                    return;
                continue;
            }
            if (state_.compare_exchange_weak(cur, nullptr, std::memory_order_acq_rel)) {
                std::coroutine_handle<>::from_address(cur).resume();
                return;
            }
        }
    }

    auto wait() noexcept {
        struct awaiter {
            race_event* self;
            bool await_ready() const noexcept {
                void* expected = signalled();
                return self->state_.compare_exchange_strong(expected, nullptr,
                                                            std::memory_order_acq_rel);
            }
            bool await_suspend(std::coroutine_handle<> h) noexcept {
                void* expected = nullptr;
                if (self->state_.compare_exchange_strong(expected, h.address(),
                                                         std::memory_order_acq_rel))
                    return true;
                self->state_.store(nullptr, std::memory_order_release); // it was signalled
                return false;
            }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

private:
    static void* signalled() noexcept {
        static char tag;
        return &tag;
    }
    std::atomic<void*> state_{nullptr};
};

/// An eagerly started coroutine that arrives at its latch when it ends and frees itself.
/// One of its parameters must be the `join_latch&` (the promise takes it from there).
///
/// Write branches as non-static member functions: clang 14 with `-fsanitize=function` cannot
/// assemble an inline non-member coroutine ("Cannot represent a difference across sections").
struct branch {
    struct promise_type : latch_branch_promise {
        template <class... A>
        explicit promise_type(A&... args) noexcept {
            latch = find(args...);
        }
        branch get_return_object() noexcept { return {}; }

    private:
        template <class... A>
        static join_latch* find(join_latch& l, A&...) noexcept {
            return &l;
        }
        template <class X, class... A>
        static join_latch* find(X&, A&... rest) noexcept {
            return find(rest...);
        }
    };
};

/// Awaits `next(ctx)` into `slot`, catching what a user policy might throw.
template <class Next, class O>
task<void> await_into(Next& next, context& ctx, std::optional<O>& slot) {
    try {
        slot.emplace(co_await next(ctx));
    } catch (...) {
        slot.emplace(O::current_exception());
    }
}

} // namespace bulwark::detail
