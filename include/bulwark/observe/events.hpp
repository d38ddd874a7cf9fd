#pragma once
/// \file
/// The event model: one small struct per thing a policy, balancer, channel or transport can
/// report. Listeners (<bulwark/observe/listener.hpp>) overload `on(const E&)` for the events they
/// want; an event nobody hears is never built.
///
/// Events are views: their `std::string_view` and pointer fields refer to the emitter's state and
/// are valid only during the `on(...)` call (copy what you keep). Building an event allocates
/// nothing.
///
/// This header depends on core/ only, so that every layer can emit events. The enums of the
/// emitting components (`breaker_state`, `retry_stop`, `dead_letter_kind`) are declared here
/// opaquely with their underlying types; their enumerators live in the components' headers.

#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

namespace bulwark {

enum class breaker_state : std::uint8_t;     // <bulwark/policy/circuit_breaker.hpp>
enum class retry_stop : std::uint8_t;        // <bulwark/policy/retry.hpp>
enum class dead_letter_kind : unsigned char; // <bulwark/channel/dead_letter.hpp>
class endpoint_identity;                     // <bulwark/core/endpoint_info.hpp>

/// The typed events of bulwark (see the file comment for lifetime rules). Each has a
/// `static constexpr std::string_view event_name` (its type's name) for generic listeners.
namespace events {

// The enums below print through bulwark's shared operator<< (found here by ADL).
using bulwark::operator<<;

// ---- retry ------------------------------------------------------------------------------------

/// Attempt `attempt` failed and a retry was granted: attempt `attempt + 1` starts after `delay`.
struct retry_attempt {
    static constexpr std::string_view event_name = "retry_attempt";
    std::uint32_t attempt = 0;
    duration delay{};
    const failure* error = nullptr; ///< the failure, or null when a value was judged a failure
};
/// The retry stopped retrying after `attempt` attempts, for `why`.
struct retry_give_up {
    static constexpr std::string_view event_name = "retry_give_up";
    retry_stop why{};
    std::uint32_t attempt = 0;
    const failure* error = nullptr;
};
/// A retry was needed but the retry budget refused it (a `retry_give_up` with
/// `retry_stop::budget_exhausted` follows).
struct retry_budget_refused {
    static constexpr std::string_view event_name = "retry_budget_refused";
    std::uint32_t attempt = 0;
};
/// A call through a retry ended after `attempts` attempts; `succeeded` = its last outcome was not
/// a failure (resilience4j's four call kinds: with/without retry x successful/failed).
struct retry_completed {
    static constexpr std::string_view event_name = "retry_completed";
    std::uint32_t attempts = 1;
    bool succeeded = true;
};

// ---- circuit breaker --------------------------------------------------------------------------

/// The breaker went from `from` to `to`; the rates are the window's at that moment (what made it
/// trip or close; 0 when the window holds no calls).
struct breaker_state_changed {
    static constexpr std::string_view event_name = "breaker_state_changed";
    breaker_state from{};
    breaker_state to{};
    double failure_rate = 0;   ///< failures / calls in the window, 0..1
    double slow_call_rate = 0; ///< slow calls / calls in the window, 0..1
    std::int64_t calls = 0;    ///< calls in the window
};
/// The breaker rejected a call; `retry_after` is the time left open (0 when unknown).
struct breaker_rejected {
    static constexpr std::string_view event_name = "breaker_rejected";
    breaker_state state{};
    duration retry_after{};
};
/// How the breaker recorded an admitted call (resilience4j's `kind` tag).
enum class call_kind : std::uint8_t { successful, failed, ignored };

/// The enumerator's name ("successful", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(call_kind v) noexcept {
    switch (v) {
    case call_kind::successful:
        return "successful";
    case call_kind::failed:
        return "failed";
    case call_kind::ignored:
        return "ignored";
    }
    return "unknown";
}
/// The breaker recorded an admitted call.
struct breaker_call {
    static constexpr std::string_view event_name = "breaker_call";
    call_kind kind = call_kind::successful;
};

// ---- timeout ----------------------------------------------------------------------------------

/// Which timeout fired.
enum class timeout_kind : std::uint8_t { total, per_attempt };

/// The enumerator's name ("total", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(timeout_kind v) noexcept {
    switch (v) {
    case timeout_kind::total:
        return "total";
    case timeout_kind::per_attempt:
        return "per_attempt";
    }
    return "unknown";
}
/// A timeout's deadline passed before the call (or attempt) completed.
struct timeout_expired {
    static constexpr std::string_view event_name = "timeout_expired";
    timeout_kind kind = timeout_kind::total;
    duration limit{};
};
/// A timeout asked the running operation to stop (cooperative cancellation).
struct timeout_stop_requested {
    static constexpr std::string_view event_name = "timeout_stop_requested";
    timeout_kind kind = timeout_kind::total;
};

