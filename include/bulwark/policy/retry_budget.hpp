#pragma once
/// \file
/// Moved to `bulwark/policy/retry/budget.hpp`; this path keeps working.
#include <bulwark/policy/retry/budget.hpp>
