#pragma once
/// \file
/// `topics<T...>`: the compile-time set of message types a bus carries, each with a NATS subject.
///
/// ```cpp
/// struct order_created {
///     static constexpr std::string_view subject = "orders.created";
///     std::string id;
/// };
/// struct payment_processed { std::string order; };
/// template <> struct bulwark::subject_of<payment_processed> {
///     static constexpr std::string_view value = "payments.processed";
/// };
/// using shop_topics = bulwark::topics<order_created, payment_processed>;
/// ```
/// A type outside the set fails to compile with "... is not a topic of this bus". Subjects are
/// validated at compile time (publish rules: no wildcards, no empty tokens, no `$` prefix) and
/// must be distinct within a set.

#include <bulwark/channel/detail/topic_map.hpp>
#include <bulwark/channel/subject.hpp>

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace bulwark {

/// The subject of message type `T`: `T::subject` by default; specialize it for types you cannot
/// change (`template <> struct bulwark::subject_of<X> { static constexpr std::string_view value
/// = "x.happened"; };`).
template <class T>
struct subject_of {};

template <class T>
requires requires {
    { T::subject } -> std::convertible_to<std::string_view>;
}
struct subject_of<T> {
    static constexpr std::string_view value = T::subject;
};

/// A message type with a subject (a static member `subject` or a `subject_of` specialization).
template <class T>
concept message = std::is_object_v<T> && !std::is_const_v<T> && requires {
    { subject_of<T>::value } -> std::convertible_to<std::string_view>;
};

/// The subject of `T`, as a `std::string_view`.
template <message T>
inline constexpr std::string_view subject_v = subject_of<T>::value;

/// The reply type of a request type: `Req::reply_type` when declared (used by request/reply and
/// the query bus to check responders at compile time).
template <class Req>
struct reply_of {};
template <class Req>
requires requires {
    typename Req::reply_type;
}
struct reply_of<Req> {
    using type = typename Req::reply_type;
};

namespace detail {
// Checks that stay quiet for a type without a subject (reported once, by its own assertion).
template <class T>
constexpr std::string_view subject_or_empty() noexcept {
    if constexpr (message<T>)
        return subject_of<T>::value;
    else
        return {};
}
template <class T>
constexpr bool has_valid_subject() noexcept {
    if constexpr (message<T>)
        return is_valid_publish_subject(subject_of<T>::value);
    else
        return true;
}
} // namespace detail

/// A compile-time set of message types (distinct types, distinct valid subjects).
template <class... T>
struct topics {
    static_assert((message<T> && ...),
                  "bulwark::topics: every topic needs a subject: add `static constexpr "
                  "std::string_view subject = \"orders.created\";` to the type, or specialize "
                  "bulwark::subject_of<T> with a `value`");
    static_assert((detail::has_valid_subject<T>() && ...),
                  "bulwark::topics: a topic's subject is not a valid NATS publish subject "
                  "(tokens separated by '.', no empty tokens, no wildcards, no '$' prefix)");
    static_assert(detail::distinct_types<T...>(),
                  "bulwark::topics: a message type is listed twice; list each type once");
    static_assert(detail::distinct_subjects({detail::subject_or_empty<T>()...}),
                  "bulwark::topics: two topics share a subject; give each type its own subject");

    /// Number of topics.
    static constexpr std::size_t size = sizeof...(T);
};

namespace detail {
template <class Topics>
struct topics_traits;
template <class... T>
struct topics_traits<topics<T...>> : topic_map<T...> {};
} // namespace detail

/// True when `T` (cv-ref removed) is one of `Topics`.
template <class T, class Topics>
inline constexpr bool is_topic_v =
    detail::topics_traits<Topics>::template contains<std::remove_cvref_t<T>>;

/// `T` (cv-ref removed) is one of `Topics`.
template <class T, class Topics>
concept topic_of = is_topic_v<T, Topics>;

/// The position of topic `T` in `Topics` (resolved at compile time).
template <class T, class Topics>
requires topic_of<T, Topics>
inline constexpr std::size_t topic_index_v =
    detail::topics_traits<Topics>::template index<std::remove_cvref_t<T>>;

/// The number of topics in `Topics`.
template <class Topics>
inline constexpr std::size_t topic_count_v = detail::topics_traits<Topics>::size;

/// The topic at position `I` of `Topics`.
template <std::size_t I, class Topics>
using topic_at_t = typename detail::topics_traits<Topics>::template at<I>;

namespace detail {
/// Named so that the compiler's note reads "is_a_topic_of_this_bus<int, ...> evaluates to false".
template <class T, class Topics>
inline constexpr bool is_a_topic_of_this_bus = is_topic_v<T, Topics>;

/// Compile-time guard used by every bus entry point: a readable one-line error for a message
/// type outside the bus's topics. Call it first in a function template: `require_topic<T,
/// Topics>();`. It returns the topic's index so the caller can route with it.
template <class T, class Topics>
constexpr std::size_t require_topic() noexcept {
    if constexpr (is_topic_v<T, Topics>) {
        return topic_index_v<T, Topics>;
    } else {
        static_assert(is_a_topic_of_this_bus<T, Topics>,
                      "bulwark: this message type is not a topic of this bus; add it to the "
                      "bus's bulwark::topics<...> (the note below names the type)");
        return 0;
    }
}
} // namespace detail

} // namespace bulwark
