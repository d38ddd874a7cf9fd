#pragma once
/// \file
/// Moved to `bulwark/policy/retry/backoff.hpp`; this path keeps working.
#include <bulwark/policy/retry/backoff.hpp>
