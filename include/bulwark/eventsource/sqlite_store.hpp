#pragma once
/// \file
/// `sqlite_event_store`: the embedded, durable event store and transactional outbox on SQLite.
/// Needs the optional target `bulwark::sqlite`.
///
/// ```cpp
/// bulwark::sqlite_event_store store{"/var/lib/orders/events.db"};
/// store.append("order-7", events, 3, "orders.events");  // events + outbox rows, one commit
/// ```
/// - One transaction per append (`BEGIN IMMEDIATE` ... `COMMIT`): all events of an append and
///   their outbox rows are stored, or none.
/// - `UNIQUE(stream, version)` is the concurrency check the database enforces;
///   `UNIQUE(stream, id)` makes a retried append recognisable (EventStoreDB's idempotency rules).
/// - WAL with `synchronous=FULL` by default: an acknowledged append survives a process crash and
///   power loss. Several processes may open the same file (one host); writers queue on the write
///   lock up to `busy_timeout`.

#include <bulwark/eventsource/detail/sqlite_db.hpp>
#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/eventsource/outbox.hpp>

#include <limits>
#include <mutex>
#include <string>
#include <vector>

namespace bulwark {

/// An event store (and outbox) in one SQLite file.
///
/// **Failure semantics:** a conflict is a `concurrency_conflict` failure; a database error
/// (disk full, locked past `busy_timeout`) is a `store_error` failure and nothing of that append
/// is stored. Bad settings throw `invalid_argument_error` at construction; a file that cannot be
/// opened throws `store_error`.
/// **Thread safety:** all members are thread-safe (one connection, one mutex per store object);
/// for parallel writers across threads or processes, open one store object per writer.
/// **Allocation:** the events read; statements are prepared once.
class sqlite_event_store {
public:
    explicit sqlite_event_store(const std::string& path, sqlite_options opts = {})
        : db_(path, opts) {
        db_.exec(R"(CREATE TABLE IF NOT EXISTS bulwark_events(
                      position INTEGER PRIMARY KEY,
                      stream TEXT NOT NULL, version INTEGER NOT NULL,
                      id TEXT NOT NULL, type TEXT NOT NULL, payload BLOB, metadata BLOB,
                      UNIQUE(stream, version), UNIQUE(stream, id));
                    CREATE TABLE IF NOT EXISTS bulwark_snapshots(
                      stream TEXT PRIMARY KEY, version INTEGER NOT NULL, state BLOB);
                    CREATE TABLE IF NOT EXISTS bulwark_outbox(
                      position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                      subject TEXT NOT NULL, type TEXT NOT NULL, stream TEXT NOT NULL,
                      version INTEGER NOT NULL, payload BLOB, sent INTEGER NOT NULL DEFAULT 0);
                    CREATE INDEX IF NOT EXISTS bulwark_outbox_pending
                      ON bulwark_outbox(position) WHERE sent = 0;)");
    }

    /// Appends `events` at `expected` (see `event_store`).
    outcome<append_result> append(std::string_view stream, std::span<const event_data> events,
                                  stream_version expected) {
        return append(stream, events, expected, {});
    }

