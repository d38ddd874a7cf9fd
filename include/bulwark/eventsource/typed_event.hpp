#pragma once
/// \file
/// Typed events: a C++ type per event, named by a static member, encoded by a `codec`, and
/// dispatched to `apply(const E&)` / `on(const E&, ...)` by type at compile time (the stored type
/// name picks the alternative; no handler is looked up by a string the user writes).
///
/// ```cpp
/// struct order_placed { static constexpr std::string_view event_type = "order_placed"; ... };
/// ```

#include <bulwark/codec/codec.hpp>
#include <bulwark/eventsource/event_store.hpp>

#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bulwark {

/// A type usable as an event: it names itself (`static constexpr std::string_view event_type`).
template <class E>
concept typed_event = requires {
    { E::event_type } -> std::convertible_to<std::string_view>;
};

/// The stored type name of `E`.
template <typed_event E>
inline constexpr std::string_view event_type_name = E::event_type;

/// Encodes `e` as a new `event_data` (a fresh id unless one is given).
template <class Codec, typed_event E>
event_data make_event(const E& e, const Codec& codec = {}, std::string id = new_event_id()) {
    std::vector<std::byte> bytes;
    codec.encode(e, bytes);
    return event_data{std::move(id), std::string(event_type_name<E>),
                      std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
}

namespace detail {

template <class... E>
constexpr bool distinct_event_names() {
    std::string_view names[] = {std::string_view(E::event_type)...};
    for (std::size_t i = 0; i < sizeof...(E); ++i)
        for (std::size_t j = i + 1; j < sizeof...(E); ++j)
            if (names[i] == names[j])
                return false;
    return true;
}

template <class... E>
constexpr void check_events() {
    static_assert((typed_event<E> && ...),
                  "bulwark::eventsource: every event type needs "
                  "`static constexpr std::string_view event_type = \"name\";`");
    if constexpr ((typed_event<E> && ...))
        static_assert(distinct_event_names<E...>(),
                      "bulwark::eventsource: two event types share one event_type name");
}

enum class dispatch_result { handled, unknown_type, decode_failed };

/// Decodes `rec` as whichever of `E...` its type names and calls `f(const E&)`.
template <class Codec, class... E, class F>
dispatch_result dispatch(const Codec& codec, const recorded_event& rec, F&& f,
                         failure* decode_error = nullptr) {
    dispatch_result r = dispatch_result::unknown_type;
    auto bytes = std::as_bytes(std::span{rec.payload.data(), rec.payload.size()});
    auto one = [&]<class Ev>(std::type_identity<Ev>) {
        if (rec.type != event_type_name<Ev>)
            return false;
        auto decoded = codec.template decode<Ev>(bytes);
        if (!decoded) {
            r = dispatch_result::decode_failed;
            if (decode_error != nullptr)
                *decode_error = decoded.error();
            return true;
        }
        f(*decoded);
        r = dispatch_result::handled;
        return true;
    };
    (one(std::type_identity<E>{}) || ...);
    return r;
}

} // namespace detail
} // namespace bulwark
