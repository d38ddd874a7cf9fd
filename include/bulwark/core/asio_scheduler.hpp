#pragma once
/// \file
/// Moved to `bulwark/runtime/asio_scheduler.hpp`; this path keeps working.
#include <bulwark/runtime/asio_scheduler.hpp>
