#pragma once
/// \file
/// `sqlite_saga_store`: saga records in a SQLite file (WAL, synchronous=FULL by default), one
/// row per saga, saved with a revision check. Needs the optional target `bulwark::sqlite`.
/// The file may be the event store's: the tables do not clash.

#include <bulwark/eventsource/detail/sqlite_db.hpp>
#include <bulwark/saga/saga_store.hpp>

#include <mutex>
#include <string>

namespace bulwark {

/// A `saga_store` on SQLite.
///
/// **Failure semantics:** a revision mismatch is a `concurrency_conflict` failure; a database
/// error is a `store_error` failure (nothing saved). A record whose data cannot be decoded (a
/// damaged file) is a `store_error` naming the saga.
/// **Thread safety:** all members are thread-safe (one connection, one mutex).
class sqlite_saga_store {
public:
    explicit sqlite_saga_store(const std::string& path, sqlite_options opts = {})
        : db_(path, opts) {
        db_.exec(R"(CREATE TABLE IF NOT EXISTS bulwark_sagas(
                      id TEXT PRIMARY KEY, name TEXT NOT NULL, status INTEGER NOT NULL,
                      completed_steps INTEGER NOT NULL, failed_step INTEGER NOT NULL,
                      error TEXT NOT NULL, data BLOB NOT NULL, deadline_ns INTEGER NOT NULL,
                      revision INTEGER NOT NULL);
                    CREATE INDEX IF NOT EXISTS bulwark_sagas_status ON bulwark_sagas(status);)");
    }

    outcome<void> save(const saga_record& r) {
        std::lock_guard lock(mutex_);
        try {
            detail::sqlite::write_transaction tx(db_);
            std::uint64_t stored = 0;
            {
                detail::sqlite::use s(
                    db_.prepare("SELECT revision FROM bulwark_sagas WHERE id = ?1"));
                s->bind(1, r.id);
                if (s->step())
                    stored = static_cast<std::uint64_t>(s->int64(0));
            }
            if (stored + 1 != r.revision)
                return detail::saga_conflict(r, stored);
            {
                detail::sqlite::use s(db_.prepare(
                    "INSERT OR REPLACE INTO bulwark_sagas(id, name, status, completed_steps, "
                    "failed_step, error, data, deadline_ns, revision) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
                s->bind(1, r.id)
                    .bind(2, r.name)
                    .bind(3, static_cast<std::int64_t>(r.status))
                    .bind(4, static_cast<std::int64_t>(r.completed_steps))
                    .bind(5, static_cast<std::int64_t>(r.failed_step))
                    .bind(6, r.error)
                    .bind_blob(7, detail::encode_saga_data(r.data))
                    .bind(8, r.deadline_ns)
                    .bind(9, static_cast<std::int64_t>(r.revision));
                s->step();
            }
            tx.commit();
            return outcome<void>::success();
        } catch (const store_error&) {
            return failure{errc::transport_error, std::current_exception()};
        }
    }

    outcome<std::optional<saga_record>> load(std::string_view id) {
        std::lock_guard lock(mutex_);
        try {
            detail::sqlite::use s(db_.prepare(select_by_id_));
            s->bind(1, id);
            std::optional<saga_record> out;
            if (s->step())
                out = row(*s);
            return out;
        } catch (const store_error&) {
            return failure{errc::transport_error, std::current_exception()};
        }
    }

    outcome<std::vector<saga_record>> list(saga_status st) {
        std::lock_guard lock(mutex_);
        try {
            detail::sqlite::use s(db_.prepare(select_by_status_));
            s->bind(1, static_cast<std::int64_t>(st));
            std::vector<saga_record> out;
            while (s->step())
                out.push_back(row(*s));
            return out;
        } catch (const store_error&) {
            return failure{errc::transport_error, std::current_exception()};
        }
    }

private:
    static constexpr const char* select_by_id_ =
        "SELECT id, name, status, completed_steps, failed_step, error, data, deadline_ns, "
        "revision FROM bulwark_sagas WHERE id = ?1";
    static constexpr const char* select_by_status_ =
        "SELECT id, name, status, completed_steps, failed_step, error, data, deadline_ns, "
        "revision FROM bulwark_sagas WHERE status = ?1 ORDER BY id";

    static saga_record row(detail::sqlite::statement& s) {
        saga_record r;
        r.id = s.text(0);
        r.name = s.text(1);
        const auto st = s.int64(2);
        if (st < 1 || st > 5)
            throw store_error("bulwark::sqlite_saga_store: saga '" + r.id + "' has status " +
                              std::to_string(st));
        r.status = static_cast<saga_status>(st);
        r.completed_steps = static_cast<std::uint32_t>(s.int64(3));
        r.failed_step = static_cast<std::uint32_t>(s.int64(4));
        r.error = s.text(5);
        auto data = detail::decode_saga_data(s.text(6));
        if (!data)
            throw store_error("bulwark::sqlite_saga_store: saga '" + r.id + "' has damaged data");
        r.data = std::move(*data);
        r.deadline_ns = s.int64(7);
        r.revision = static_cast<std::uint64_t>(s.int64(8));
        return r;
    }

    std::mutex mutex_;
    detail::sqlite::database db_;
};

static_assert(saga_store<sqlite_saga_store>);

} // namespace bulwark
