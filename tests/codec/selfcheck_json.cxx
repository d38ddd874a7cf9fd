#include <bulwark/codec/json.hpp>
#include <bulwark/codec/json.hpp> // include guard
