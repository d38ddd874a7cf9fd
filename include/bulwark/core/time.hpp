#pragma once
/// \file
/// Compatibility header: everything about time in one include, as before the split of core and
/// runtime. New code includes what it uses: `core/time_types.hpp` (vocabulary and concepts),
/// `runtime/steady_clock.hpp`, `runtime/any_clock.hpp`, `testing/manual_clock.hpp`. No header
/// of bulwark includes this one.

#include <bulwark/core/clock.hpp>
#include <bulwark/core/time_types.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/steady_clock.hpp>
#include <bulwark/runtime/task.hpp>
#include <bulwark/testing/manual_clock.hpp>