// ---- bulkhead and rate limiter ---------------------------------------------------------------

/// The bulkhead had no slot (and no queue place within the wait): the call was not run.
struct bulkhead_rejected {
    static constexpr std::string_view event_name = "bulkhead_rejected";
};
/// The bulkhead put a call in its queue.
struct bulkhead_queued {
    static constexpr std::string_view event_name = "bulkhead_queued";
};
/// A queued call got its slot after `waited`.
struct bulkhead_waited {
    static constexpr std::string_view event_name = "bulkhead_waited";
    duration waited{};
};
/// The rate limiter had no permit within the wait: the call was not run.
struct rate_limiter_rejected {
    static constexpr std::string_view event_name = "rate_limiter_rejected";
    duration retry_after{};
};
/// The rate limiter made a call wait for a permit.
struct rate_limiter_queued {
    static constexpr std::string_view event_name = "rate_limiter_queued";
};
/// A waiting call got its permit after `waited`.
struct rate_limiter_waited {
    static constexpr std::string_view event_name = "rate_limiter_waited";
    duration waited{};
};

// ---- hedge and fallback -----------------------------------------------------------------------

/// A hedged request started: `hedge` is 1 for the first hedge (0 is the primary).
struct hedge_started {
    static constexpr std::string_view event_name = "hedge_started";
    std::uint32_t hedge = 1;
};
/// The outcome of attempt `index` (0 = primary) was the one returned.
struct hedge_winner {
    static constexpr std::string_view event_name = "hedge_winner";
    std::uint32_t index = 0;
};
/// The fallback replaced a failure (or a value judged a failure) with its own result.
struct fallback_used {
    static constexpr std::string_view event_name = "fallback_used";
    const failure* error = nullptr;
};

// ---- balance ----------------------------------------------------------------------------------

/// The balancer picked `endpoint` for an attempt.
struct balance_picked {
    static constexpr std::string_view event_name = "balance_picked";
    const endpoint_identity* endpoint = nullptr;
};
/// Outlier detection ejected `endpoint` for `for_how_long`.
struct balance_ejected {
    static constexpr std::string_view event_name = "balance_ejected";
    const endpoint_identity* endpoint = nullptr;
    duration for_how_long{};
};
/// An ejected endpoint came back into rotation.
struct balance_returned {
    static constexpr std::string_view event_name = "balance_returned";
    const endpoint_identity* endpoint = nullptr;
};
/// Too few endpoints were healthy: the balancer entered (or left) panic mode and picks among all
/// (Envoy's panic threshold).
struct balance_panic {
    static constexpr std::string_view event_name = "balance_panic";
    bool entered = true;
    std::size_t healthy = 0;
    std::size_t total = 0;
};

// ---- channels ---------------------------------------------------------------------------------

