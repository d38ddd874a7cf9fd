#pragma once
/// \file
/// Dead letters: what the dead-letter sink of an async channel receives (the message, the reason
/// text, the failure, the delivery count), and `dead_letter_box<T>`, a thread-safe collecting sink.

#include <bulwark/core/error.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bulwark {

/// Why a message was dead-lettered.
enum class dead_letter_kind : unsigned char {
    max_deliveries, ///< at-least-once: the last of `max_deliveries` deliveries failed
    rejected,       ///< the handler called `delivery::dead_letter` (poison message)
    failed,         ///< at-most-once: the one delivery failed
    malformed,      ///< a byte transport's message could not be decoded (`errc::decode_error`)
};

/// The enumerator's name ("max_deliveries", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(dead_letter_kind v) noexcept {
    switch (v) {
    case dead_letter_kind::max_deliveries:
        return "max_deliveries";
    case dead_letter_kind::rejected:
        return "rejected";
    case dead_letter_kind::failed:
        return "failed";
    case dead_letter_kind::malformed:
        return "malformed";
    }
    return "unknown";
}
/// Writes `to_string(v)` (any stream that takes a `std::string_view`).
template <class Os>
requires requires(Os& os, std::string_view s) {
    os << s;
}
Os& operator<<(Os& os, dead_letter_kind v) {
    os << to_string(v);
    return os;
}

/// A message the channel gave up on, as handed to the dead-letter sink.
///
/// `reason` is the last nack's text (for an exception: "handler threw: " + `what()`); `cause`
/// holds the exception (`cause.exception`, `cause.holds<E>()`) or `errc::rejected` for a plain
/// nack.
template <class T>
struct dead_letter {
    T message;
    std::string reason;
    failure cause;
    std::uint32_t deliveries = 0;
    dead_letter_kind kind = dead_letter_kind::failed;
};

/// The dead-letter sink of a channel: called on the consumer thread, once per dead letter; an
/// exception it throws is swallowed (and the message counted as dead-lettered anyway).
template <class T>
using dead_letter_sink = std::function<void(dead_letter<T>&&)>;

/// A sink that keeps every dead letter (tests, examples, small services).
///
/// `sink()` returns a callable sharing this box. **Thread safety:** all members are thread-safe.
/// **Allocation:** one vector entry per dead letter (failure path only).
template <class T>
class dead_letter_box {
public:
    dead_letter_box()
        : state_(std::make_shared<state>()) {}

    /// A `dead_letter_sink<T>` that appends to this box.
    dead_letter_sink<T> sink() const {
        return [s = state_](dead_letter<T>&& d) {
            std::lock_guard lock(s->mutex);
            s->items.push_back(std::move(d));
        };
    }
    std::size_t size() const {
        std::lock_guard lock(state_->mutex);
        return state_->items.size();
    }
    /// A copy of everything received so far, in arrival order.
    std::vector<dead_letter<T>> items() const {
        std::lock_guard lock(state_->mutex);
        return state_->items;
    }

private:
    struct state {
        std::mutex mutex;
        std::vector<dead_letter<T>> items;
    };
    std::shared_ptr<state> state_;
};

} // namespace bulwark
