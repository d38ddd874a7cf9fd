#pragma once
/// \file
/// Moved to `bulwark/runtime/task.hpp`; this path keeps working.
#include <bulwark/runtime/task.hpp>
