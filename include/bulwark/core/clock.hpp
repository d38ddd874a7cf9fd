#pragma once
/// \file
/// The time concepts: `clock` (reads the time), `sleeper` (blocks for a while, stoppable) and
/// `scheduler` (a clock whose sleeps can be awaited). Models: `steady_clock`, `any_clock`
/// (`runtime/`), `manual_clock` (`testing/`).

#include <bulwark/core/time_types.hpp>

#include <concepts>
#include <stop_token>

namespace bulwark {

/// A source of the current time.
template <class C>
concept clock = requires(const C& c) {
    { c.now() } -> std::same_as<time_point>;
};

/// Blocks the calling thread for a duration; returns false when woken by the stop token.
template <class S>
concept sleeper = requires(const S& s, duration d, const std::stop_token& st) {
    { s.sleep_for(d, st) } -> std::same_as<bool>;
};

/// A time source whose sleeps can be awaited (`co_await s.async_sleep_for(d, st)` yields
/// `true` when the time elapsed, `false` when the stop token fired first).
template <class S>
concept scheduler = clock<S> && requires(const S& s, duration d, std::stop_token st) {
    { s.async_sleep_for(d, st).await_ready() } -> std::same_as<bool>;
    { s.async_sleep_for(d, st).await_resume() } -> std::same_as<bool>;
};

} // namespace bulwark
