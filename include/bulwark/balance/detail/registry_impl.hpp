#pragma once
/// \file
/// Forwarding header: the registry is whole in balance/registry.hpp (its parts in
/// balance/registry/); range-v3 queries are in balance/registry/queries.hpp.
#include <bulwark/balance/registry.hpp>
#include <bulwark/balance/registry/queries.hpp>
