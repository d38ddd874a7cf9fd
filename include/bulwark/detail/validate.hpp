#pragma once
/// \file
/// The one validation helper of every options aggregate: one message style,
/// `bulwark::retry: max_attempts must be >= 1 (got 0)`, thrown as `invalid_argument_error`.

#include <bulwark/core/error.hpp>

#include <chrono>
#include <concepts>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace bulwark::detail {

/// A setting's value as text for an error message (numbers, durations with units, strings).
template <class V>
std::string setting_text(const V& v) {
    if constexpr (std::is_same_v<V, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_floating_point_v<V>) {
        char buf[32]; // as people write it: 0.2, 1e+12, nan, inf
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
        return buf;
    } else if constexpr (std::is_arithmetic_v<V>) {
        return std::to_string(v);
    } else if constexpr (requires {
                             v.count();
                             typename V::period;
                         }) {
        using P = typename V::period;
        const char* unit = std::is_same_v<P, std::nano>          ? "ns"
                           : std::is_same_v<P, std::micro>       ? "us"
                           : std::is_same_v<P, std::milli>       ? "ms"
                           : std::is_same_v<P, std::ratio<1>>    ? "s"
                           : std::is_same_v<P, std::ratio<60>>   ? "min"
                           : std::is_same_v<P, std::ratio<3600>> ? "h"
                                                                 : " ticks";
        return std::to_string(v.count()) + unit;
    } else if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        return "'" + std::string(std::string_view(v)) + "'";
    } else {
        return "(value)";
    }
}

/// Throws `invalid_argument_error("bulwark::<component>: <setting> must be <rule> (got <v>)")`.
template <class V>
[[noreturn]] void invalid_setting(std::string_view component, std::string_view setting,
                                  std::string_view rule, const V& got) {
    std::string msg = "bulwark::";
    msg.append(component).append(": ").append(setting).append(" must be ").append(rule);
    msg.append(" (got ").append(setting_text(got)).append(")");
    throw invalid_argument_error(msg);
}

/// Checks one setting: `require(n >= 1, "retry", "max_attempts", ">= 1", n)`.
template <class V>
constexpr void require(bool ok, std::string_view component, std::string_view setting,
                       std::string_view rule, const V& got) {
    if (!ok) [[unlikely]]
        invalid_setting(component, setting, rule, got);
}

/// The one validation mechanism of every options aggregate: an empty member placed last, whose
/// default initializer runs after every setting is in place and calls the aggregate's
/// `validate()`. Aggregates cannot have a validating constructor and keep designated
/// initializers; this keeps both (`exponential_backoff{.base = -1ms}` throws where it is made).
/// `validate()` checks each setting through `require`.
struct settings_check {
    template <class Settings>
    explicit settings_check(const Settings* s) {
        s->validate();
    }
};

} // namespace bulwark::detail
