#pragma once
/// \file
/// Moved to `bulwark/policy/circuit_breaker/breaker_set.hpp`; this path keeps working.
#include <bulwark/policy/circuit_breaker/breaker_set.hpp>
