#pragma once
/// \file
/// Schema versions and upcasting: every message a typed front encodes carries a `schema-version`
/// header (and a `content-type` header naming the codec), and a newer type can read an older
/// payload through an upcast hook.
///
/// ```cpp
/// struct order_created_v1 { std::string id; double total; };          // what old services send
/// struct order_created {
///     static constexpr std::string_view subject = "orders.created";
///     static constexpr std::uint32_t schema_version = 2;                // this type's version
///     using previous_schema = order_created_v1;                         // version 1 decodes as
///     this static order_created upcast(order_created_v1&& old) {             // ... and becomes
///     this
///         return {old.id, old.total, "EUR"};
///     }
///     std::string id; double total; std::string currency;
/// };
/// ```
/// `decode_message<order_created>(codec, headers, bytes)` reads a version-2 payload directly, a
/// version-1 payload as `order_created_v1` and upcasts it (chains of any length work: v1 -> v2 ->
/// v3), and refuses a payload newer than the type with `errc::decode_error`. A message without a
/// `schema-version` header is version 1 (what a non-bulwark publisher sends).
///
/// The hook can also live outside the type: specialize `bulwark::schema_of<T>` with `version`,
/// `previous` and a static `upcast(previous&&)`.

#include <bulwark/codec/codec.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/outcome.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace bulwark {

/// Header names written by `encode_message`.
namespace header {
inline constexpr std::string_view schema_version = "schema-version";
inline constexpr std::string_view content_type = "content-type";
} // namespace header

/// The schema of message type `T`: its version (`T::schema_version`, default 1), the type an
/// older version decodes as (`T::previous_schema`) and the upcast (`T::upcast(previous&&)`).
/// Specialize it for types you cannot change.
template <class T>
struct schema_of {
    static constexpr std::uint32_t version = [] {
        if constexpr (requires { T::schema_version; })
            return static_cast<std::uint32_t>(T::schema_version);
        else
            return std::uint32_t{1};
    }();
};

namespace detail {
template <class T>
struct previous_schema_of {
    using type = void;
};
template <class T>
requires requires {
    typename schema_of<T>::previous;
}
struct previous_schema_of<T> {
    using type = typename schema_of<T>::previous;
};
template <class T>
requires(
    !requires { typename schema_of<T>::previous; } &&
    requires { typename T::previous_schema; }) struct previous_schema_of<T> {
    using type = typename T::previous_schema;
};

/// `T`'s name for messages ("order_created"), from `schema_of<T>::name`, `T::type_name`, or the
/// compiler's spelling of the type with namespaces removed.
template <class T>
constexpr std::string_view pretty_name() noexcept {
#if defined(__clang__) || defined(__GNUC__)
    std::string_view p = __PRETTY_FUNCTION__;
    // gcc: "... pretty_name() [with T = ns::order_created; ...]"; clang: "... [T =
    // ns::order_created]"
    auto at = p.find("T = ");
    if (at == std::string_view::npos)
        return "message";
    p.remove_prefix(at + 4);
    auto end = p.find_first_of(";]");
    p = p.substr(0, end);
    // drop namespaces, keeping template arguments intact
    std::size_t depth = 0, cut = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '<')
            ++depth;
        else if (p[i] == '>' && depth)
            --depth;
        else if (depth == 0 && p[i] == ':' && i + 1 < p.size() && p[i + 1] == ':')
            cut = i + 2;
    }
    return p.substr(cut);
#else
    return "message";
#endif
}
} // namespace detail

/// The type an older schema version of `T` decodes as (`void` when `T` has no older version).
template <class T>
using previous_schema_t = typename detail::previous_schema_of<T>::type;

/// `T`'s schema version.
template <class T>
inline constexpr std::uint32_t schema_version_v = schema_of<T>::version;

/// The name used for `T` in error messages.
template <class T>
constexpr std::string_view type_name() noexcept {
    if constexpr (requires { schema_of<T>::name; })
        return schema_of<T>::name;
    else if constexpr (requires { T::type_name; })
        return T::type_name;
    else
        return detail::pretty_name<T>();
}

