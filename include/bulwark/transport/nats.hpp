#pragma once
/// \file
/// The NATS transport (optional target `bulwark::nats`, over cnats 3.4+):
/// - `nats_transport` (transport/nats/transport.hpp): the byte `message_transport` over core
///   NATS — publish with headers, subscribe with wildcards and queue groups, request/reply with
///   a deadline (no responders at once), drain; connection options and events;
/// - `jetstream` (transport/nats/jetstream.hpp): streams and durable pull consumers declared
///   from C++, publish with `Nats-Msg-Id` and publish acks, bounded asynchronous publish;
/// - `jetstream_consumer` (transport/nats/consumer.hpp): at-least-once delivery mapped onto
///   bulwark's delivery policies (ack, nak with the redelivery backoff, in-progress, dead letter
///   after max deliveries), per-key ordering, and dedupe by message id;
/// - `jetstream_bus<Topics, Codec>` (transport/nats/jetstream_bus.hpp): the typed asynchronous
///   bus with at-least-once delivery over JetStream, with `async_bus`'s API.
///
/// See docs/transports.md for the guarantees, step by step.

#include <bulwark/transport/nats/consumer.hpp>
#include <bulwark/transport/nats/jetstream.hpp>
#include <bulwark/transport/nats/jetstream_bus.hpp>
#include <bulwark/transport/nats/options.hpp>
#include <bulwark/transport/nats/transport.hpp>
