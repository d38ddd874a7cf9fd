#pragma once
/// \file
/// The codec seam: how a typed front turns `T` into bytes for a byte transport and back.
///
/// `C::encode(const T&, std::vector<std::byte>&)` appends the encoding; `C::decode(bytes)` →
/// `outcome<T>` fails with `errc::decode_error` and a message naming the type and the reason on
/// malformed input (never a crash, never a silent default). A codec names itself (`name`, sent
/// as the content-type header) and opts in with `using codec_concept = bulwark::codec_tag;`.

#include <bulwark/core/outcome.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace bulwark {

/// The opt-in tag of codecs.
struct codec_tag {};

/// A codec `C` that can carry `T`.
template <class C, class T>
concept codec = requires {
    typename C::codec_concept;
}
&&std::derived_from<typename C::codec_concept, codec_tag>&& requires(
    const C& c, const T& value, std::vector<std::byte>& out, std::span<const std::byte> in) {
    { C::name } -> std::convertible_to<std::string_view>;
    c.encode(value, out);
    { c.template decode<T>(in) } -> std::same_as<outcome<T>>;
};

} // namespace bulwark
