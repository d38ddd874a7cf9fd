#pragma once
/// \file
/// Delivery guarantees for async channels: `at_most_once`, `at_least_once{.max_deliveries,
/// .redelivery_backoff}`, and `delivery<T>`, the handle an explicit-ack handler settles with
/// `ack()`, `nack(reason)` or `dead_letter(reason)`.
///
/// The order of the recovery stages is fixed (see docs/async_channels.md):
///   1. in-process retry inside the handler (a `bulwark::pipeline` with `retry`, if the user has
///   one);
///   2. redelivery by the channel, after `redelivery_backoff`, up to `max_deliveries` in total;
///   3. dead letter: the sink receives the message, the reason and the delivery count;
///   4. dedupe on receive (`idempotent`), which checks first deliveries only, so a redelivery
///      is never dropped as a duplicate of itself (the bug of MassTransit #4688 / #3998).

#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/retry/backoff.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bulwark {

/// The delay before a redelivery: `min(max_delay, delay * multiplier^(n-1))` after the n-th
/// failed delivery. `delay = 0` (the default) redelivers at once, like a JetStream `Nak`.
///
/// The formula is `bulwark::exponential_backoff`'s raw delay (no jitter: a broker's redelivery
/// schedule is deterministic), so the two backoffs cannot drift apart; this type keeps its own
/// field names because they are JetStream's (`BackOff`) and users already write them.
struct redelivery_backoff {
    duration delay = duration::zero();
    double multiplier = 1.0;
    duration max_delay = std::chrono::hours(24); ///< NServiceBus caps delayed retries at 24 h

    /// The delay after `failed_deliveries` (>= 1; 0 counts as 1) deliveries failed. The product
    /// is computed in `double` and clamped to `max_delay` before any conversion back to an
    /// integer, so a huge multiplier or count saturates at `max_delay` instead of overflowing.
    /// Settings that `validate()` rejects never throw here: a `max_delay` below `delay` gives
    /// `max_delay`, a multiplier below 1 or not finite gives `delay` then `max_delay`.
    duration after(std::uint32_t failed_deliveries) const noexcept {
        if (delay <= duration::zero())
            return duration::zero();
        if (!(max_delay > delay))
            return max_delay;
        if (!(multiplier >= 1.0 && std::isfinite(multiplier)))
            return failed_deliveries <= 1 ? delay : max_delay;
        // Valid by the checks above, so the backoff's construction-time validation cannot throw.
        const exponential_backoff curve{
            .base = delay, .multiplier = multiplier, .cap = max_delay, .jitter = no_jitter};
        return curve.raw_delay(failed_deliveries == 0 ? 1 : failed_deliveries);
    }
    /// Throws `invalid_argument_error` when a field is out of range.
    void validate() const {
        detail::require(delay >= duration::zero(), "redelivery_backoff", "delay", ">= 0", delay);
        detail::require(multiplier >= 1.0 && std::isfinite(multiplier), "redelivery_backoff",
                        "multiplier", "finite and >= 1", multiplier);
        detail::require(max_delay >= delay, "redelivery_backoff", "max_delay", ">= delay",
                        max_delay);
    }
};

/// A failed delivery is not retried: the message goes to the dead-letter sink (if any) with a
/// delivery count of 1. Core NATS semantics; the channel's default.
struct at_most_once {};

/// A failed delivery (nack or exception) is redelivered after `redelivery_backoff`, until
/// `max_deliveries` deliveries in total have failed; then the message is dead-lettered.
/// JetStream's `MaxDeliver` / `BackOff`, with a finite default (GitLab MR 267213 learned why).
struct at_least_once {
    std::uint32_t max_deliveries = 5;
    ::bulwark::redelivery_backoff redelivery_backoff{};

    void validate() const {
        detail::require(max_deliveries >= 1, "at_least_once", "max_deliveries", ">= 1",
                        max_deliveries);
        redelivery_backoff.validate();
    }
};

/// The delivery guarantee of a channel (decided on the failure path only).
using delivery_policy = std::variant<at_most_once, at_least_once>;

/// How a delivery was settled.
enum class delivery_state : unsigned char {
    pending,       ///< not settled yet
    acked,         ///< handled
    nacked,        ///< failed: redeliver (at-least-once) or dead-letter (at-most-once / last try)
    dead_lettered, ///< poison: straight to the dead-letter sink, no redelivery
};

/// One delivery of a message to an explicit-ack handler (`void(bulwark::delivery<T>&)`).
///
/// The handler settles it before returning; the first settlement wins (later calls are ignored,
/// as a JetStream ack after an ack). A handler that returns without settling is acked when the
/// channel's `auto_ack` is on (the default) and nacked otherwise; one that throws is nacked with
/// the exception as the cause.
///
/// **Thread safety:** used by the consumer thread that runs the handler. **Allocation:** none to
/// ack; a reason text allocates only if it is long.
template <class T>
class delivery {
public:
    delivery(T& message, std::uint32_t attempt) noexcept
        : message_(&message)
        , attempt_(attempt) {}
    delivery(const delivery&) = delete;
    delivery& operator=(const delivery&) = delete;

    T& message() noexcept { return *message_; }
    const T& message() const noexcept { return *message_; }
    /// 1 for the first delivery, 2 for the first redelivery, ...
    std::uint32_t attempt() const noexcept { return attempt_; }
    bool is_redelivery() const noexcept { return attempt_ > 1; }

    /// Done with it.
    void ack() noexcept {
        if (state_ == delivery_state::pending)
            state_ = delivery_state::acked;
    }
    /// Failed this time; redeliver under at-least-once.
    void nack(std::string reason = "nacked by handler", failure cause = failure{errc::rejected}) {
        settle(delivery_state::nacked, std::move(reason), std::move(cause));
    }
    /// Poison: never redeliver; send it to the dead-letter sink now.
    void dead_letter(std::string reason = "dead-lettered by handler",
                     failure cause = failure{errc::rejected}) {
        settle(delivery_state::dead_lettered, std::move(reason), std::move(cause));
    }

    delivery_state state() const noexcept { return state_; }
    bool pending() const noexcept { return state_ == delivery_state::pending; }
    /// The nack / dead-letter reason ("" after an ack).
    const std::string& reason() const noexcept {
        return failed_ ? failed_->reason : empty_reason();
    }
    /// The nack / dead-letter cause (`errc::rejected` unless an exception was given).
    const failure& cause() const noexcept { return failed_ ? failed_->cause : no_cause(); }

private:
    struct failed_detail {
        std::string reason;
        failure cause;
    };
    static const std::string& empty_reason() noexcept {
        static const std::string e;
        return e;
    }
    static const failure& no_cause() noexcept {
        static const failure f{errc::rejected, {}, {}};
        return f;
    }
    void settle(delivery_state s, std::string reason, failure cause) {
        if (state_ != delivery_state::pending)
            return;
        state_ = s;
        if (s != delivery_state::acked)
            failed_.emplace(failed_detail{std::move(reason), std::move(cause)});
    }

    T* message_;
    std::uint32_t attempt_;
    delivery_state state_ = delivery_state::pending;
    std::optional<failed_detail> failed_; // engaged on the failure path only: an ack is trivial
};

} // namespace bulwark