/// A message was accepted for `subject`.
struct channel_published {
    static constexpr std::string_view event_name = "channel_published";
    std::string_view subject{};
};
/// A handler took delivery `delivery` (1 = first) of a message on `subject`.
struct channel_delivered {
    static constexpr std::string_view event_name = "channel_delivered";
    std::string_view subject{};
    std::uint32_t delivery = 1;
};
/// A handler nacked (or threw on) a delivery.
struct channel_nacked {
    static constexpr std::string_view event_name = "channel_nacked";
    std::string_view subject{};
    std::uint32_t delivery = 1;
};
/// A nacked message was scheduled for delivery `delivery` (>= 2) after `delay` (0: at once,
/// ahead of the queue). Emitted by the channel when it decides to redeliver, before the wait.
struct channel_redelivery_scheduled {
    static constexpr std::string_view event_name = "channel_redelivery_scheduled";
    std::string_view subject{};
    std::uint32_t delivery = 2; ///< the delivery that is scheduled (the failed one + 1)
    duration delay{};           ///< the redelivery backoff before it
};
/// Delivery `delivery` (>= 2) of a nacked message is being handed to the handler (after the
/// matching `channel_delivered`); `delay` is the backoff it waited (as scheduled).
struct channel_redelivered {
    static constexpr std::string_view event_name = "channel_redelivered";
    std::string_view subject{};
    std::uint32_t delivery = 2; ///< this delivery's number
    duration delay{};
};
/// A message went to the dead-letter sink.
struct channel_dead_lettered {
    static constexpr std::string_view event_name = "channel_dead_lettered";
    std::string_view subject{};
    dead_letter_kind kind{};
    std::string_view reason{}; ///< the last nack's text
};
/// A bounded channel dropped a message because it was full (drop_oldest, drop_newest, reject).
struct channel_dropped {
    static constexpr std::string_view event_name = "channel_dropped";
    std::string_view subject{};
};
/// The idempotent consumer dropped (acked without handling) a first delivery whose id its
/// dedupe window already held.
struct channel_duplicate_dropped {
    static constexpr std::string_view event_name = "channel_duplicate_dropped";
    std::string_view subject{};
};

// ---- transports -------------------------------------------------------------------------------

/// A transport connected to `server` (the first time).
struct transport_connected {
    static constexpr std::string_view event_name = "transport_connected";
    std::string_view server{};
};
/// A transport lost its connection.
struct transport_disconnected {
    static constexpr std::string_view event_name = "transport_disconnected";
    std::string_view server{};
};
/// A transport connected again after a loss.
struct transport_reconnected {
    static constexpr std::string_view event_name = "transport_reconnected";
    std::string_view server{};
};

// ---- spans (W3C trace context, <bulwark/observe/trace.hpp>) ------------------------------------

/// The kind of a span (OpenTelemetry SpanKind).
enum class span_kind : std::uint8_t { internal, client, server, producer, consumer };

/// The enumerator's name ("internal", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(span_kind v) noexcept {
    switch (v) {
    case span_kind::internal:
        return "internal";
    case span_kind::client:
        return "client";
    case span_kind::server:
        return "server";
    case span_kind::producer:
        return "producer";
    case span_kind::consumer:
        return "consumer";
    }
    return "unknown";
}

/// One attribute of a span (OpenTelemetry semantic-convention key, e.g. `messaging.system`).
struct span_attribute {
    std::string_view key{};
    std::string_view text{}; ///< text value (used when `is_number` is false)
    std::int64_t number = 0;
    bool is_number = false;
};

/// A span began. Ids are W3C trace context ids (16-byte trace id as two halves, 8-byte span ids).
struct span_started {
    static constexpr std::string_view event_name = "span_started";
    std::string_view name{};
    span_kind kind = span_kind::internal;
    std::uint64_t trace_id_hi = 0;
    std::uint64_t trace_id_lo = 0;
    std::uint64_t span_id = 0;
    std::uint64_t parent_span_id = 0; ///< 0 for a root span
    std::uint8_t flags = 0;           ///< W3C trace-flags (bit 0: sampled)
    std::chrono::system_clock::time_point start{};
};
/// A span ended: everything a tracer needs to export it (forward it to your own tracer).
struct span_ended {
    static constexpr std::string_view event_name = "span_ended";
    std::string_view name{};
    span_kind kind = span_kind::internal;
    std::uint64_t trace_id_hi = 0;
    std::uint64_t trace_id_lo = 0;
    std::uint64_t span_id = 0;
    std::uint64_t parent_span_id = 0;
    std::uint8_t flags = 0;
    std::chrono::system_clock::time_point start{};
    std::chrono::system_clock::time_point end{};
    bool error = false;            ///< OTel status Error
    std::string_view error_type{}; ///< `error.type` (low cardinality), empty when ok
    const span_attribute* attributes = nullptr;
    std::size_t attribute_count = 0;
};

} // namespace events
} // namespace bulwark