/// A `errc::decode_error` failure whose text reads "<type>: <reason>" (`failure::raise` throws
/// `resilience_error` with that text; `decode_reason(f)` gives it back).
template <class T>
failure decode_failure(std::string_view reason) {
    std::string text{type_name<T>()};
    text.append(": ").append(reason);
    return failure{errc::decode_error,
                   std::make_exception_ptr(resilience_error(errc::decode_error, text)),
                   {}};
}

/// The text of a failure: the message of its exception (for a `resilience_error`, the text it
/// was given), else its code's message.
inline std::string failure_message(const failure& f) {
    if (f.exception) {
        try {
            std::rethrow_exception(f.exception);
        } catch (const std::system_error& e) {
            // std::system_error appends ": <code message>" to the text it was given: drop it
            std::string_view w = e.what();
            std::string tail = ": " + e.code().message();
            if (w.size() > tail.size() && w.substr(w.size() - tail.size()) == tail)
                w.remove_suffix(tail.size());
            return std::string(w);
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "unknown exception";
        }
    }
    return f.error_code().message();
}

namespace detail {
template <class T, class C>
outcome<T> decode_version(const C& codec, std::uint32_t version, std::span<const std::byte> in) {
    constexpr std::uint32_t mine = schema_version_v<T>;
    if (version == mine)
        return codec.template decode<T>(in);
    if (version > mine)
        return decode_failure<T>("schema version " + std::to_string(version) +
                                 " is newer than this type's " + std::to_string(mine) +
                                 " (deploy the newer consumer)");
    using prev = previous_schema_t<T>;
    if constexpr (std::is_void_v<prev>) {
        return decode_failure<T>("schema version " + std::to_string(version) +
                                 " is older than this type's " + std::to_string(mine) +
                                 " and the type declares no previous_schema to upcast from");
    } else {
        static_assert(schema_version_v<prev> < mine,
                      "bulwark::schema: previous_schema must have a lower schema_version");
        auto old = decode_version<prev>(codec, version, in);
        if (!old)
            return old.error();
        try {
            if constexpr (requires { schema_of<T>::upcast(std::move(*old)); })
                return T(schema_of<T>::upcast(std::move(*old)));
            else
                return T(T::upcast(std::move(*old)));
        } catch (const std::exception& e) {
            return decode_failure<T>(std::string("upcast from version ") + std::to_string(version) +
                                     " threw: " + e.what());
        }
    }
}
} // namespace detail

/// Encodes `value` with `codec` into `out` (appending) and sets the `content-type` and
/// `schema-version` headers. **Allocation:** the codec's.
template <class T, class C>
requires codec<C, T>
void encode_message(const C& c, const T& value, header_map& headers, std::vector<std::byte>& out) {
    c.encode(value, out);
    headers.set(header::content_type, C::name);
    char buf[12];
    auto r = std::to_chars(buf, buf + sizeof buf, schema_version_v<T>);
    headers.set(header::schema_version, {buf, static_cast<std::size_t>(r.ptr - buf)});
}

/// Decodes a message of type `T` from `bytes`, honouring its `schema-version` header (upcasting
/// an older payload). **Failure semantics:** `errc::decode_error` naming `T` and the reason —
/// malformed bytes, a bad or newer version, or an upcast that threw; never a crash.
template <class T, class C>
requires codec<C, T> outcome<T> decode_message(const C& c, const header_map& headers,
                                               std::span<const std::byte> bytes) {
    std::uint32_t version = 1;
    if (auto v = headers.get(header::schema_version)) {
        auto r = std::from_chars(v->data(), v->data() + v->size(), version);
        if (r.ec != std::errc{} || r.ptr != v->data() + v->size() || version == 0)
            return decode_failure<T>("bad schema-version header '" + std::string(*v) + "'");
    }
    if (auto ct = headers.get(header::content_type); ct && *ct != std::string_view(C::name))
        return decode_failure<T>("content-type '" + std::string(*ct) + "' is not this codec's '" +
                                 std::string(C::name) + "'");
    try {
        return detail::decode_version<T>(c, version, bytes);
    } catch (const std::exception& e) { // a codec or constructor that throws: still a value
        return decode_failure<T>(e.what());
    }
}

} // namespace bulwark
