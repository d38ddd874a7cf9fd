#pragma once
/// \file
/// One `operator<<` for every public enum of bulwark that has a `to_string`: each enum header
/// defines `constexpr std::string_view to_string(E) noexcept` (the enumerator's name, "unknown"
/// outside the enum) and includes this header, so `std::cout << v` and Catch2 print names.

#include <concepts>
#include <string_view>
#include <type_traits>

namespace bulwark {

namespace detail {

/// An enum with a `to_string(E)` found by argument-dependent lookup.
template <class E>
concept named_enum = std::is_enum_v<E> && requires(E e) {
    { to_string(e) } -> std::convertible_to<std::string_view>;
};

/// Anything that takes a `std::string_view` with `<<` (`std::ostream`, fmt-like writers).
template <class Os>
concept text_stream = requires(Os& os, std::string_view s) {
    os << s;
};

} // namespace detail

/// Writes `to_string(v)` for any bulwark enum that has one (enums that define their own
/// `operator<<` keep it: theirs is more specialised).
template <detail::text_stream Os, detail::named_enum E>
Os& operator<<(Os& os, E v) {
    os << to_string(v);
    return os;
}

} // namespace bulwark
