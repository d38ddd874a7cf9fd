#pragma once
/// \file
/// `raw_codec`: bytes as they are. Carries `std::vector<std::byte>`, `std::string`,
/// `std::vector<char>` and `std::vector<unsigned char>` (content type
/// `application/octet-stream`). For messages a service already serialises itself, and for
/// transports under test.

#include <bulwark/codec/codec.hpp>
#include <bulwark/core/outcome.hpp>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bulwark {

namespace detail {
template <class T>
inline constexpr bool raw_bytes_type =
    std::is_same_v<T, std::vector<std::byte>> || std::is_same_v<T, std::string> ||
    std::is_same_v<T, std::vector<char>> || std::is_same_v<T, std::vector<unsigned char>>;
} // namespace detail

/// The identity codec for byte containers.
///
/// **Failure semantics:** decoding never fails (any bytes are valid raw bytes).
/// **Allocation:** the destination container's growth only.
struct raw_codec {
    using codec_concept = codec_tag;
    static constexpr std::string_view name = "application/octet-stream";

    template <class T>
    requires detail::raw_bytes_type<T>
    void encode(const T& value, std::vector<std::byte>& out) const {
        auto at = out.size();
        out.resize(at + value.size());
        if (!value.empty())
            std::memcpy(out.data() + at, value.data(), value.size());
    }

    template <class T>
    requires detail::raw_bytes_type<T> outcome<T> decode(std::span<const std::byte> in)
    const {
        T value(in.size(), typename T::value_type{});
        if (!in.empty())
            std::memcpy(value.data(), in.data(), in.size());
        return value;
    }
};

static_assert(codec<raw_codec, std::string> && codec<raw_codec, std::vector<std::byte>>);

} // namespace bulwark
