#pragma once
/// \file
/// `json_codec`: JSON over nlohmann-json 3 (optional target `bulwark::json`).
///
/// A type gives its JSON form in one of three ways, tried in this order:
/// 1. nlohmann's own customization: ADL `to_json(nlohmann::json&, const T&)` and
///    `from_json(const nlohmann::json&, T&)` in `T`'s namespace (or the
///    `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE` macro, or an `adl_serializer<T>` specialization);
/// 2. a static member list of fields, checked strictly on decode (a missing or mistyped field is
///    an error naming it):
///    ```cpp
///    struct order_created {
///        std::string id; double total;
///        static constexpr auto json_fields = bulwark::json_fields(
///            bulwark::field("id", &order_created::id), bulwark::field("total",
///            &order_created::total));
///    };
///    ```
/// 3. types nlohmann knows already (numbers, strings, containers, maps, optionals).
///
/// **Failure semantics:** `decode<T>` of malformed text, a wrong type or a missing field is a
/// `errc::decode_error` whose text reads "order_created: <reason>" (see `decode_failure`).
/// **Allocation:** nlohmann builds a DOM (a few allocations per field); encode appends the text.

#include <bulwark/codec/codec.hpp>
#include <bulwark/codec/schema.hpp>
#include <bulwark/core/outcome.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace bulwark {

/// One named member of a `json_fields` list.
template <class T, class V>
struct json_field {
    std::string_view name;
    V T::*member;
};

/// A named member: `bulwark::field("total", &order_created::total)`.
template <class T, class V>
constexpr json_field<T, V> field(std::string_view name, V T::*member) noexcept {
    return {name, member};
}

/// The field list of a type (`static constexpr auto json_fields = bulwark::json_fields(...)`).
template <class... F>
constexpr std::tuple<F...> json_fields(F... fields) noexcept {
    return {fields...};
}

namespace detail {
template <class T>
concept has_json_fields = requires {
    T::json_fields;
};

template <class T>
concept nlohmann_convertible = requires(nlohmann::json& j, const T& v) {
    nlohmann::adl_serializer<T>::to_json(j, v);
    { nlohmann::json(v).template get<T>() } -> std::same_as<T>;
};

template <class T>
void json_fields_to(nlohmann::json& j, const T& v) {
    j = nlohmann::json::object();
    std::apply([&](const auto&... f) { ((j[std::string(f.name)] = v.*(f.member)), ...); },
               T::json_fields);
}

template <class T>
void json_fields_from(const nlohmann::json& j, T& v) {
    if (!j.is_object())
        throw std::runtime_error(std::string("expected a JSON object, got ") + j.type_name());
    std::apply(
        [&](const auto&... f) {
            auto one = [&](const auto& fld) {
                auto it = j.find(std::string(fld.name));
                if (it == j.end())
                    throw std::runtime_error("missing field '" + std::string(fld.name) + "'");
                try {
                    using member_t = std::remove_cvref_t<decltype(v.*(fld.member))>;
                    v.*(fld.member) = it->template get<member_t>();
                } catch (const nlohmann::json::exception& e) {
                    throw std::runtime_error("field '" + std::string(fld.name) + "': " + e.what());
                }
            };
            (one(f), ...);
        },
        T::json_fields);
}
} // namespace detail

/// The JSON codec (content type `application/json`).
///
/// **Thread safety:** stateless; use from any thread.
struct json_codec {
    using codec_concept = codec_tag;
    static constexpr std::string_view name = "application/json";

    template <class T>
    requires(detail::has_json_fields<T> ||
             detail::nlohmann_convertible<T>) void encode(const T& value,
                                                          std::vector<std::byte>& out) const {
        nlohmann::json j;
        if constexpr (detail::has_json_fields<T> && !detail::nlohmann_convertible<T>)
            detail::json_fields_to(j, value);
        else
            j = value;
        std::string text = j.dump();
        auto at = out.size();
        out.resize(at + text.size());
        std::memcpy(out.data() + at, text.data(), text.size());
    }

    template <class T>
    requires(detail::has_json_fields<T> ||
             detail::nlohmann_convertible<T>) outcome<T> decode(std::span<const std::byte> in)
    const {
        const char* first = reinterpret_cast<const char*>(in.data());
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(first, first + in.size());
        } catch (const nlohmann::json::exception& e) {
            return decode_failure<T>(std::string("malformed JSON: ") + e.what());
        }
        try {
            if constexpr (detail::has_json_fields<T> && !detail::nlohmann_convertible<T>) {
                static_assert(std::is_default_constructible_v<T>,
                              "bulwark::json_codec: a type with json_fields must be "
                              "default-constructible (its fields are assigned one by one)");
                T value{};
                detail::json_fields_from(j, value);
                return value;
            } else {
                return j.template get<T>();
            }
        } catch (const std::exception& e) {
            return decode_failure<T>(e.what());
        }
    }
};

} // namespace bulwark
