#pragma once
/// \file
/// `any_clock`: the clock field of every policy — real time by default, or a `manual_clock`'s
/// time line in tests (`.clock = manual`), or any other `clock_service` (the Asio scheduler).

#include <bulwark/core/clock.hpp>
#include <bulwark/runtime/detail/clock_service.hpp>
#include <bulwark/runtime/steady_clock.hpp>
// manual_clock converts to any_clock implicitly (`.clock = manual` in tests), so it comes along
#include <bulwark/testing/manual_clock.hpp>

#include <memory>

namespace bulwark {

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
    /// The time source's timers, or null for real time (whose timers are shared services).
    detail::clock_service* service_ptr() const noexcept { return svc_.get(); }

private:
    std::shared_ptr<detail::clock_service> svc_;
};

static_assert(scheduler<any_clock> && sleeper<any_clock>);

} // namespace bulwark
