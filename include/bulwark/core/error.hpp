#pragma once
/// \file
/// bulwark's own failures: `errc` (a `std::error_code` enum), `failure` (what a policy or an
/// operation failed with, as a value) and `resilience_error` (the exception thrown for a
/// `failure` that is not a user exception, by the throwing entry points).

#include <bulwark/core/time_types.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace bulwark {

/// Why a call failed without (or instead of) a user exception.
enum class errc {
    exception = 1,          ///< the operation threw; the exception is in `failure::exception`
    timeout,                ///< a deadline passed (total or per-attempt timeout)
    cancelled,              ///< stop was requested for the logical call
    circuit_open,           ///< a circuit breaker rejected the call; see `retry_after`
    bulkhead_full,          ///< no concurrency slot and no queue space within the max wait
    rate_limited,           ///< no permit within the max wait; see `retry_after`
    retry_budget_exhausted, ///< a retry was needed but the retry budget refused it
    no_endpoint,            ///< the balancer had no endpoint to pick (distinct from its failure)
    no_responders,          ///< request/reply: nobody subscribed to the subject
    queue_full,             ///< a bounded channel rejected a message (overflow = reject)
    channel_closed,         ///< the channel or bus is shut down
    invalid_subject,        ///< a subject does not follow the NATS rules
    invalid_argument,       ///< a setting or an argument is out of range
    decode_error,           ///< a codec could not decode a message
    transport_error,        ///< the transport failed to send or receive
    rejected,               ///< a user policy rejected the call
};

/// The enumerator's name ("exception", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(errc v) noexcept {
    switch (v) {
    case errc::exception:
        return "exception";
    case errc::timeout:
        return "timeout";
    case errc::cancelled:
        return "cancelled";
    case errc::circuit_open:
        return "circuit_open";
    case errc::bulkhead_full:
        return "bulkhead_full";
    case errc::rate_limited:
        return "rate_limited";
    case errc::retry_budget_exhausted:
        return "retry_budget_exhausted";
    case errc::no_endpoint:
        return "no_endpoint";
    case errc::no_responders:
        return "no_responders";
    case errc::queue_full:
        return "queue_full";
    case errc::channel_closed:
        return "channel_closed";
    case errc::invalid_subject:
        return "invalid_subject";
    case errc::invalid_argument:
        return "invalid_argument";
    case errc::decode_error:
        return "decode_error";
    case errc::transport_error:
        return "transport_error";
    case errc::rejected:
        return "rejected";
    }
    return "unknown";
}
/// Writes `to_string(v)` (any stream that takes a `std::string_view`).
template <class Os>
requires requires(Os& os, std::string_view s) {
    os << s;
}
Os& operator<<(Os& os, errc v) {
    os << to_string(v);
    return os;
}

/// The category of `errc` codes ("bulwark").
inline const std::error_category& error_category() noexcept {
    struct category final : std::error_category {
        const char* name() const noexcept override { return "bulwark"; }
        std::string message(int c) const override {
            switch (static_cast<errc>(c)) {
            case errc::exception:
                return "the operation threw an exception";
            case errc::timeout:
                return "timed out";
            case errc::cancelled:
                return "cancelled";
            case errc::circuit_open:
                return "circuit breaker is open";
            case errc::bulkhead_full:
                return "bulkhead is full";
            case errc::rate_limited:
                return "rate limited";
            case errc::retry_budget_exhausted:
                return "retry budget exhausted";
            case errc::no_endpoint:
                return "no endpoint available";
            case errc::no_responders:
                return "no responders";
            case errc::queue_full:
                return "queue is full";
            case errc::channel_closed:
                return "channel is closed";
            case errc::invalid_subject:
                return "invalid subject";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::decode_error:
                return "malformed message";
            case errc::transport_error:
                return "transport error";
            case errc::rejected:
                return "rejected";
            }
            return "unknown bulwark error";
        }
    };
    static const category instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// The exception the throwing entry points (`pipeline::execute`) raise for a failure that is
/// not a user exception. User exceptions are rethrown as they were thrown.
class resilience_error : public std::system_error {
public:
    explicit resilience_error(errc code, duration retry_after = duration::zero())
        : std::system_error(make_error_code(code))
        , retry_after_(retry_after) {}
    resilience_error(errc code, const std::string& what, duration retry_after = duration::zero())
        : std::system_error(make_error_code(code), what)
        , retry_after_(retry_after) {}

    errc kind() const noexcept { return static_cast<errc>(code().value()); }
    /// How long the rejecting policy expects the condition to last (0 when unknown).
    duration retry_after() const noexcept { return retry_after_; }

private:
    duration retry_after_;
};

/// Thrown for settings that are out of range, at construction of a policy or component.
class invalid_argument_error : public resilience_error {
public:
    explicit invalid_argument_error(const std::string& what)
        : resilience_error(errc::invalid_argument, what) {}
};

/// A failure as a value: a bulwark code, or a captured user exception.
///
/// **Allocation:** none for policy failures (open breaker, full bulkhead, timeout); a user
/// exception is carried in the `std::exception_ptr` the runtime already made.
struct failure {
    errc code = errc::exception;
    std::exception_ptr exception{};
    /// For rejections: when the caller may try again (0 when unknown).
    duration retry_after{};

    static failure from(std::exception_ptr e) noexcept { return {errc::exception, std::move(e)}; }
    static failure current_exception() noexcept { return from(std::current_exception()); }

    bool is_exception() const noexcept { return code == errc::exception; }
    std::error_code error_code() const noexcept { return make_error_code(code); }

    /// Rethrows the user exception, or throws `resilience_error` for a bulwark code.
    [[noreturn]] void raise() const {
        if (exception)
            std::rethrow_exception(exception);
        throw resilience_error(code, retry_after);
    }

    /// A readable text for logs: the code's message, and for a captured exception its
    /// `what()` ("the operation threw an exception: connection reset"). Cold path: allocates,
    /// and rethrows the exception to read it.
    std::string message() const {
        std::string text = error_code().message();
        if (!exception)
            return text;
        try {
            std::rethrow_exception(exception);
        } catch (const std::exception& e) {
            return text + ": " + e.what();
        } catch (...) {
            return text + ": (not a std::exception)";
        }
    }

    /// True when the user exception is (or derives from) `E`. Cold path: rethrows to test.
    template <class E>
    bool holds() const noexcept {
        if (!exception)
            return false;
        try {
            std::rethrow_exception(exception);
        } catch (const E&) {
            return true;
        } catch (...) {
            return false;
        }
    }
};

} // namespace bulwark

template <>
struct std::is_error_code_enum<bulwark::errc> : std::true_type {};
