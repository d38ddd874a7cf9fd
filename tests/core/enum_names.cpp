// Every public enum of bulwark prints its enumerator's name: `to_string(v)` and `os << v`
// (docs/core.md). One check per value, so a new enumerator without a name fails here.
#include <bulwark/channel/async_channel/ring.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/handler.hpp>
#include <bulwark/channel/subject.hpp>
#include <bulwark/core/classify.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/policy/adaptive_limit/limiter.hpp>
#include <bulwark/policy/circuit_breaker/options.hpp>
#include <bulwark/policy/retry/decision.hpp>
#include <bulwark/policy/retry/jitter.hpp>
#include <bulwark/saga/saga.hpp>
#include <bulwark/saga/saga_store.hpp>
#include <bulwark/transport/http/message.hpp>
#include <bulwark/transport/message_transport.hpp>

#if __has_include(<nats/nats.h>)
#include <bulwark/eventsource/jetstream_store.hpp>
#include <bulwark/transport/nats/jetstream.hpp>
#include <bulwark/transport/nats/options.hpp>
#define BULWARK_TEST_NATS_ENUMS 1
#endif

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <string_view>

namespace {

/// Streams `v` and checks both spellings give `name`.
template <class E>
void check_name(E v, std::string_view name) {
    std::ostringstream os;
    os << v;
    CHECK(os.str() == name);
    CHECK(to_string(v) == name);
}

} // namespace

