#pragma once
/// \file
/// Forwarding header: per-endpoint breakers moved to policy/circuit_breaker/endpoint_breakers.hpp.
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>
