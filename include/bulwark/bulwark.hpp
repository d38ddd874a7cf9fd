#pragma once
/// \file
/// The umbrella header: every component that needs no optional dependency.
/// (Optional parts — NATS, HTTP, JSON, Asio scheduler — have their own headers.)

#include <bulwark/core/classify.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/policy.hpp>
#include <bulwark/core/task.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/pipeline.hpp>