TEST_CASE("every public enum streams and names each of its values", "[core][enum]") {
    using namespace bulwark;
    check_name(saga_event_kind::started, "started");
    check_name(saga_event_kind::resumed, "resumed");
    check_name(saga_event_kind::step_completed, "step_completed");
    check_name(saga_event_kind::step_failed, "step_failed");
    check_name(saga_event_kind::step_compensated, "step_compensated");
    check_name(saga_event_kind::compensation_failed, "compensation_failed");
    check_name(saga_event_kind::parked, "parked");
    check_name(saga_event_kind::completed, "completed");
    check_name(saga_event_kind::compensated, "compensated");
    check_name(saga_event_kind::store_failed, "store_failed");
    check_name(saga_status::running, "running");
    check_name(saga_status::compensating, "compensating");
    check_name(saga_status::completed, "completed");
    check_name(saga_status::compensated, "compensated");
    check_name(saga_status::parked, "parked");
    check_name(subject_use::publish, "publish");
    check_name(subject_use::subscribe, "subscribe");
    check_name(reserved_subjects::reject, "reject");
    check_name(reserved_subjects::allow, "allow");
    check_name(subject_problem::ok, "ok");
    check_name(subject_problem::empty, "empty");
    check_name(subject_problem::empty_token, "empty_token");
    check_name(subject_problem::invalid_character, "invalid_character");
    check_name(subject_problem::partial_wildcard, "partial_wildcard");
    check_name(subject_problem::full_wildcard_not_last, "full_wildcard_not_last");
    check_name(subject_problem::wildcard_on_publish, "wildcard_on_publish");
    check_name(subject_problem::reserved, "reserved");
    check_name(subject_problem::invalid_utf8, "invalid_utf8");
    check_name(handler_shape::none, "none");
    check_name(handler_shape::delivery, "delivery");
    check_name(handler_shape::message, "message");
    check_name(handler_shape::envelope, "envelope");
    check_name(push_status::ok, "ok");
    check_name(push_status::full, "full");
    check_name(push_status::closed, "closed");
    check_name(delivery_state::pending, "pending");
    check_name(delivery_state::acked, "acked");
    check_name(delivery_state::nacked, "nacked");
    check_name(delivery_state::dead_lettered, "dead_lettered");
    check_name(dead_letter_kind::max_deliveries, "max_deliveries");
    check_name(dead_letter_kind::rejected, "rejected");
    check_name(dead_letter_kind::failed, "failed");
    check_name(dead_letter_kind::malformed, "malformed");
    check_name(retry_stop::not_retryable, "not_retryable");
    check_name(retry_stop::attempts_exhausted, "attempts_exhausted");
    check_name(retry_stop::deadline, "deadline");
    check_name(retry_stop::max_duration, "max_duration");
    check_name(retry_stop::stopped, "stopped");
    check_name(retry_stop::budget_exhausted, "budget_exhausted");
    check_name(jitter_kind::none, "none");
    check_name(jitter_kind::full, "full");
    check_name(jitter_kind::equal, "equal");
    check_name(jitter_kind::decorrelated, "decorrelated");
    check_name(jitter_kind::grpc, "grpc");
    check_name(breaker_state::closed, "closed");
    check_name(breaker_state::open, "open");
    check_name(breaker_state::half_open, "half_open");
    check_name(breaker_state::forced_open, "forced_open");
    check_name(breaker_state::disabled, "disabled");
    check_name(breaker_state::metrics_only, "metrics_only");
    check_name(limit_outcome::success, "success");
    check_name(limit_outcome::dropped, "dropped");
    check_name(limit_outcome::ignored, "ignored");
    check_name(settle::kind::ack, "ack");
    check_name(settle::kind::nack, "nack");
    check_name(settle::kind::term, "term");
    check_name(http_method::get, "GET"); // the wire spelling
    check_name(http_method::head, "HEAD");
    check_name(http_method::post, "POST");
    check_name(http_method::put, "PUT");
    check_name(http_method::patch, "PATCH");
    check_name(http_method::del, "DELETE");
    check_name(http_method::options, "OPTIONS");
    check_name(verdict::success, "success");
    check_name(verdict::failure, "failure");
    check_name(verdict::ignore, "ignore");
    check_name(errc::exception, "exception");
    check_name(errc::timeout, "timeout");
    check_name(errc::cancelled, "cancelled");
    check_name(errc::circuit_open, "circuit_open");
    check_name(errc::bulkhead_full, "bulkhead_full");
    check_name(errc::rate_limited, "rate_limited");
    check_name(errc::retry_budget_exhausted, "retry_budget_exhausted");
    check_name(errc::no_endpoint, "no_endpoint");
    check_name(errc::no_responders, "no_responders");
    check_name(errc::queue_full, "queue_full");
    check_name(errc::channel_closed, "channel_closed");
    check_name(errc::invalid_subject, "invalid_subject");
    check_name(errc::invalid_argument, "invalid_argument");
    check_name(errc::decode_error, "decode_error");
    check_name(errc::transport_error, "transport_error");
    check_name(errc::rejected, "rejected");
    check_name(policy_kind::other, "other");
    check_name(policy_kind::total_timeout, "total_timeout");
    check_name(policy_kind::attempt_timeout, "attempt_timeout");
    check_name(policy_kind::retry, "retry");
    check_name(policy_kind::hedge, "hedge");
    check_name(policy_kind::circuit_breaker, "circuit_breaker");
    check_name(policy_kind::bulkhead, "bulkhead");
    check_name(policy_kind::rate_limiter, "rate_limiter");
    check_name(policy_kind::fallback, "fallback");
    check_name(policy_kind::balance, "balance");
    check_name(composition_role::none, "none");
    check_name(composition_role::repeater, "repeater");
    check_name(composition_role::total_timeout, "total_timeout");
    check_name(composition_role::attempt_timeout, "attempt_timeout");
    check_name(metric_group::none, "none");
    check_name(metric_group::retry, "retry");
    check_name(metric_group::breaker, "breaker");
    check_name(metric_group::timeout, "timeout");
    check_name(metric_group::bulkhead, "bulkhead");
    check_name(metric_group::rate_limiter, "rate_limiter");
    check_name(metric_group::hedge, "hedge");
    check_name(metric_group::fallback, "fallback");
    check_name(metric_group::balance, "balance");
    check_name(metric_group::channel, "channel");
    check_name(metric_group::transport, "transport");
    check_name(events::call_kind::successful, "successful");
    check_name(events::call_kind::failed, "failed");
    check_name(events::call_kind::ignored, "ignored");
    check_name(events::timeout_kind::total, "total");
    check_name(events::timeout_kind::per_attempt, "per_attempt");
    check_name(events::span_kind::internal, "internal");
    check_name(events::span_kind::client, "client");
    check_name(events::span_kind::server, "server");
    check_name(events::span_kind::producer, "producer");
    check_name(events::span_kind::consumer, "consumer");
#ifdef BULWARK_TEST_NATS_ENUMS
    check_name(stream_storage::file, "file");
    check_name(stream_storage::memory, "memory");
    check_name(stream_retention::limits, "limits");
    check_name(stream_retention::interest, "interest");
    check_name(stream_retention::work_queue, "work_queue");
    check_name(nats_event_kind::connected, "connected");
    check_name(nats_event_kind::disconnected, "disconnected");
    check_name(nats_event_kind::reconnected, "reconnected");
    check_name(nats_event_kind::closed, "closed");
    check_name(nats_event_kind::error, "error");
    check_name(writer_serialization::automatic, "automatic");
    check_name(writer_serialization::always, "always");
    check_name(writer_serialization::never, "never");
#endif
    // Outside the enum: "unknown", never undefined behaviour.
    check_name(static_cast<breaker_state>(200), "unknown");
    check_name(static_cast<jitter_kind>(200), "unknown");
    check_name(metric_group::retry | metric_group::breaker, "unknown");
}