    /// Appends `events` and, when `outbox_subject` is not empty, enqueues one outbox message per
    /// event to that subject, in the same transaction.
    outcome<append_result> append(std::string_view stream, std::span<const event_data> events,
                                  stream_version expected, std::string_view outbox_subject) {
        if (auto bad = detail::check_append_args(stream, events))
            return *bad;
        std::lock_guard lock(mutex_);
        try {
            detail::sqlite::write_transaction tx(db_);
            const stream_version current = current_version(stream);
            if (expected != expected_version::any && expected != current) {
                if (expected < current && is_retry(stream, expected, events)) {
                    return retry_result(stream, expected, events.size());
                }
                return make_conflict(std::string(stream), expected, current);
            }
            if (expected == expected_version::any && !events.empty()) {
                if (auto at = version_of_id(stream, events.front().id)) {
                    if (is_retry(stream, *at - 1, events))
                        return retry_result(stream, *at - 1, events.size());
                    return make_conflict(std::string(stream), expected, current);
                }
            }
            append_result r{events.empty() ? 0 : current + 1, current, 0, false};
            auto& ins = db_.prepare("INSERT INTO bulwark_events(stream, version, id, type, "
                                    "payload, metadata) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
            auto& box = db_.prepare("INSERT INTO bulwark_outbox(id, subject, type, stream, "
                                    "version, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
            for (const auto& e : events) {
                ++r.last_version;
                {
                    detail::sqlite::use s(ins);
                    s->bind(1, stream)
                        .bind(2, static_cast<std::int64_t>(r.last_version))
                        .bind(3, e.id)
                        .bind(4, e.type)
                        .bind_blob(5, e.payload)
                        .bind_blob(6, e.metadata);
                    int constraint = 0;
                    s->step(&constraint);
                    if (constraint != 0) // an id reused within the stream, or a lost race
                        return make_conflict(std::string(stream), expected, current);
                    r.last_position =
                        static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_.handle()));
                }
                if (!outbox_subject.empty()) {
                    detail::sqlite::use s(box);
                    s->bind(1, e.id)
                        .bind(2, outbox_subject)
                        .bind(3, e.type)
                        .bind(4, stream)
                        .bind(5, static_cast<std::int64_t>(r.last_version))
                        .bind_blob(6, e.payload);
                    int constraint = 0;
                    s->step(&constraint);
                    if (constraint != 0)
                        return make_store_error("bulwark::sqlite_event_store: event id '" + e.id +
                                                "' is already in the outbox");
                }
            }
            tx.commit();
            return r;
        } catch (const store_error&) {
            return failure{errc::transport_error, std::current_exception()};
        }
    }

    /// The events of `stream` from version `from` on.
    outcome<std::vector<recorded_event>> read(std::string_view stream, stream_version from) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::use s(db_.prepare(
                "SELECT position, version, id, type, payload, metadata FROM bulwark_events "
                "WHERE stream = ?1 AND version >= ?2 ORDER BY version"));
            s->bind(1, stream).bind(2, static_cast<std::int64_t>(from));
            std::vector<recorded_event> out;
            while (s->step())
                out.push_back(recorded_event{std::string(stream),
                                             static_cast<stream_version>(s->int64(1)),
                                             static_cast<std::uint64_t>(s->int64(0)), s->text(2),
                                             s->text(3), s->text(4), s->text(5)});
            return out;
        });
    }

    /// Every stream's events with position > `after`, at most `max`, in position order.
    outcome<std::vector<recorded_event>> read_all(std::uint64_t after, std::size_t max) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::use s(
                db_.prepare("SELECT position, stream, version, id, type, payload, metadata FROM "
                            "bulwark_events WHERE position > ?1 ORDER BY position LIMIT ?2"));
            s->bind(1, static_cast<std::int64_t>(after))
                .bind(2, static_cast<std::int64_t>(
                             std::min<std::size_t>(max, std::numeric_limits<std::int64_t>::max())));
            std::vector<recorded_event> out;
            while (s->step())
                out.push_back(recorded_event{s->text(1), static_cast<stream_version>(s->int64(2)),
                                             static_cast<std::uint64_t>(s->int64(0)), s->text(3),
                                             s->text(4), s->text(5), s->text(6)});
            return out;
        });
    }

    /// The current version of `stream` (0 when it has no event).
    outcome<stream_version> version(std::string_view stream) {
        std::lock_guard lock(mutex_);
        return guarded([&] { return current_version(stream); });
    }

    /// Keeps `s` as the latest snapshot of its stream (an older version never replaces a newer).
    outcome<void> save_snapshot(const snapshot& snap) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::write_transaction tx(db_);
            {
                detail::sqlite::use s(db_.prepare(
                    "INSERT INTO bulwark_snapshots(stream, version, state) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(stream) DO UPDATE SET version = excluded.version, "
                    "state = excluded.state WHERE excluded.version >= bulwark_snapshots.version"));
                s->bind(1, snap.stream)
                    .bind(2, static_cast<std::int64_t>(snap.version))
                    .bind_blob(3, snap.state);
                s->step();
            }
            tx.commit();
        });
    }

    /// The latest snapshot of `stream`, if any.
    outcome<std::optional<snapshot>> load_snapshot(std::string_view stream) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::use s(
                db_.prepare("SELECT version, state FROM bulwark_snapshots WHERE stream = ?1"));
            s->bind(1, stream);
            std::optional<snapshot> out;
            if (s->step())
                out = snapshot{std::string(stream), static_cast<stream_version>(s->int64(0)),
                               s->text(1)};
            return out;
        });
    }

    // ---- outbox ------------------------------------------------------------------------------

    /// Up to `max` unsent outbox messages, oldest first.
    outcome<std::vector<outbox_message>> pending_outbox(std::size_t max) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::use s(
                db_.prepare("SELECT position, id, subject, type, stream, version, payload FROM "
                            "bulwark_outbox WHERE sent = 0 ORDER BY position LIMIT ?1"));
            s->bind(1, static_cast<std::int64_t>(
                           std::min<std::size_t>(max, std::numeric_limits<std::int64_t>::max())));
            std::vector<outbox_message> out;
            while (s->step())
                out.push_back(outbox_message{static_cast<std::uint64_t>(s->int64(0)), s->text(1),
                                             s->text(2), s->text(3), s->text(4),
                                             static_cast<std::uint64_t>(s->int64(5)), s->text(6)});
            return out;
        });
    }

    /// Marks outbox messages as published (one transaction).
    outcome<void> mark_sent(std::span<const std::uint64_t> positions) {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            detail::sqlite::write_transaction tx(db_);
            auto& st = db_.prepare("UPDATE bulwark_outbox SET sent = 1 WHERE position = ?1");
            for (auto p : positions) {
                detail::sqlite::use s(st);
                s->bind(1, static_cast<std::int64_t>(p));
                s->step();
            }
            tx.commit();
        });
    }

    /// Deletes sent outbox messages (never an unsent one); returns how many.
    outcome<std::size_t> purge_sent() {
        std::lock_guard lock(mutex_);
        return guarded([&] {
            db_.exec("DELETE FROM bulwark_outbox WHERE sent = 1");
            return static_cast<std::size_t>(sqlite3_changes(db_.handle()));
        });
    }

