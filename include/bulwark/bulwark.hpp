#pragma once
/// \file
/// The umbrella header: every component that needs no optional dependency.
/// Optional or heavy parts have their own headers and are not included here:
/// `core/asio_scheduler.hpp` (Boost.Asio), and later the NATS, HTTP and JSON adapters.

// core
#include <bulwark/core/classify.hpp>
#include <bulwark/core/clock.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/core/time_types.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/steady_clock.hpp>
#include <bulwark/runtime/task.hpp>
#include <bulwark/testing/manual_clock.hpp>

// resilience policies
#include <bulwark/policy/bulkhead.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/circuit_breaker/breaker_set.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/hedge.hpp>
#include <bulwark/policy/rate_limiter.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/standard.hpp>
#include <bulwark/policy/timeout.hpp>

// load balancing and discovery
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/endpoint_set.hpp>
#include <bulwark/balance/health.hpp>
#include <bulwark/balance/least_outstanding.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/outlier.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/registry/options.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/strategy.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>

// typed messaging
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/async_channel.hpp>
#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/cqrs.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/channel/queue.hpp>
#include <bulwark/channel/request_reply.hpp>
#include <bulwark/channel/subject.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
