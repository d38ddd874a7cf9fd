#pragma once
/// \file
/// Running one delivery through a handler and deciding what happens next (ack, redeliver,
/// dead letter). Shared by every async channel; the decision reads the delivery policy only on
/// the failure path.

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/handler.hpp>
#include <bulwark/core/error.hpp>

#include <concepts>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace bulwark::detail {

/// A message inside a channel: the value and how many times it was delivered.
template <class T>
struct channel_item {
    T value;
    std::uint32_t deliveries = 0;
    explicit channel_item(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>)
        : value(std::move(v)) {}
};

/// The consumer's handler, erased once at construction (a cold edge: one indirect call per
/// delivery on the consumer thread, none on the publishing thread).
template <class T>
struct erased_handler {
    virtual ~erased_handler() = default;
    virtual void call(delivery<T>& d) = 0;
};

template <class T, class H>
struct handler_model final : erased_handler<T> {
    explicit handler_model(H h)
        : h_(std::move(h)) {}
    void call(delivery<T>& d) override {
        // The shared rule of channel/handler.hpp: the explicit-ack handle, else the message
        // (returning is the ack); a channel of bare `T` has no envelope.
        call_handler_acked<void>(h_, d, d.message(), [] {});
    }
    H h_;
};

/// "handler threw: what()" for the dead-letter reason.
inline std::string describe(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return std::string("handler threw: ") + ex.what();
    } catch (...) {
        return "handler threw a non-standard exception";
    }
}

/// What the channel must do with an item after one delivery.
enum class next_step : unsigned char { settled_ack, redeliver, dead_letter };

/// Runs one delivery of `it` and decides. `kind` is set for dead letters.
template <class T>
next_step run_delivery(erased_handler<T>& handler, channel_item<T>& it, bool auto_ack,
                       const delivery_policy& policy, delivery<T>& d, dead_letter_kind& kind) {
    try {
        handler.call(d);
    } catch (...) {
        if (d.pending())
            d.nack(describe(std::current_exception()), failure::current_exception());
    }
    if (d.pending()) {
        if (auto_ack)
            d.ack();
        else
            d.nack("handler returned without ack or nack", failure{errc::rejected, {}, {}});
    }
    switch (d.state()) {
    case delivery_state::acked:
    case delivery_state::pending:
        return next_step::settled_ack;
    case delivery_state::dead_lettered:
        kind = dead_letter_kind::rejected;
        return next_step::dead_letter;
    case delivery_state::nacked:
        break;
    }
    if (const auto* alo = std::get_if<at_least_once>(&policy)) {
        if (it.deliveries < alo->max_deliveries)
            return next_step::redeliver;
        kind = dead_letter_kind::max_deliveries;
    } else {
        kind = dead_letter_kind::failed;
    }
    return next_step::dead_letter;
}

/// The redelivery delay after the item's latest failed delivery (0 under at-most-once).
inline duration redelivery_delay(const delivery_policy& policy, std::uint32_t deliveries) noexcept {
    if (const auto* alo = std::get_if<at_least_once>(&policy))
        return alo->redelivery_backoff.after(deliveries);
    return duration::zero();
}

} // namespace bulwark::detail
