#pragma once
/// \file
/// Moved: the timeout's parts live in `policy/timeout/`.
#include <bulwark/policy/timeout/core.hpp>
