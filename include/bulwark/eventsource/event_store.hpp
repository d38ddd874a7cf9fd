#pragma once
/// \file
/// The event store seam: what every store (memory, SQLite, JetStream) does, and the vocabulary
/// they share — `event_data` (an event to append), `recorded_event` (an event as stored),
/// `snapshot`, `expected_version`, the `concurrency_conflict` error and the `event_store` concept.
///
/// ```cpp
/// auto r = store.append("order-7", events, 3);   // succeeds only if order-7 is at version 3
/// if (!r && bulwark::is_concurrency_conflict(r.error())) { /* reload, decide again, retry */ }
/// auto history = store.read("order-7", 1).value();
/// ```
/// Versions of a stream run 1, 2, 3, ... with no gap; version 0 means "no event yet". Rules for an
/// exact expected version follow EventStoreDB's idempotent appends (per stream and event id):
/// expected above the current version is a conflict; equal writes; below it, the events stored
/// after `expected` are compared by id with the ones given — all equal is a success that writes
/// nothing (a retried append that had succeeded), anything else is a conflict.

#include <bulwark/channel/envelope.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/outcome.hpp>

#include <concepts>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

/// Version numbers of a stream: 1 for its first event; 0 for "no event yet".
using stream_version = std::uint64_t;

/// Special expected versions for `append`.
namespace expected_version {
/// The stream must not exist yet (its first append).
inline constexpr stream_version no_stream = 0;
/// No concurrency check: append after whatever is there (best effort, like EventStoreDB `Any`).
inline constexpr stream_version any = std::numeric_limits<stream_version>::max();
} // namespace expected_version

/// A new event to append: its unique id (the idempotency key of the append, and the message id
/// under which the outbox publishes it), its type name and its encoded body.
struct event_data {
    std::string id;         ///< unique per event; `new_event_id()` makes one
    std::string type;       ///< the event type's name (`event_type_name<E>`)
    std::string payload;    ///< the encoded event (bytes; any encoding the codec chose)
    std::string metadata{}; ///< optional: correlation id, causation id, ... as the user likes
};

/// A new random event id: 32 hex digits (`message_id`), unique across processes.
inline std::string new_event_id() {
    auto t = message_id::generate().text();
    return {t.data(), t.size()};
}

/// An event as a store returns it.
struct recorded_event {
    std::string stream;
    stream_version version = 0; ///< 1, 2, 3, ... within `stream`
    std::uint64_t position = 0; ///< order across all streams of the store (1, 2, ...; may skip)
    std::string id;
    std::string type;
    std::string payload;
    std::string metadata;
};

/// A stream's state at `version`, encoded by the aggregate (`state`).
struct snapshot {
    std::string stream;
    stream_version version = 0;
    std::string state;
};

/// What an append did.
struct append_result {
    stream_version first_version = 0; ///< version of the first event given (0 when none)
    stream_version last_version = 0;  ///< the stream's version after the append
    std::uint64_t last_position = 0;  ///< position of the last event given
    bool duplicate = false; ///< true: these events were already stored (a retry); nothing written
};

/// Another writer got there first: the stream is not at the expected version.
///
/// Carried in the `failure` of a failed `append` (code `errc::rejected`, the exception pointer
/// holds this), so `outcome::value()` throws it; test with `is_concurrency_conflict`.
/// The usual reaction: reload the aggregate, decide again, append at the new version.
class concurrency_conflict : public resilience_error {
public:
    concurrency_conflict(std::string stream, stream_version expected, stream_version actual)
        : resilience_error(errc::rejected, "bulwark::event_store: concurrency conflict on '" +
                                               stream + "': expected version " +
                                               std::to_string(expected) + ", stream is at " +
                                               std::to_string(actual))
        , stream_(std::move(stream))
        , expected_(expected)
        , actual_(actual) {}

    const std::string& stream() const noexcept { return stream_; }
    stream_version expected() const noexcept { return expected_; }
    /// The stream's version when the conflict was seen (it may have moved on since).
    stream_version actual() const noexcept { return actual_; }

private:
    std::string stream_;
    stream_version expected_;
    stream_version actual_;
};

/// The store itself failed (I/O error, database locked past its timeout, server unreachable).
/// Carried as `errc::transport_error` with this exception; the append may or may not have been
/// stored — retry it with the same event ids, and the idempotency rules sort it out.
class store_error : public resilience_error {
public:
    explicit store_error(const std::string& what)
        : resilience_error(errc::transport_error, what) {}
};

/// The failure of an append that lost the race.
inline failure make_conflict(std::string stream, stream_version expected, stream_version actual) {
    return failure{errc::rejected, std::make_exception_ptr(
                                       concurrency_conflict(std::move(stream), expected, actual))};
}
/// The failure of a store that could not do its work.
inline failure make_store_error(const std::string& what) {
    return failure{errc::transport_error, std::make_exception_ptr(store_error(what))};
}
/// True when `f` is a `concurrency_conflict`.
inline bool is_concurrency_conflict(const failure& f) noexcept {
    return f.code == errc::rejected && f.holds<concurrency_conflict>();
}

/// An event store.
///
/// - `append(stream, events, expected)` → `outcome<append_result>`: writes all events or none,
///   as versions `expected+1 ...`; a conflict is a failure holding `concurrency_conflict`.
/// - `read(stream, from)` → `outcome<std::vector<recorded_event>>`: the events of `stream` with
///   version >= `from`, in version order (empty for an unknown stream).
/// - `read_all(after, max)` → the events of every stream with position > `after`, in position
///   order, at most `max` (the projections' feed).
/// - `version(stream)` → the stream's current version (0 when unknown).
/// - `save_snapshot(snapshot)` / `load_snapshot(stream)` → the latest snapshot saved.
template <class S>
concept event_store = requires(S& s, std::string_view stream, std::span<const event_data> events,
                               stream_version v, std::uint64_t pos, std::size_t max,
                               const snapshot& snap) {
    { s.append(stream, events, v) } -> std::same_as<outcome<append_result>>;
    { s.read(stream, v) } -> std::same_as<outcome<std::vector<recorded_event>>>;
    { s.read_all(pos, max) } -> std::same_as<outcome<std::vector<recorded_event>>>;
    { s.version(stream) } -> std::same_as<outcome<stream_version>>;
    { s.save_snapshot(snap) } -> std::same_as<outcome<void>>;
    { s.load_snapshot(stream) } -> std::same_as<outcome<std::optional<snapshot>>>;
};

namespace detail {

/// The idempotency rule for `expected < current`: `stored_ids` are the ids of the events stored
/// after `expected` (in version order). Equal to `given` (as a prefix of the stored ones, same
/// length as given): a retry that had succeeded. Anything else: a conflict.
inline bool is_retry_of(std::span<const std::string> stored_ids,
                        std::span<const event_data> given) noexcept {
    if (given.empty() || stored_ids.size() < given.size())
        return false;
    for (std::size_t i = 0; i < given.size(); ++i)
        if (stored_ids[i] != given[i].id)
            return false;
    return true;
}

/// Checks the arguments every store checks the same way.
inline std::optional<failure> check_append_args(std::string_view stream,
                                                std::span<const event_data> events) {
    auto bad = [](const std::string& what) {
        return failure{errc::invalid_argument, std::make_exception_ptr(invalid_argument_error(
                                                   "bulwark::event_store: " + what))};
    };
    if (stream.empty())
        return bad("the stream id is empty");
    for (const auto& e : events)
        if (e.id.empty() || e.type.empty())
            return bad("an event of '" + std::string(stream) + "' has no id or no type");
    return std::nullopt;
}

} // namespace detail

} // namespace bulwark
