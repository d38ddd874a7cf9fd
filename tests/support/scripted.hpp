#pragma once
// A scripted operation: fails on chosen attempts (by call number, starting at 1), optionally takes
// simulated time on a manual clock, and records what it saw.
//
//   bulwark::test::scripted_op op{.fail_on = {1, 2}, .value = 42};
//   pipeline.execute(std::ref(op));   // calls 1 and 2 throw, call 3 returns 42

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>

#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

namespace bulwark::test {

/// The exception a scripted_op throws on a failing call.
struct scripted_failure : std::runtime_error {
    int call;
    explicit scripted_failure(int c)
        : std::runtime_error("scripted failure")
        , call(c) {}
};

struct scripted_op {
    enum class how { throw_exception, return_error };

    std::set<int> fail_on{};             ///< call numbers (1-based) that fail
    int value = 42;                      ///< returned on success
    how failure = how::throw_exception;  ///< how a failing call fails
    errc error = errc::transport_error;  ///< the code when failure == return_error
    std::optional<manual_clock> clock{}; ///< when set, each call takes `latency` of its time
    duration latency{};                  ///< simulated time per call (needs `clock`)
    bool fail_all = false;               ///< every call fails

    int calls = 0;
    std::vector<std::uint32_t> attempts_seen{};
    std::vector<time_point> deadlines_seen{};
    std::vector<bool> stop_seen{};

    outcome<int> operator()(context& ctx) {
        ++calls;
        attempts_seen.push_back(ctx.attempt());
        deadlines_seen.push_back(ctx.deadline());
        if (clock && latency > duration::zero()) {
            // A well-behaved operation: it gives up at the context's deadline.
            auto now = clock->now();
            if (ctx.has_deadline() && ctx.deadline() - now < latency) {
                clock->advance_to(ctx.deadline());
                stop_seen.push_back(ctx.stop_requested());
                return outcome<int>{errc::timeout};
            }
            clock->advance(latency);
        }
        stop_seen.push_back(ctx.stop_requested());
        if (fail_all || fail_on.count(calls) != 0) {
            if (failure == how::throw_exception)
                throw scripted_failure(calls);
            return outcome<int>{error};
        }
        return value;
    }
};

} // namespace bulwark::test