private:
    template <class F>
    auto guarded(F&& f) -> outcome<std::conditional_t<std::is_void_v<std::invoke_result_t<F>>, void,
                                                      std::invoke_result_t<F>>> {
        try {
            if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
                f();
                return outcome<void>::success();
            } else {
                return f();
            }
        } catch (const store_error&) {
            return failure{errc::transport_error, std::current_exception()};
        }
    }

    stream_version current_version(std::string_view stream) {
        detail::sqlite::use s(
            db_.prepare("SELECT max(version) FROM bulwark_events WHERE stream = ?1"));
        s->bind(1, stream);
        s->step();
        return s->is_null(0) ? 0 : static_cast<stream_version>(s->int64(0));
    }

    std::optional<stream_version> version_of_id(std::string_view stream, std::string_view id) {
        detail::sqlite::use s(
            db_.prepare("SELECT version FROM bulwark_events WHERE stream = ?1 AND id = ?2"));
        s->bind(1, stream).bind(2, id);
        if (s->step())
            return static_cast<stream_version>(s->int64(0));
        return std::nullopt;
    }

    bool is_retry(std::string_view stream, stream_version after,
                  std::span<const event_data> events) {
        detail::sqlite::use s(db_.prepare("SELECT id FROM bulwark_events WHERE stream = ?1 AND "
                                          "version > ?2 ORDER BY version LIMIT ?3"));
        s->bind(1, stream)
            .bind(2, static_cast<std::int64_t>(after))
            .bind(3, static_cast<std::int64_t>(events.size()));
        std::vector<std::string> ids;
        while (s->step())
            ids.push_back(s->text(0));
        return detail::is_retry_of(ids, events);
    }

    append_result retry_result(std::string_view stream, stream_version after, std::size_t n) {
        detail::sqlite::use s(
            db_.prepare("SELECT position FROM bulwark_events WHERE stream = ?1 AND version = ?2"));
        s->bind(1, stream).bind(2, static_cast<std::int64_t>(after + n));
        s->step();
        return append_result{after + 1, after + n, static_cast<std::uint64_t>(s->int64(0)), true};
    }

    std::mutex mutex_;
    detail::sqlite::database db_;
};

static_assert(event_store<sqlite_event_store>);
static_assert(outbox_store<sqlite_event_store>);

} // namespace bulwark
