#pragma once
// A listener for the scenario tests: records every event it hears, by name, with the few fields
// the tests check, in order (thread-safe).

#include <bulwark/observe/events.hpp>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

namespace bulwark::test {

struct event_log {
    std::mutex mu;
    std::vector<std::string> names;
    std::vector<std::uint32_t> attempts; // retry_attempt.attempt / give_up.attempt / completed
    std::vector<duration> durations;     // retry delay, waits, ejection times, timeout limits

    std::size_t count(std::string_view name) {
        std::lock_guard lock(mu);
        return static_cast<std::size_t>(std::count(names.begin(), names.end(), name));
    }
    std::vector<std::string> all() {
        std::lock_guard lock(mu);
        return names;
    }
};

/// Hears every event (a generic `on`), and records it in `log`.
struct recorder {
    event_log* log;

    template <class E>
    void on(const E& e) {
        std::lock_guard lock(log->mu);
        log->names.emplace_back(E::event_name);
        if constexpr (requires { e.attempt; })
            log->attempts.push_back(e.attempt);
        if constexpr (requires { e.attempts; })
            log->attempts.push_back(e.attempts);
        if constexpr (requires { e.delay; })
            log->durations.push_back(e.delay);
        if constexpr (requires { e.waited; })
            log->durations.push_back(e.waited);
    }
};

} // namespace bulwark::test
