#pragma once
/// \file
/// Part of `policy/timeout.hpp`: the stop on expiry of the synchronous timeout driver (its
/// default): while the call runs, a timer entry in the caller's frame is armed at the deadline;
/// when it fires, stop is requested on the call's stop scope, so an operation that waits on
/// `ctx.stop_token()` (a `condition_variable_any` wait, a socket with a `stop_callback`) returns
/// early. On real time the entry goes to the shared lock-free expiry service
/// (runtime/detail/expiry_service.hpp): no allocation, no lock. On another clock (a manual clock
/// in tests, an Asio scheduler) it goes to that clock's timers.

#include <bulwark/core/context.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/detail/expiry_service.hpp>
#include <bulwark/runtime/detail/timer_thread.hpp>

#include <optional>
#include <thread>

namespace bulwark::detail {

class expiry_guard;

/// An `expiry_guard`'s entry in a clock's own timer queue (off the common path). At namespace
/// scope so that `std::optional` of it is complete where the guard uses it.
struct expiry_guard_node : timer_node {
    expiry_guard* owner = nullptr;
};

/// Opens a stop scope on `ctx` and arms a timer that requests stop on it at `due`; `disarm()`
/// (or the destructor) cancels it, and returns only once the timer can no longer touch this
/// frame. Owner thread only; not movable (the timer holds its address).
class expiry_guard {
public:
    [[gnu::always_inline]] expiry_guard(context& ctx, const any_clock& clock, time_point due)
        : ctx_(ctx) {
        ctx.push_stop_scope(scope_);
        if (due == no_deadline)
            return; // a limit too long to ever pass
        entry_.on_expiry = [](void* s) noexcept { static_cast<stop_scope*>(s)->request(); };
        entry_.target = &scope_;
        clock_service* svc = clock.service_ptr();
        if (svc == nullptr) [[likely]] {
            switch (expiry_service::arm(entry_, due, &ctx)) {
            case expiry_service::arm_result::armed:
                mode_ = mode::service;
                return;
            case expiry_service::arm_result::covered:
                return; // an enclosing timeout of this call stops our scope no later than `due`
            case expiry_service::arm_result::full:
                break;
            }
        }
        arm_queued(svc, due);
    }
    expiry_guard(const expiry_guard&) = delete;
    expiry_guard& operator=(const expiry_guard&) = delete;
    [[gnu::always_inline]] ~expiry_guard() {
        disarm();
        ctx_.pop_stop_scope(scope_);
    }

    /// Cancels the timer; true when it fired first (stop was requested on the scope).
    [[gnu::always_inline]] bool disarm() noexcept {
        const mode m = mode_;
        mode_ = mode::none;
        if (m == mode::service) [[likely]]
            return expiry_service::disarm(entry_);
        if (m == mode::queued) [[unlikely]]
            return cancel_queued();
        return false;
    }

private:
    enum class mode : unsigned char { none, service, queued };
    using queued_node = expiry_guard_node;

    /// A manual clock, an Asio scheduler, or timeouts nested deeper than a lane holds: the
    /// clock's own timers (a lock and an allocation: off the common path).
    [[gnu::noinline]] void arm_queued(clock_service* svc, time_point due) {
        svc_ = svc != nullptr ? svc : &timer_thread::instance();
        queued_node& node = node_.emplace();
        node.owner = this;
        node.due = due;
        node.fire = [](timer_node* n) noexcept {
            expiry_guard* g = static_cast<queued_node*>(n)->owner;
            g->scope_.request();
            g->entry_.done.store(true, std::memory_order_release); // last touch of `g`
        };
        try {
            svc_->schedule(&node);
            mode_ = mode::queued;
        } catch (...) {
            // No timer: the call still runs under its deadline, judged by the clock.
        }
    }
    [[gnu::noinline]] bool cancel_queued() noexcept {
        if (svc_->cancel(&*node_))
            return false;
        while (!entry_.done.load(std::memory_order_acquire)) // it is firing right now
            std::this_thread::yield();
        return true;
    }

    context& ctx_;
    stop_scope scope_;
    expiry_entry entry_;
    /// Made only off the common path (the success path skips initialising its tree hook).
    std::optional<queued_node> node_;
    clock_service* svc_ = nullptr;
    mode mode_ = mode::none;
};

} // namespace bulwark::detail
