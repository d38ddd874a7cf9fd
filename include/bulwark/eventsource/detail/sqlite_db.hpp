#pragma once
/// \file
/// A thin RAII layer over one SQLite connection, shared by the SQLite event store, outbox and
/// saga store: opening with the durable settings, prepared statements, transactions.
/// Needs `bulwark::sqlite` (links SQLite3).

#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/eventsource/event_store.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bulwark {

/// How SQLite syncs a commit to disk (PRAGMA synchronous). With WAL: `full` syncs the log at each
/// commit (an acknowledged commit survives power loss); `normal` syncs only at checkpoints (an OS
/// crash may roll back the latest commits; a process crash loses nothing).
enum class sqlite_sync { normal = 1, full = 2, extra = 3 };

/// Settings of the SQLite stores.
struct sqlite_options {
    /// How long a writer waits for another connection's write lock before `store_error`.
    duration busy_timeout = std::chrono::seconds(5);
    /// Durability of a commit; `full` (default) survives power loss.
    sqlite_sync synchronous = sqlite_sync::full;
    /// Write-ahead log: readers never block the writer (one host only, no network file system).
    bool wal = true;
};

namespace detail::sqlite {

/// Throws `store_error` naming the call and SQLite's message.
[[noreturn]] inline void fail(sqlite3* db, std::string_view what) {
    std::string msg = "bulwark::sqlite: ";
    msg.append(what).append(": ").append(db ? sqlite3_errmsg(db) : "out of memory");
    throw store_error(msg);
}

/// One prepared statement; reset after each use by `scope`.
class statement {
public:
    statement(sqlite3* db, std::string_view sql)
        : db_(db) {
        if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
            fail(db, "prepare '" + std::string(sql) + "'");
    }
    ~statement() { sqlite3_finalize(stmt_); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    statement& bind(int i, std::int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v), "bind");
        return *this;
    }
    statement& bind(int i, std::string_view v) {
        check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT),
              "bind");
        return *this;
    }
    statement& bind_blob(int i, std::string_view v) {
        check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT),
              "bind");
        return *this;
    }
    /// Steps once: true for a row, false when done. A constraint violation returns its extended
    /// code through `constraint` (when given) instead of throwing.
    bool step(int* constraint = nullptr) {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        if (constraint != nullptr && (rc & 0xff) == SQLITE_CONSTRAINT) {
            *constraint = sqlite3_extended_errcode(db_);
            return false;
        }
        fail(db_, "step");
    }
    std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    std::string text(int col) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
        int n = sqlite3_column_bytes(stmt_, col);
        return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
    }
    void reset() noexcept {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

private:
    void check(int rc, std::string_view what) {
        if (rc != SQLITE_OK)
            fail(db_, what);
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when the scope ends (so it holds no read lock).
class use {
public:
    explicit use(statement& s) noexcept
        : s_(s) {}
    ~use() { s_.reset(); }
    use(const use&) = delete;
    use& operator=(const use&) = delete;
    statement* operator->() noexcept { return &s_; }
    statement& operator*() noexcept { return s_; }

private:
    statement& s_;
};

/// One connection with bulwark's settings: WAL, the chosen synchronous level, a busy timeout.
class database {
public:
    database(const std::string& path, const sqlite_options& opts) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts.busy_timeout);
        detail::require(ms.count() >= 0 && ms.count() <= 3600 * 1000, "sqlite", "busy_timeout",
                        "in [0, 1 h]", opts.busy_timeout);
        detail::require(!path.empty(), "sqlite", "path", "a file name", path);
        sqlite3* db = nullptr;
        int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
        db_.reset(db);
        if (rc != SQLITE_OK)
            fail(db, "open '" + path + "'");
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, static_cast<int>(ms.count()));
        if (opts.wal)
            exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=" + std::to_string(static_cast<int>(opts.synchronous)));
    }

    sqlite3* handle() const noexcept { return db_.get(); }

    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            throw store_error("bulwark::sqlite: '" + sql + "': " + msg);
        }
    }

    /// The statement for `sql`, prepared once per connection.
    statement& prepare(const char* sql) {
        auto it = cache_.find(sql);
        if (it == cache_.end())
            it = cache_.emplace(sql, std::make_unique<statement>(db_.get(), sql)).first;
        return *it->second;
    }

private:
    struct closer {
        void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
    };
    std::unique_ptr<sqlite3, closer> db_;
    std::unordered_map<const char*, std::unique_ptr<statement>> cache_; // keyed by literal
};

/// A write transaction: `BEGIN IMMEDIATE` takes the write lock at once (a deferred one that
/// reads first could fail with SQLITE_BUSY_SNAPSHOT, which no busy timeout cures); rolled back
/// unless committed.
class write_transaction {
public:
    explicit write_transaction(database& db)
        : db_(db) {
        db_.exec("BEGIN IMMEDIATE");
    }
    ~write_transaction() {
        if (!done_)
            sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    write_transaction(const write_transaction&) = delete;
    write_transaction& operator=(const write_transaction&) = delete;
    void commit() {
        db_.exec("COMMIT");
        done_ = true;
    }

private:
    database& db_;
    bool done_ = false;
};

} // namespace detail::sqlite
} // namespace bulwark
