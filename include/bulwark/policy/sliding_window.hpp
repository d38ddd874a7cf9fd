#pragma once
/// \file
/// Moved to `bulwark/policy/circuit_breaker/window.hpp`; this path keeps working.
#include <bulwark/policy/circuit_breaker/window.hpp>
