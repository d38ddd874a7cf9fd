#pragma once
/// \file
/// The type → channel-index map behind `topics<T...>`: a Boost.Hana map from `type_c<T>` to
/// `size_c<I>`, resolved entirely at compile time (no runtime lookup when publishing).
/// Internal: Hana never appears in a public signature.

#include <boost/hana/at_key.hpp>
#include <boost/hana/contains.hpp>
#include <boost/hana/integral_constant.hpp>
#include <boost/hana/map.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/type.hpp>

#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

template <class U, class... T>
inline constexpr std::size_t count_of = (std::size_t{std::is_same_v<U, T>} + ... + 0);

template <class... T>
constexpr bool distinct_types() noexcept {
    return ((count_of<T, T...> == 1) && ...);
}

constexpr bool distinct_subjects(std::initializer_list<std::string_view> subjects) noexcept {
    for (auto a = subjects.begin(); a != subjects.end(); ++a)
        for (auto b = a + 1; b != subjects.end(); ++b)
            if (!a->empty() && *a == *b)
                return false;
    return true;
}

template <class Seq, class... T>
struct topic_map_impl;

template <std::size_t... I, class... T>
struct topic_map_impl<std::index_sequence<I...>, T...> {
    // The Hana structure: type_c<T> -> size_c<I>.
    static constexpr auto map = boost::hana::make_map(
        boost::hana::make_pair(boost::hana::type_c<T>, boost::hana::size_c<I>)...);
    using map_type = std::remove_cv_t<decltype(map)>;
};

/// Compile-time facts about a topic list.
template <class... T>
struct topic_map {
    using impl = topic_map_impl<std::index_sequence_for<T...>, T...>;
    static constexpr std::size_t size = sizeof...(T);

    template <class U>
    static constexpr bool contains = std::remove_cvref_t<decltype(boost::hana::contains(
        impl::map, boost::hana::type_c<U>))>::value;

    template <class U>
    static constexpr std::size_t index = std::remove_cvref_t<decltype(boost::hana::at_key(
        impl::map, boost::hana::type_c<U>))>::value;

    template <std::size_t I>
    using at = std::tuple_element_t<I, std::tuple<T...>>;
};

} // namespace bulwark::detail
