#pragma once
/// \file
/// Moved to <bulwark/channel/async_channel/delivery_settle.hpp> (the async channel's parts live
/// beside it).
#include <bulwark/channel/async_channel/delivery_settle.hpp>
